import pytest
from marshmallow import ValidationError

from gateway.payloads import actor, consent, registration
from loket.access import Caller

PARENT = Caller(role="parent", actor_id="acc-1")
MANAGER = Caller(role="facility_manager", actor_id="acc-2", facility_ids=frozenset({"fac-2", "fac-1"}))
HELPDESK = Caller(role="helpdesk", actor_id="acc-3")


def test_the_actor_is_the_authenticated_caller():
    assert actor(MANAGER) == {"role": "facility_manager", "actor_id": "acc-2", "facility_ids": ["fac-1", "fac-2"],
                              "organisation_id": None}
    assert actor(Caller(role="intermediary", actor_id="acc-4", organisation_id="org-7"))["organisation_id"] == "org-7"


def test_who_registers_is_the_caller_never_the_body():
    body = {"preferred_language": "nl", "facility_id": "fac-1"}
    assert registration(body, MANAGER) == {
        "preferred_language": "nl",
        "registered_by": {"role": "facility_manager", "actor_id": "acc-2", "facility_id": "fac-1"}}
    assert registration({"preferred_language": "fr"}, PARENT)["registered_by"] == {"role": "parent",
                                                                                    "actor_id": "acc-1"}
    assert body == {"preferred_language": "nl", "facility_id": "fac-1"}  # the body itself is left alone


def test_a_consent_goes_through_the_callers_own_channel():
    assert consent("lop", {"given": True, "policy_version": "2024-05"}, PARENT) == {
        "partner": "lop", "policy_version": "2024-05", "method": "web"}
    assert consent("kind_en_gezin", {"policy_version": "v", "method": "paper"}, HELPDESK)["method"] == "paper"
    assert consent("lop", {"policy_version": "v"}, HELPDESK)["method"] == "helpdesk"


@pytest.mark.parametrize("caller,method", [(PARENT, "paper"), (PARENT, "helpdesk"), (HELPDESK, "web"),
                                           (MANAGER, None)])
def test_no_caller_records_a_consent_through_a_channel_that_is_not_theirs(caller, method):
    body = {"policy_version": "v", **({"method": method} if method else {})}
    with pytest.raises(ValidationError) as invalid:
        consent("lop", body, caller)
    assert "method" in invalid.value.messages
