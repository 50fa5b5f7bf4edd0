"""Accounts (P17): parents sign up and confirm their email; staff accounts are created by an admin.

Plain functions on a SQLAlchemy Session and `now`; the caller owns the transaction. A refused login
still records its attempt in the session: commit it even when LoginRefused is raised, or throttling
never sees the failure.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

from argon2 import PasswordHasher
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.models import Account, ClaimFailure, EmailConfirmation, LoginAttempt
from gateway.passwords import (
    PRODUCTION_HASHER, check_password_policy, hash_password, needs_rehash, spend_verification_time, verify_password,
)
from gateway.sessions import SessionPolicy, delete_stale_sessions, end_session, resume_session, start_session
from gateway.throttling import (
    ACCOUNT_POLICY, ADDRESS_POLICY, CLAIM_POLICY, Attempt, ThrottlePolicy, address_key, retry_after,
)
from gateway.tokens import hash_token, new_token
from loket.access import Caller

STAFF_ROLES = frozenset({"helpdesk", "intermediary", "facility_manager"})
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True)
class AccountSettings:
    """Everything tunable about accounts; tests inject a fast hasher here."""
    hasher: PasswordHasher = PRODUCTION_HASHER
    account_throttle: ThrottlePolicy = ACCOUNT_POLICY
    address_throttle: ThrottlePolicy = ADDRESS_POLICY
    claim_throttle: ThrottlePolicy = CLAIM_POLICY
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    confirmation_ttl: timedelta = timedelta(hours=48)


DEFAULT_SETTINGS = AccountSettings()


class InvalidAccount(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name
        self.message = message


class EmailAlreadyRegistered(Exception):
    """The HTTP layer must answer a sign-up for a known email like any other, or it reveals the account."""


class InvalidConfirmation(Exception):
    """The confirmation token is unknown, used or expired."""


class LoginRefused(Exception):
    """Wrong email or password, or a locked account: deliberately indistinguishable.

    `retry_after` is set only when the client address is locked, which says nothing about any account.
    """

    def __init__(self, retry_after: timedelta | None = None):
        super().__init__("login refused")
        self.retry_after = retry_after


class EmailNotConfirmed(LoginRefused):
    """Raised only after the right password, so it reveals nothing to someone who does not know it."""


class NotAuthenticated(Exception):
    """The session token is unknown, expired or revoked."""


@dataclass(frozen=True)
class SignUp:
    account_id: str
    confirmation_token: str  # goes into the confirmation email; only its hash is stored


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (not at or not local or "@" in domain or "." not in domain.strip(".")
            or any(character.isspace() for character in email) or len(email) > MAX_EMAIL_LENGTH):
        raise InvalidAccount("email", "not a valid email address")
    return email


def sign_up_parent(db: Session, email: str, password: str, now: datetime,
                   settings: AccountSettings = DEFAULT_SETTINGS) -> SignUp:
    email = normalise_email(email)
    check_password_policy(password, email)
    account = _new_account(db, email, password, "parent", now, settings)
    return SignUp(account.id, _new_confirmation(db, account.id, now, settings))


def account_id_of(db: Session, email: str) -> str | None:
    account = _find_by_email(db, email)
    return account.id if account else None


def reissue_confirmation(db: Session, email: str, now: datetime,
                         settings: AccountSettings = DEFAULT_SETTINGS) -> str | None:
    """A fresh confirmation token for an account still unconfirmed; None otherwise (answer alike either way)."""
    account = _find_by_email(db, email)
    if account is None or account.email_confirmed_at is not None:
        return None
    return _new_confirmation(db, account.id, now, settings)


def confirm_email(db: Session, token: str, now: datetime) -> str:
    """Mark the account's email confirmed; returns the account id."""
    confirmation = db.get(EmailConfirmation, hash_token(token))
    if confirmation is None or confirmation.used_at is not None or now >= confirmation.expires_at:
        raise InvalidConfirmation()
    confirmation.used_at = now
    account = db.get(Account, confirmation.account_id)
    if account.email_confirmed_at is None:
        account.email_confirmed_at = now
    return account.id


def create_staff_account(db: Session, email: str, password: str, role: str, now: datetime, *,
                         facility_ids: Iterable[str] = (), organisation_id: str | None = None,
                         settings: AccountSettings = DEFAULT_SETTINGS) -> str:
    """An account for the helpdesk, an intermediary organisation or a facility manager; returns its id.

    The admin who creates it vouches for the email, so it is confirmed at once.
    """
    facility_ids = sorted(set(facility_ids))
    if role not in STAFF_ROLES:
        raise InvalidAccount("role", f"must be one of {', '.join(sorted(STAFF_ROLES))}")
    if (role == "facility_manager") != bool(facility_ids):
        raise InvalidAccount("facility_ids", "a facility manager needs facilities; other roles have none")
    if (role == "intermediary") != (organisation_id is not None):
        raise InvalidAccount("organisation_id", "an intermediary needs its organisation; other roles have none")
    email = normalise_email(email)
    check_password_policy(password, email)
    account = _new_account(db, email, password, role, now, settings,
                           facility_ids=facility_ids, organisation_id=organisation_id, email_confirmed_at=now)
    return account.id


def log_in(db: Session, email: str, password: str, client_address: str, now: datetime,
           settings: AccountSettings = DEFAULT_SETTINGS) -> str:
    """A session token, or LoginRefused that never says whether the email exists."""
    address = address_key(client_address)
    address_wait = retry_after(_attempts(db, LoginAttempt.client_address == address, now, settings.address_throttle),
                               now, settings.address_throttle)
    if address_wait is not None:
        raise LoginRefused(retry_after=address_wait)
    try:
        account = _find_by_email(db, email)
    except InvalidAccount:
        account = None
    if account is None:
        spend_verification_time(password, settings.hasher)  # as slow as a real check
        _record(db, None, address, "failure", now)
        raise LoginRefused()
    locked = retry_after(_attempts(db, LoginAttempt.account_id == account.id, now, settings.account_throttle),
                         now, settings.account_throttle) is not None
    password_matches = verify_password(account.password_hash, password, settings.hasher)
    if locked:
        _record(db, account.id, address, "locked", now)
        raise LoginRefused()
    if not password_matches:
        _record(db, account.id, address, "failure", now)
        raise LoginRefused()
    if account.email_confirmed_at is None:
        _record(db, account.id, address, "unconfirmed", now)
        raise EmailNotConfirmed()
    if needs_rehash(account.password_hash, settings.hasher):
        account.password_hash = hash_password(password, settings.hasher)
    _record(db, account.id, address, "success", now)
    return start_session(db, account.id, now)


def authenticate(db: Session, token: str, now: datetime, settings: AccountSettings = DEFAULT_SETTINGS) -> Caller:
    """The caller a session token stands for, to pass to the services; restarts the idle clock."""
    login_session = resume_session(db, token, now, settings.sessions)
    account = db.get(Account, login_session.account_id) if login_session is not None else None
    if account is None:
        raise NotAuthenticated()
    return Caller(role=account.role, actor_id=account.id, facility_ids=frozenset(account.facility_ids),
                  organisation_id=account.organisation_id)


def log_out(db: Session, token: str, now: datetime) -> None:
    end_session(db, token, now)


def forget_stale_records(db: Session, now: datetime, settings: AccountSettings = DEFAULT_SETTINGS) -> None:
    """Delete what no longer serves (P22): ended sessions, login attempts past the throttling lookback
    (they hold client addresses), used or expired confirmation tokens, failed claims past theirs."""
    delete_stale_sessions(db, now, settings.sessions)
    lookback = max(settings.account_throttle.lookback, settings.address_throttle.lookback)
    db.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= now - lookback))
    db.execute(delete(ClaimFailure).where(ClaimFailure.attempted_at <= now - settings.claim_throttle.lookback))
    db.execute(delete(EmailConfirmation).where(
        EmailConfirmation.used_at.is_not(None) | (EmailConfirmation.expires_at <= now)))


def _find_by_email(db: Session, email: str) -> Account | None:
    return db.scalars(select(Account).where(Account.email == normalise_email(email))).one_or_none()


def _new_account(db, email, password, role, now, settings, *, facility_ids=(), organisation_id=None,
                 email_confirmed_at=None) -> Account:
    if _find_by_email(db, email) is not None:
        raise EmailAlreadyRegistered()
    account = Account(id=str(uuid4()), email=email, password_hash=hash_password(password, settings.hasher),
                      role=role, facility_ids=list(facility_ids), organisation_id=organisation_id,
                      email_confirmed_at=email_confirmed_at, created_at=now)
    db.add(account)
    db.flush()
    return account


def _new_confirmation(db, account_id, now, settings) -> str:
    token = new_token()
    db.add(EmailConfirmation(token_hash=hash_token(token), account_id=account_id, created_at=now,
                             expires_at=now + settings.confirmation_ttl))
    db.flush()
    return token


def _attempts(db, key_condition, now, policy) -> list[Attempt]:
    rows = db.execute(select(LoginAttempt.attempted_at, LoginAttempt.outcome).where(
        key_condition, LoginAttempt.attempted_at > now - policy.lookback,
        LoginAttempt.outcome.in_(("success", "failure")))).all()
    return [Attempt(at, outcome == "success") for at, outcome in rows]


def _record(db, account_id, address, outcome, now) -> None:
    db.add(LoginAttempt(account_id=account_id, client_address=address, outcome=outcome, attempted_at=now))
    db.flush()
