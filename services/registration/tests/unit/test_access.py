"""registration.access.authorize: a refusal is a 403 only for a caller who may read the dossier; to anyone
else it is a 404, indistinguishable from an unknown dossier (P22)."""
import pytest

from registration.access import Refused, authorize
from registration.errors import Forbidden, NotFound

PARENT_REGISTRAR = {"role": "parent"}
INTERMEDIARY = {"role": "intermediary", "actor_id": "int-1", "organisation_id": "org-7"}
REGISTERING_MANAGER = {"role": "facility_manager", "actor_id": "mgr-reg", "facility_ids": ["fac-0005"]}
OWNER = {"role": "parent", "actor_id": "account-1"}
STRANGER = {"role": "parent", "actor_id": "account-2"}
CHOSEN_MANAGER = {"role": "facility_manager", "actor_id": "mgr-1", "facility_ids": ["fac-0001"]}
OTHER_MANAGER = {"role": "facility_manager", "actor_id": "mgr-9", "facility_ids": ["fac-0009"]}
COLLEAGUE = {"role": "intermediary", "actor_id": "int-2", "organisation_id": "org-7"}
HELPDESK = {"role": "helpdesk", "actor_id": "desk-1"}

# caller, dossier (registered by the parent / the intermediary / a manager for fac-0005), operation, answer
CASES = [
    (OWNER, "by_parent", "update_contact", "allowed"),
    (OWNER, "by_parent", "flag_dossier", 403),
    (OWNER, "by_parent", "mark_urgent", 403),
    (STRANGER, "by_parent", "read", 404),
    (STRANGER, "by_parent", "update_contact", 404),
    (STRANGER, "by_parent", "erase", 404),
    (CHOSEN_MANAGER, "by_parent", "read", "allowed"),
    (CHOSEN_MANAGER, "by_parent", "update_contact", 403),  # chose my facility, not registered by me
    (CHOSEN_MANAGER, "by_parent", "cancel_request", 403),
    (CHOSEN_MANAGER, "by_parent", "export_data", 403),
    (OTHER_MANAGER, "by_parent", "read", 404),
    (OTHER_MANAGER, "by_parent", "update_contact", 404),
    (INTERMEDIARY, "by_intermediary", "update_contact", "allowed"),
    (INTERMEDIARY, "by_intermediary", "flag_dossier", 403),  # the helpdesk's operation
    (INTERMEDIARY, "by_intermediary", "mark_urgent", 403),
    (INTERMEDIARY, "by_intermediary", "erase", 403),
    (INTERMEDIARY, "by_parent", "update_contact", 404),
    (COLLEAGUE, "by_intermediary", "update_contact", 404),
    (REGISTERING_MANAGER, "by_manager", "update_contact", "allowed"),
    (REGISTERING_MANAGER, "by_manager", "give_consent", 403),
    (HELPDESK, "by_parent", "flag_dossier", "allowed"),
    (HELPDESK, "by_intermediary", "make_offer", 403),
]


@pytest.fixture
def dossier_ids(register):
    return {
        "by_parent": register(actor=OWNER)["id"],
        "by_intermediary": register(actor=INTERMEDIARY, registered_by={
            "role": "intermediary", "actor_id": "int-1"})["id"],
        "by_manager": register(actor=REGISTERING_MANAGER, registered_by={
            "role": "facility_manager", "actor_id": "mgr-reg", "facility_id": "fac-0005"})["id"],
    }


@pytest.mark.parametrize("actor,dossier,operation,expected", CASES)
def test_a_refusal_is_403_for_a_reader_and_404_for_anyone_else(session, now, dossier_ids, actor, dossier,
                                                               operation, expected):
    dossier_id = dossier_ids[dossier]
    if expected == "allowed":
        assert authorize(session, dossier_id, actor, operation, now).allowed
        return
    with pytest.raises(Refused) as refused:
        authorize(session, dossier_id, actor, operation, now)
    answer = refused.value.answer()
    assert type(answer) is {403: Forbidden, 404: NotFound}[expected]
    if expected == 404:  # says no more than an unknown id would
        assert str(answer) == f"dossier {dossier_id} not found"


def test_a_request_of_another_dossier_is_not_found_even_by_the_helpdesk(session, now, dossier_ids, register):
    other_request = register(actor=OWNER)["requests"][0]["id"]
    with pytest.raises(Refused) as refused:
        authorize(session, dossier_ids["by_parent"], HELPDESK, "cancel_request", now, request_id=other_request)
    assert isinstance(refused.value.answer(), NotFound)


def test_an_unknown_dossier_is_not_found_without_a_refusal(session, now):
    with pytest.raises(NotFound):
        authorize(session, "no-such-dossier", HELPDESK, "read", now)
