"""Who may call what on matching (access.py), decided on every call from the caller the gateway passes."""
import pytest

from loket.errors import Forbidden
from matching import access

MANAGER = {"role": "facility_manager", "actor_id": "m-1", "facility_ids": ["fac-0001", "fac-0002"]}
HELPDESK = {"role": "helpdesk", "actor_id": "s-1"}
PARENT = {"role": "parent", "actor_id": "a-1"}
INTERMEDIARY = {"role": "intermediary", "actor_id": "i-1", "organisation_id": "o-1"}


def test_a_facility_is_run_by_its_manager_and_the_helpdesk():
    assert access.require_facility_staff(MANAGER, "fac-0002").actor_id == "m-1"
    assert access.require_facility_staff(HELPDESK, "fac-0009").role == "helpdesk"
    for caller in (PARENT, INTERMEDIARY, {**MANAGER, "facility_ids": ["fac-0003"]}):
        with pytest.raises(Forbidden):
            access.require_facility_staff(caller, "fac-0001")


def test_only_the_facility_manager_makes_an_offer():
    assert access.require_facility_manager(MANAGER, "fac-0001").actor_id == "m-1"
    for caller in (HELPDESK, PARENT, {**MANAGER, "facility_ids": []}):
        with pytest.raises(Forbidden):
            access.require_facility_manager(caller, "fac-0001")


def test_the_parent_or_the_helpdesk_answers_an_offer_and_only_the_helpdesk_registers_facilities():
    assert access.require_answering(PARENT).role == "parent"
    assert access.require_answering(HELPDESK).role == "helpdesk"
    with pytest.raises(Forbidden):
        access.require_answering(MANAGER)
    assert access.require_helpdesk(HELPDESK).actor_id == "s-1"
    with pytest.raises(Forbidden):
        access.require_helpdesk(MANAGER)


@pytest.mark.parametrize("caller", [None, "helpdesk", {}, {"role": "helpdesk"}, {"role": "king", "actor_id": "x"},
                                    {"role": "helpdesk", "actor_id": ""}])
def test_a_caller_that_is_not_identified_is_refused(caller):
    with pytest.raises(Forbidden, match="not identified"):
        access.require_facility_staff(caller, "fac-0001")
