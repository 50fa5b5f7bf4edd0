"""Time as a dependency: every rule that depends on "now" reads a Clock, which tests can set.

In production the clock is the system clock. A deployment under test can point CLOCK_FILE at a file holding
an ISO-8601 instant; every service process reading that file then agrees on "now" (end-to-end time travel).
"""
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nameko.extensions import DependencyProvider


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None):
        self._now = start or utcnow()

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime):
        if instant.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware instant")
        self._now = instant

    def advance(self, **delta):
        self._now += timedelta(**delta)


class FileClock:
    """Reads "now" from a file; falls back to the system clock while the file is absent."""

    def __init__(self, path):
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return utcnow()
        instant = datetime.fromisoformat(text)
        return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def clock_from_config(config) -> SystemClock | FileClock:
    path = config.get("CLOCK_FILE")
    return FileClock(path) if path else SystemClock()


class Clock(DependencyProvider):
    """nameko dependency: `self.clock.now()`. Tests may replace `provider.clock` with a ManualClock."""

    def setup(self):
        self.clock = clock_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.clock
