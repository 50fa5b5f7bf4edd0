"""The erasure saga's state: which services have confirmed erasing a dossier.

Retention asks every service holding personal data to erase the dossier; each answers with a
receipt once its copy is gone. Missing receipts are asked for again (a service that was down gets
the request when it returns), and a run that stays incomplete too long is reported, never dropped.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from loket.contracts.retention import DATA_HOLDERS
from retention.clocks import as_utc

# Every other service that stores something about a dossier confirms its erasure with a receipt.
# Retention's own copy (the clock row) goes in the transaction that records the last receipt.
PERSONAL_DATA_SERVICES = frozenset(DATA_HOLDERS)


@dataclass(frozen=True)
class ErasureRun:
    dossier_id: str
    started_at: datetime
    expected_services: frozenset[str]
    receipts: Mapping[str, datetime] = field(default_factory=dict)  # service -> received_at
    attempts: int = 1
    last_attempt_at: datetime | None = None  # None: the first request went out at started_at


def start_erasure(dossier_id: str, now: datetime,
                  services: Iterable[str] = PERSONAL_DATA_SERVICES) -> ErasureRun:
    expected = frozenset(services)
    if not expected:
        raise ValueError("an erasure needs at least one service to confirm it")
    return ErasureRun(dossier_id, as_utc(now), expected)


def record_receipt(run: ErasureRun, service: str, received_at: datetime) -> ErasureRun:
    """The run with `service`'s receipt; a repeated receipt keeps the first one's time."""
    if service not in run.expected_services:
        raise ValueError(f"{service} is not part of the erasure of dossier {run.dossier_id}")
    if service in run.receipts:
        return run
    return replace(run, receipts={**run.receipts, service: as_utc(received_at)})


def record_attempt(run: ErasureRun, now: datetime) -> ErasureRun:
    """The run after asking the missing services again."""
    return replace(run, attempts=run.attempts + 1, last_attempt_at=as_utc(now))


def missing_services(run: ErasureRun) -> frozenset[str]:
    return run.expected_services - run.receipts.keys()


def is_complete(run: ErasureRun) -> bool:
    return not missing_services(run)


def completed_at(run: ErasureRun) -> datetime | None:
    """When the last receipt arrived, or None while receipts are missing."""
    return max(run.receipts.values()) if is_complete(run) else None


def needs_retry(run: ErasureRun, now: datetime, retry_after: timedelta) -> bool:
    """Whether to ask the missing services again: `retry_after` passed since the last request."""
    last_request = run.last_attempt_at or run.started_at
    return not is_complete(run) and as_utc(now) - last_request >= retry_after


def is_overdue(run: ErasureRun, now: datetime, give_up_after: timedelta) -> bool:
    """Whether an incomplete run must be reported: `give_up_after` passed since it started.

    Reporting does not stop the retries: the erasure is still owed.
    """
    return not is_complete(run) and as_utc(now) - run.started_at >= give_up_after
