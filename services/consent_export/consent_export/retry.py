"""When a transfer that failed for a passing reason is tried again, and when it is parked instead."""
import random
from dataclasses import dataclass

from consent_export.transport import backoff


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base: float
    cap: float

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("a transfer needs at least one attempt")

    def next_attempt_at(self, attempts: int, now: float, rng: random.Random,
                        retry_after: float | None = None) -> float | None:
        """Epoch seconds of the next attempt after `attempts` failed ones, or None: park it.

        A partner's Retry-After is honoured up to the cap, so one answer cannot stall a dossier
        for longer than our own backoff ever would.
        """
        if attempts >= self.max_attempts:
            return None
        delay = backoff(attempts, self.base, self.cap, rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return now + delay
