"""The service's settings, read once from its nameko config (config.yaml keys)."""
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from retention.clocks import RETENTION_YEARS
from retention.statistics import DEFAULT_THRESHOLD

# A batch's runs go in as one multi-row INSERT of 7 values per run: PostgreSQL and SQLite take at
# most 32,767 and 32,766 bound values per statement.
MAX_BATCH_SIZE = 4000


@dataclass(frozen=True)
class Settings:
    retention_years: int = RETENTION_YEARS
    scan_interval: float = 60.0                       # seconds between erasure scans
    batch_size: int = 1000                            # dossiers (or runs) per transaction, <= MAX_BATCH_SIZE
    retry_after: timedelta = timedelta(hours=1)       # ask missing services again after this
    give_up_after: timedelta = timedelta(days=7)      # report runs still incomplete after this
    statistics_threshold: int = DEFAULT_THRESHOLD

    def __post_init__(self):
        if self.retention_years < 1 or self.batch_size < 1 or self.statistics_threshold < 1:
            raise ValueError("RETENTION_YEARS, ERASURE_BATCH_SIZE and STATISTICS_THRESHOLD are at least 1")
        if self.batch_size > MAX_BATCH_SIZE:
            raise ValueError(f"ERASURE_BATCH_SIZE is at most {MAX_BATCH_SIZE}")
        if min(self.scan_interval, self.retry_after.total_seconds(), self.give_up_after.total_seconds()) <= 0:
            raise ValueError("ERASURE_SCAN_INTERVAL, ERASURE_RETRY_AFTER and ERASURE_GIVE_UP_AFTER are positive")


def settings_from(config: Mapping) -> Settings:
    """Durations are in seconds. A key left out (or empty) keeps its default."""
    defaults = Settings()

    def value(key, default, convert):
        raw = config.get(key)
        return default if raw in (None, "") else convert(raw)

    return Settings(
        retention_years=value("RETENTION_YEARS", defaults.retention_years, int),
        scan_interval=value("ERASURE_SCAN_INTERVAL", defaults.scan_interval, float),
        batch_size=value("ERASURE_BATCH_SIZE", defaults.batch_size, int),
        retry_after=value("ERASURE_RETRY_AFTER", defaults.retry_after, lambda s: timedelta(seconds=float(s))),
        give_up_after=value("ERASURE_GIVE_UP_AFTER", defaults.give_up_after, lambda s: timedelta(seconds=float(s))),
        statistics_threshold=value("STATISTICS_THRESHOLD", defaults.statistics_threshold, int),
    )
