"""Throttling claim codes per parent account (gateway.claims): locked after too many refused codes, longer
each time, forgotten after the lookback; answered 429 with Retry-After."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from gateway.accounts import AccountSettings, forget_stale_records
from gateway.claims import check_claim_throttle, record_claim_failure
from gateway.errors import error_response
from gateway.models import Account, ClaimFailure
from gateway.throttling import CLAIM_POLICY, TooManyAttempts

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def account(db):
    db.add(Account(id="acc-1", email="an@example.org", password_hash="x", role="parent", facility_ids=[],
                   created_at=NOW))
    db.add(Account(id="acc-2", email="bo@example.org", password_hash="x", role="parent", facility_ids=[],
                   created_at=NOW))
    db.commit()
    return "acc-1"


def fail(db, account_id, times, start, every=timedelta(seconds=10)):
    for n in range(times):
        record_claim_failure(db, account_id, start + n * every)
    db.commit()
    return start + (times - 1) * every


def wait(db, account_id, now):
    try:
        check_claim_throttle(db, account_id, now, CLAIM_POLICY)
    except TooManyAttempts as throttled:
        return throttled.retry_after
    return None


def test_five_refused_codes_lock_the_account_out_of_claiming_for_longer_each_time(db, account):
    last = fail(db, account, CLAIM_POLICY.max_failures - 1, NOW)
    assert wait(db, account, last) is None
    last = fail(db, account, 1, last + timedelta(seconds=10))
    assert wait(db, account, last) == timedelta(minutes=15)
    assert wait(db, "acc-2", last) is None  # per account
    assert wait(db, account, last + timedelta(minutes=15)) is None
    last = fail(db, account, CLAIM_POLICY.max_failures, last + timedelta(minutes=15))
    assert wait(db, account, last) == timedelta(minutes=30)


def test_failures_are_forgotten_after_the_lookback(db, account):
    fail(db, account, 3, NOW)
    forget_stale_records(db, NOW + CLAIM_POLICY.lookback + timedelta(minutes=1), AccountSettings())
    assert db.scalars(select(ClaimFailure)).all() == []


def test_a_throttled_claim_answers_429_with_retry_after():
    response = error_response(TooManyAttempts(timedelta(minutes=14, seconds=59, milliseconds=1), "wait"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "900"
    assert json.loads(response.get_data()) == {"error": "too_many_attempts", "message": "wait"}
