"""What happens to an email after a failed delivery attempt: try again later, or park it.

Pure: the sender loop applies the decision to the email log.
"""
from dataclasses import dataclass

from notification.emails import UndeliverableEmail
from notification.transport import MailError, TransientMailError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    base_delay: float = 5.0  # seconds before the second attempt; doubles per attempt
    max_delay: float = 1800.0

    def __post_init__(self):
        if self.max_attempts < 1 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError(f"unusable retry policy {self}")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1-based)."""
        # min() on the exponent keeps 2**n small for very long outages.
        return min(self.base_delay * 2 ** min(attempts - 1, 64), self.max_delay)


@dataclass(frozen=True)
class Failure:
    retry_in: float | None  # seconds; None: park
    reason: str  # for the email log and the operators: error class and reason, no addresses


def after_failure(policy: RetryPolicy, attempts: int, error: Exception) -> Failure:
    """`attempts` counts the attempt that just failed. Only a transient mail error is worth
    another attempt, and only while the budget lasts; anything else (a 5xx, a bad address, a
    template that does not render) fails the same way every time."""
    reason = describe(error)
    if isinstance(error, TransientMailError) and attempts < policy.max_attempts:
        return Failure(policy.delay(attempts), reason)
    return Failure(None, reason)


def describe(error: Exception) -> str:
    if isinstance(error, (MailError, UndeliverableEmail)):
        # Their messages are written to carry no personal data (see transport, emails).
        return f"{type(error).__name__}: {error}"[:200]
    # Anything else may quote data (a template error quotes the template's context): class only.
    return type(error).__name__
