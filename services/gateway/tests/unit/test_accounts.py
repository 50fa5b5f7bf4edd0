from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from gateway.accounts import (
    AccountSettings, EmailAlreadyRegistered, EmailNotConfirmed, InvalidAccount, InvalidConfirmation, LoginRefused, NotAuthenticated,
    authenticate, confirm_email, create_staff_account, forget_stale_records, log_in, log_out, reissue_confirmation,
    sign_up_parent,
)
from gateway.models import Account, EmailConfirmation, LoginAttempt
from gateway.passwords import PasswordRejected
from gateway.tokens import hash_token
from loket.access import Caller

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
# Argon2's cheapest parameters: production ones cost tens of milliseconds per hash.
FAST = AccountSettings(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
PASSWORD = "a long passphrase for my dossier"
ADDRESS = "192.0.2.7"


def later(**delta):
    return NOW + timedelta(**delta)


def confirmed_parent(db, email="an@example.org"):
    sign_up = sign_up_parent(db, email, PASSWORD, NOW, FAST)
    confirm_email(db, sign_up.confirmation_token, NOW)
    return sign_up.account_id


def attempt(session_factory, email, password, now, address=ADDRESS, settings=FAST):
    """One login in its own transaction, committed even when refused, as the gateway must do."""
    with session_factory() as db:
        try:
            return log_in(db, email, password, address, now, settings)
        except LoginRefused as refused:
            return refused
        finally:
            db.commit()


# --- sign-up and confirmation

def test_a_parent_signs_up_with_a_hashed_password_and_a_hashed_confirmation_token(db):
    sign_up = sign_up_parent(db, "  An.Peeters@Example.org ", PASSWORD, NOW, FAST)
    account = db.get(Account, sign_up.account_id)
    assert (account.email, account.role, account.email_confirmed_at, account.created_at) == (
        "an.peeters@example.org", "parent", None, NOW)
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash
    confirmation = db.scalars(select(EmailConfirmation)).one()
    assert confirmation.token_hash == hash_token(sign_up.confirmation_token)
    assert confirmation.expires_at == NOW + FAST.confirmation_ttl


def test_an_email_signs_up_once_whatever_its_case(db):
    sign_up_parent(db, "an@example.org", PASSWORD, NOW, FAST)
    with pytest.raises(EmailAlreadyRegistered):
        sign_up_parent(db, "AN@example.org", PASSWORD, NOW, FAST)


@pytest.mark.parametrize("email", ["", "an", "an@", "@example.org", "an@example", "an @example.org",
                                   "an@@example.org", "a" * 250 + "@example.org"])
def test_a_malformed_email_is_refused(db, email):
    with pytest.raises(InvalidAccount) as invalid:
        sign_up_parent(db, email, PASSWORD, NOW, FAST)
    assert invalid.value.field_name == "email"


def test_a_weak_password_is_refused_and_nothing_is_stored(db):
    with pytest.raises(PasswordRejected) as rejected:
        sign_up_parent(db, "an@example.org", "Password1234", NOW, FAST)
    assert rejected.value.problems == ["too_common"]
    assert db.scalars(select(Account)).all() == []


def test_confirmation_works_once_and_only_before_it_expires(db):
    first = sign_up_parent(db, "an@example.org", PASSWORD, NOW, FAST)
    assert confirm_email(db, first.confirmation_token, later(hours=1)) == first.account_id
    assert db.get(Account, first.account_id).email_confirmed_at == later(hours=1)
    with pytest.raises(InvalidConfirmation):
        confirm_email(db, first.confirmation_token, later(hours=2))
    second = sign_up_parent(db, "bo@example.org", PASSWORD, NOW, FAST)
    with pytest.raises(InvalidConfirmation):
        confirm_email(db, second.confirmation_token, NOW + FAST.confirmation_ttl)
    with pytest.raises(InvalidConfirmation):
        confirm_email(db, "never issued", NOW)


def test_a_new_confirmation_is_issued_only_to_an_unconfirmed_account(db):
    sign_up = sign_up_parent(db, "an@example.org", PASSWORD, NOW, FAST)
    token = reissue_confirmation(db, "AN@example.org", later(days=3), FAST)
    assert confirm_email(db, token, later(days=3)) == sign_up.account_id
    assert reissue_confirmation(db, "an@example.org", later(days=4), FAST) is None
    assert reissue_confirmation(db, "nobody@example.org", later(days=4), FAST) is None


# --- staff accounts

def test_a_facility_manager_account_carries_its_facilities(db):
    account_id = create_staff_account(db, "lead@creche.example", PASSWORD, "facility_manager", NOW,
                                      facility_ids=["fac-2", "fac-1", "fac-2"], settings=FAST)
    token = log_in(db, "lead@creche.example", PASSWORD, ADDRESS, NOW, FAST)
    assert authenticate(db, token, NOW, FAST) == Caller(role="facility_manager", actor_id=account_id,
                                                        facility_ids=frozenset({"fac-1", "fac-2"}))
    assert db.get(Account, account_id).facility_ids == ["fac-1", "fac-2"]


def test_an_intermediary_account_carries_its_organisation(db):
    account_id = create_staff_account(db, "help@org.example", PASSWORD, "intermediary", NOW,
                                      organisation_id="org-7", settings=FAST)
    token = log_in(db, "help@org.example", PASSWORD, ADDRESS, NOW, FAST)
    assert authenticate(db, token, NOW, FAST) == Caller(role="intermediary", actor_id=account_id,
                                                        organisation_id="org-7")


def test_a_helpdesk_account_can_log_in_at_once(db):
    account_id = create_staff_account(db, "desk@loket.example", PASSWORD, "helpdesk", NOW, settings=FAST)
    assert db.get(Account, account_id).email_confirmed_at == NOW
    token = log_in(db, "desk@loket.example", PASSWORD, ADDRESS, NOW, FAST)
    assert authenticate(db, token, NOW, FAST).role == "helpdesk"


@pytest.mark.parametrize("role,facility_ids,organisation_id,field_name", [
    ("parent", (), None, "role"),
    ("system", (), None, "role"),
    ("admin", (), None, "role"),
    ("facility_manager", (), None, "facility_ids"),
    ("helpdesk", ("fac-1",), None, "facility_ids"),
    ("intermediary", (), None, "organisation_id"),
    ("helpdesk", (), "org-1", "organisation_id"),
])
def test_staff_accounts_are_consistent_with_their_role(db, role, facility_ids, organisation_id, field_name):
    with pytest.raises(InvalidAccount) as invalid:
        create_staff_account(db, "staff@example.org", PASSWORD, role, NOW, facility_ids=facility_ids,
                             organisation_id=organisation_id, settings=FAST)
    assert invalid.value.field_name == field_name


def test_a_staff_email_is_unique_across_all_accounts(db):
    confirmed_parent(db, "an@example.org")
    with pytest.raises(EmailAlreadyRegistered):
        create_staff_account(db, "an@example.org", PASSWORD, "helpdesk", NOW, settings=FAST)


# --- logging in

def test_a_confirmed_parent_logs_in_and_is_the_caller_of_their_dossier(db):
    account_id = confirmed_parent(db)
    token = log_in(db, "AN@example.org", PASSWORD, ADDRESS, NOW, FAST)
    assert authenticate(db, token, later(minutes=1), FAST) == Caller(role="parent", actor_id=account_id)


def test_an_unconfirmed_parent_hears_so_only_with_the_right_password(db):
    sign_up_parent(db, "an@example.org", PASSWORD, NOW, FAST)
    with pytest.raises(EmailNotConfirmed):
        log_in(db, "an@example.org", PASSWORD, ADDRESS, NOW, FAST)
    with pytest.raises(LoginRefused) as refused:
        log_in(db, "an@example.org", "a wrong passphrase entirely", ADDRESS, NOW, FAST)
    assert type(refused.value) is LoginRefused


def test_a_refusal_never_says_whether_the_email_exists(db):
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    settings = replace(FAST, hasher=CountingHasher(time_cost=1, memory_cost=8, parallelism=1))
    confirmed_parent(db)
    refusals = []
    for email in ("an@example.org", "nobody@example.org", "not an email"):
        with pytest.raises(LoginRefused) as refused:
            log_in(db, email, "a wrong passphrase entirely", ADDRESS, NOW, settings)
        refusals.append((type(refused.value), str(refused.value), refused.value.retry_after))
    assert len(set(refusals)) == 1 and refusals[0][2] is None
    assert len(calls) == 3  # a password hash is checked every time, so timing says nothing either


def test_login_attempts_keep_no_email(db):
    confirmed_parent(db)
    with pytest.raises(LoginRefused):
        log_in(db, "nobody@example.org", PASSWORD, ADDRESS, NOW, FAST)
    rows = db.execute(select(LoginAttempt.account_id, LoginAttempt.client_address, LoginAttempt.outcome)).all()
    assert rows == [(None, ADDRESS, "failure")]


def test_an_outdated_hash_is_upgraded_at_login(db):
    account_id = confirmed_parent(db)
    stronger = replace(FAST, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    log_in(db, "an@example.org", PASSWORD, ADDRESS, NOW, stronger)
    password_hash = db.get(Account, account_id).password_hash
    assert "$m=16,t=2,p=1$" in password_hash
    assert log_in(db, "an@example.org", PASSWORD, ADDRESS, later(minutes=1), stronger)


# --- throttling, across transactions

def test_an_account_is_locked_after_five_failures_even_for_the_right_password(session_factory):
    with session_factory.begin() as db:
        confirmed_parent(db)
    for second in range(5):
        assert isinstance(attempt(session_factory, "an@example.org", "wrong passphrase!", later(seconds=second)),
                          LoginRefused)
    for second in range(10, 15):
        refused = attempt(session_factory, "an@example.org", PASSWORD, later(seconds=second))
        assert isinstance(refused, LoginRefused) and refused.retry_after is None  # no hint the account exists
    # Refusals while locked check no password, so they do not prolong the lockout (1 minute from the 5th failure).
    assert isinstance(attempt(session_factory, "an@example.org", PASSWORD, later(seconds=64)), str)


def test_a_success_resets_the_account_counter(session_factory):
    with session_factory.begin() as db:
        confirmed_parent(db)
    moments = iter(range(100))
    for _ in range(4):
        attempt(session_factory, "an@example.org", "wrong passphrase!", later(seconds=next(moments)))
    assert isinstance(attempt(session_factory, "an@example.org", PASSWORD, later(seconds=next(moments))), str)
    for _ in range(4):
        attempt(session_factory, "an@example.org", "wrong passphrase!", later(seconds=next(moments)))
    assert isinstance(attempt(session_factory, "an@example.org", PASSWORD, later(seconds=next(moments))), str)


def test_a_client_address_is_locked_after_many_failures_on_any_emails(session_factory):
    with session_factory.begin() as db:
        confirmed_parent(db)
    for second in range(20):
        attempt(session_factory, f"guess{second}@example.org", PASSWORD, later(seconds=second))
    refused = attempt(session_factory, "an@example.org", PASSWORD, later(seconds=30))
    assert isinstance(refused, LoginRefused) and refused.retry_after == timedelta(seconds=49)
    assert isinstance(attempt(session_factory, "an@example.org", PASSWORD, later(seconds=30), address="198.51.100.1"),
                      str)
    assert isinstance(attempt(session_factory, "an@example.org", PASSWORD, later(seconds=79)), str)


# --- sessions

def test_logging_out_ends_the_session(db):
    confirmed_parent(db)
    token = log_in(db, "an@example.org", PASSWORD, ADDRESS, NOW, FAST)
    log_out(db, token, later(minutes=1))
    with pytest.raises(NotAuthenticated):
        authenticate(db, token, later(minutes=2), FAST)


def test_an_idle_or_unknown_session_is_not_authenticated(db):
    confirmed_parent(db)
    token = log_in(db, "an@example.org", PASSWORD, ADDRESS, NOW, FAST)
    with pytest.raises(NotAuthenticated):
        authenticate(db, token, NOW + FAST.sessions.idle_timeout, FAST)
    with pytest.raises(NotAuthenticated):
        authenticate(db, "never issued", NOW, FAST)


def test_stale_records_are_forgotten(db):
    confirmed_parent(db)
    pending = sign_up_parent(db, "bo@example.org", PASSWORD, NOW, FAST)
    with pytest.raises(LoginRefused):
        log_in(db, "an@example.org", "wrong passphrase!", ADDRESS, NOW, FAST)
    token = log_in(db, "an@example.org", PASSWORD, ADDRESS, later(hours=23, minutes=50), FAST)
    forget_stale_records(db, later(days=1), FAST)
    assert db.scalars(select(LoginAttempt.outcome)).all() == ["success"]
    assert db.scalars(select(EmailConfirmation.token_hash)).all() == [hash_token(pending.confirmation_token)]
    assert authenticate(db, token, later(days=1), FAST).role == "parent"
    forget_stale_records(db, later(days=3), FAST)
    assert db.scalars(select(EmailConfirmation)).all() == []
