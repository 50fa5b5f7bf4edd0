"""Claim codes (registration.claims): a parent's account claims a dossier registered for them."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from registration import claims, dossiers
from registration.access import Refused, authorize
from registration.errors import Conflict, NotFound
from registration.models import AuditEntry, ClaimCode, Dossier

INTERMEDIARY = {"role": "intermediary", "actor_id": "int-1", "organisation_id": "org-7"}
PARENT = {"role": "parent", "actor_id": "account-9"}
OTHER_PARENT = {"role": "parent", "actor_id": "account-10"}


@pytest.fixture
def registered(session, register, now):
    """A dossier an intermediary registered, and the claim code issued with it."""
    dossier = register(actor=INTERMEDIARY, registered_by={"role": "intermediary", "actor_id": "int-1"})
    issued = claims.issue_claim_code(session, now, dossier["id"], timedelta(days=30))
    session.commit()
    return dossier["id"], issued


def refusal(session, now, code, actor=PARENT):
    with pytest.raises(claims.ClaimRefused) as refused:
        claims.claim_dossier(session, now, code, actor)
    session.rollback()
    return refused.value


def test_a_code_is_20_symbols_of_an_unambiguous_alphabet_in_groups():
    codes = {claims.new_claim_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [5, 5, 5, 5]
        assert set("".join(groups)) <= set(claims.ALPHABET)
    assert not set("01ILO") & set(claims.ALPHABET)


def test_only_the_hash_of_the_code_is_stored_and_it_expires(session, registered, now, state):
    dossier_id, issued = registered
    [row] = session.scalars(select(ClaimCode)).all()
    assert (row.dossier_id, row.expires_at, row.used_at) == (dossier_id, now + timedelta(days=30), None)
    assert issued["claim_code_expires_at"] == (now + timedelta(days=30)).isoformat()
    plain = claims.normalise(issued["claim_code"])
    assert plain not in json.dumps(state()) and issued["claim_code"] not in json.dumps(state())


def test_the_parent_claims_the_dossier_and_the_intermediary_keeps_its_access(session, registered, now):
    dossier_id, issued = registered
    assert session.get(Dossier, dossier_id).owner_account_id is None
    with pytest.raises(Refused) as before:
        authorize(session, dossier_id, PARENT, "read", now)
    assert type(before.value.answer()) is NotFound  # not theirs yet: as if it did not exist
    session.rollback()

    typed = issued["claim_code"].lower().replace("-", " ")  # as a parent may type it
    assert claims.claim_dossier(session, now + timedelta(days=29), typed, PARENT) == {"dossier_id": dossier_id}
    session.commit()
    session.expire_all()

    assert session.get(Dossier, dossier_id).owner_account_id == "account-9"
    assert authorize(session, dossier_id, PARENT, "update_contact", now).allowed
    assert authorize(session, dossier_id, INTERMEDIARY, "update_contact", now).allowed  # P19 as before
    assert dossiers.owned_dossier_ids(session, "account-9") == [dossier_id]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.operation == "claim_dossier")).one()
    assert (audit.dossier_id, audit.actor_id, audit.outcome) == (dossier_id, "account-9", "ok")
    assert session.scalars(select(ClaimCode.used_by_account_id)).one() == "account-9"


def test_unknown_used_and_expired_codes_are_answered_alike(session, registered, register, now):
    dossier_id, issued = registered
    unknown = refusal(session, now, claims.new_claim_code())
    expired = refusal(session, now + timedelta(days=30), issued["claim_code"])
    claims.claim_dossier(session, now, issued["claim_code"], PARENT)
    session.commit()
    used = refusal(session, now, issued["claim_code"], OTHER_PARENT)
    reused_by_owner = refusal(session, now, issued["claim_code"], PARENT)

    for refused in (unknown, expired, used, reused_by_owner):
        assert type(refused.answer) is NotFound
        assert str(refused.answer) == "invalid claim code"
    assert unknown.dossier_id is None  # nothing to audit against
    assert expired.dossier_id == used.dossier_id == dossier_id  # audited by the entrypoint
    assert session.get(Dossier, dossier_id).owner_account_id == "account-9"


def test_a_dossier_with_an_owner_cannot_be_claimed(session, registered, now):
    dossier_id, issued = registered
    session.get(Dossier, dossier_id).owner_account_id = "account-1"  # e.g. claimed with another code
    session.commit()
    refused = refusal(session, now, issued["claim_code"])
    assert type(refused.answer) is Conflict and refused.dossier_id == dossier_id
    session.expire_all()
    assert session.get(Dossier, dossier_id).owner_account_id == "account-1"
    assert session.scalars(select(ClaimCode.used_at)).one() is None  # nothing changed


def test_erasing_the_dossier_deletes_its_claim_codes(session, registered, now, events):
    dossier_id, _ = registered
    dossiers.erase_dossier(session, now, dossier_id, {"role": "system", "actor_id": None}, events)
    session.commit()
    assert session.scalars(select(ClaimCode)).all() == []
