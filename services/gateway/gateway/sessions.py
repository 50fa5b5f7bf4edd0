"""Login sessions: an opaque token for the client, its hash in the database, idle and absolute expiry.

Timeouts follow the OWASP Session Management Cheat Sheet for applications holding sensitive data
(a dossier may hold health data): short idle timeout, absolute limit of a working day.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.models import LoginSession
from gateway.tokens import hash_token, new_token


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=8)
    # Activity is recorded at most this often: most requests then only read the session. A session can
    # end up to this much before its idle timeout, never after.
    touch_interval: timedelta = timedelta(minutes=1)


def expires_at(created_at: datetime, last_seen_at: datetime, policy: SessionPolicy) -> datetime:
    return min(last_seen_at + policy.idle_timeout, created_at + policy.absolute_timeout)


def is_active(login_session: LoginSession, now: datetime, policy: SessionPolicy) -> bool:
    return (login_session.revoked_at is None
            and now < expires_at(login_session.created_at, login_session.last_seen_at, policy))


def start_session(db: Session, account_id: str, now: datetime) -> str:
    """A new session for the account; returns the token, which is never stored."""
    token = new_token()
    db.add(LoginSession(token_hash=hash_token(token), account_id=account_id, created_at=now, last_seen_at=now))
    db.flush()
    return token


def resume_session(db: Session, token: str, now: datetime, policy: SessionPolicy) -> LoginSession | None:
    """The active session the token belongs to, its idle clock restarted (at most every touch_interval);
    None if unknown, expired or revoked."""
    login_session = db.get(LoginSession, hash_token(token))
    if login_session is None or not is_active(login_session, now, policy):
        return None
    if now - login_session.last_seen_at >= policy.touch_interval:
        login_session.last_seen_at = now
    return login_session


def end_session(db: Session, token: str, now: datetime) -> None:
    """Revoke the token's session; ending an unknown or ended session is not an error (logout is idempotent)."""
    login_session = db.get(LoginSession, hash_token(token))
    if login_session is not None and login_session.revoked_at is None:
        login_session.revoked_at = now


def delete_stale_sessions(db: Session, now: datetime, policy: SessionPolicy) -> int:
    """Delete sessions that can no longer be used; returns how many."""
    result = db.execute(delete(LoginSession).where(
        LoginSession.revoked_at.is_not(None)
        | (LoginSession.created_at <= now - policy.absolute_timeout)
        | (LoginSession.last_seen_at <= now - policy.idle_timeout)))
    return result.rowcount
