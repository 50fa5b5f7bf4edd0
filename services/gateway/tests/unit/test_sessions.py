from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from gateway.models import Account, LoginSession
from gateway.sessions import (
    SessionPolicy, delete_stale_sessions, end_session, expires_at, resume_session, start_session,
)
from gateway.tokens import hash_token

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
POLICY = SessionPolicy(idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=8))


def account(db, account_id="acc-1"):
    db.add(Account(id=account_id, email=f"{account_id}@example.org", password_hash="x", role="parent",
                   facility_ids=[], created_at=NOW))
    db.flush()
    return account_id


def test_the_token_is_random_and_only_its_sha256_is_stored(db):
    token = start_session(db, account(db), NOW)
    other = start_session(db, "acc-1", NOW)
    assert token != other and len(token) >= 43
    stored = db.scalars(select(LoginSession)).all()
    assert {row.token_hash for row in stored} == {hash_token(token), hash_token(other)}
    assert all(token not in (row.token_hash, row.account_id) for row in stored)


def test_activity_keeps_a_session_alive_until_the_idle_timeout():
    assert expires_at(NOW, NOW + timedelta(minutes=10), POLICY) == NOW + timedelta(minutes=40)
    assert expires_at(NOW, NOW + timedelta(hours=7, minutes=50), POLICY) == NOW + timedelta(hours=8)


def test_a_session_resumes_while_used_and_ends_when_idle(db):
    token = start_session(db, account(db), NOW)
    assert resume_session(db, token, NOW + timedelta(minutes=29), POLICY).account_id == "acc-1"
    assert resume_session(db, token, NOW + timedelta(minutes=58), POLICY) is not None  # idle clock restarted at 29
    assert resume_session(db, token, NOW + timedelta(minutes=88), POLICY) is None


def test_activity_is_recorded_at_most_once_per_touch_interval(db):
    token = start_session(db, account(db), NOW)
    assert resume_session(db, token, NOW + timedelta(seconds=59), POLICY).last_seen_at == NOW
    assert resume_session(db, token, NOW + timedelta(seconds=60), POLICY).last_seen_at == NOW + timedelta(seconds=60)
    # so the idle timeout runs from the last recorded activity: it may end a little early, never late
    assert resume_session(db, token, NOW + timedelta(minutes=30, seconds=50), POLICY) is not None
    assert resume_session(db, token, NOW + timedelta(minutes=61, seconds=49), POLICY) is None


def test_a_busy_session_still_ends_at_the_absolute_timeout(db):
    token = start_session(db, account(db), NOW)
    for minutes in range(20, 8 * 60, 20):
        assert resume_session(db, token, NOW + timedelta(minutes=minutes), POLICY) is not None
    assert resume_session(db, token, NOW + timedelta(hours=8), POLICY) is None


def test_ending_a_session_revokes_only_that_token(db):
    token = start_session(db, account(db), NOW)
    other = start_session(db, "acc-1", NOW)
    end_session(db, token, NOW + timedelta(minutes=1))
    assert resume_session(db, token, NOW + timedelta(minutes=2), POLICY) is None
    assert resume_session(db, other, NOW + timedelta(minutes=2), POLICY) is not None
    end_session(db, token, NOW + timedelta(minutes=3))
    end_session(db, "never issued", NOW)


def test_an_unknown_token_resumes_nothing(db):
    account(db)
    assert resume_session(db, "never issued", NOW, POLICY) is None


def test_stale_sessions_are_deleted_and_live_ones_kept(db):
    account(db)
    live = start_session(db, "acc-1", NOW)
    revoked = start_session(db, "acc-1", NOW)
    end_session(db, revoked, NOW)
    start_session(db, "acc-1", NOW - timedelta(hours=1))  # idle for an hour
    assert delete_stale_sessions(db, NOW, POLICY) == 2
    assert set(db.scalars(select(LoginSession.token_hash))) == {hash_token(live)}
