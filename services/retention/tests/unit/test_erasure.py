from datetime import datetime, timedelta, timezone

import pytest

from retention.erasure import (
    PERSONAL_DATA_SERVICES, completed_at, is_complete, is_overdue, missing_services, needs_retry,
    record_attempt, record_receipt, start_erasure,
)

START = datetime(2025, 3, 11, 2, 0, tzinfo=timezone.utc)
RETRY_AFTER = timedelta(minutes=15)
GIVE_UP_AFTER = timedelta(hours=24)


def at(**delta):
    return START + timedelta(**delta)


def test_every_service_holding_personal_data_must_confirm():
    assert PERSONAL_DATA_SERVICES == {"registration", "matching", "notification", "consent_export"}
    run = start_erasure("dos-1", START)
    assert missing_services(run) == PERSONAL_DATA_SERVICES
    assert not is_complete(run) and completed_at(run) is None


def test_the_run_completes_with_the_last_receipt():
    run = start_erasure("dos-1", START)
    for minutes, service in enumerate(sorted(PERSONAL_DATA_SERVICES)):
        assert not is_complete(run)
        run = record_receipt(run, service, at(minutes=minutes))
    assert is_complete(run) and missing_services(run) == set()
    assert completed_at(run) == at(minutes=len(PERSONAL_DATA_SERVICES) - 1)


def test_a_repeated_receipt_keeps_the_first_time():
    run = record_receipt(start_erasure("dos-1", START), "matching", at(minutes=1))
    assert record_receipt(run, "matching", at(minutes=9)).receipts["matching"] == at(minutes=1)


def test_receipts_from_services_outside_the_run_are_refused():
    with pytest.raises(ValueError):
        record_receipt(start_erasure("dos-1", START, services={"registration"}), "matching", START)
    with pytest.raises(ValueError):
        start_erasure("dos-1", START, services=())


def test_missing_services_are_asked_again_after_the_retry_interval():
    run = record_receipt(start_erasure("dos-1", START), "registration", at(minutes=1))
    assert not needs_retry(run, at(minutes=14, seconds=59), RETRY_AFTER)
    assert needs_retry(run, at(minutes=15), RETRY_AFTER)
    retried = record_attempt(run, at(minutes=15))
    assert retried.attempts == 2
    assert not needs_retry(retried, at(minutes=29), RETRY_AFTER)
    assert needs_retry(retried, at(minutes=30), RETRY_AFTER)
    assert missing_services(retried) == PERSONAL_DATA_SERVICES - {"registration"}


def test_a_complete_run_is_never_retried_nor_overdue():
    run = start_erasure("dos-1", START, services={"registration", "matching"})
    run = record_receipt(record_receipt(run, "registration", at(minutes=1)), "matching", at(hours=30))
    assert not needs_retry(run, at(days=3), RETRY_AFTER)
    assert not is_overdue(run, at(days=3), GIVE_UP_AFTER)


def test_a_service_down_for_days_is_reported_and_still_gets_the_erasure_when_it_returns():
    run = start_erasure("dos-1", START)
    for service in PERSONAL_DATA_SERVICES - {"notification"}:
        run = record_receipt(run, service, at(minutes=1))
    assert not is_overdue(run, at(hours=23, minutes=59), GIVE_UP_AFTER)
    for hours in range(1, 72):
        if needs_retry(run, at(hours=hours), RETRY_AFTER):
            run = record_attempt(run, at(hours=hours))
    assert run.attempts == 72
    assert is_overdue(run, at(hours=72), GIVE_UP_AFTER)
    assert needs_retry(run, at(hours=72), RETRY_AFTER)  # reporting does not stop the retries
    run = record_receipt(run, "notification", at(hours=72, minutes=1))
    assert is_complete(run) and not is_overdue(run, at(hours=73), GIVE_UP_AFTER)
    assert completed_at(run) == at(hours=72, minutes=1)
