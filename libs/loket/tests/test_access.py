"""The access rules of the privacy policy (P18-P22), as a table: every role x relation x operation."""
from datetime import datetime, timedelta, timezone

import pytest

from loket.access import (
    OPERATIONS, ROLES, Caller, Decision, DossierRelations, decide, decide_search, intermediary_access_ends_at,
    may_know_of, visible_request_ids,
)

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
ME = "acc-me"
MY_FACILITY = "fac-mine"
OTHER_FACILITY = "fac-other"

COLUMNS = {
    "read": "read", "rcon": "read_contact", "ucon": "update_contact", "usit": "update_situation",
    "addc": "add_child", "chfa": "change_facilities", "gcon": "give_consent", "wcon": "withdraw_consent",
    "canc": "cancel_request", "urgt": "mark_urgent", "flag": "flag_dossier", "offr": "make_offer",
    "expo": "export_data", "eras": "erase", "answ": "answer_offer",
}

# Y = allowed, N = allowed and the parent is notified (P18), . = refused.
EXPECTED = {
    "parent": """
        relation                  read rcon ucon usit addc chfa gcon wcon canc urgt flag offr expo eras answ
        own                       Y    Y    Y    Y    Y    Y    Y    Y    Y    .    .    .    Y    Y    Y
        someone_else              .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine                .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        urgent                    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        enrolled_elsewhere        .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        enrolled_in_mine          .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        registered_by_me          .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        registered_by_me_enrolled_elsewhere
                                  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine_sibling_enrolled_elsewhere
                                  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        helped_23_months_ago      .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        helped_25_months_ago      .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
    """,
    "helpdesk": """
        relation                  read rcon ucon usit addc chfa gcon wcon canc urgt flag offr expo eras answ
        own                       Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        someone_else              Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        chose_mine                Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        urgent                    Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        enrolled_elsewhere        Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        enrolled_in_mine          Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        registered_by_me          Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        registered_by_me_enrolled_elsewhere
                                  Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        chose_mine_sibling_enrolled_elsewhere
                                  Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        helped_23_months_ago      Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
        helped_25_months_ago      Y    Y    N    N    N    N    N    N    N    N    N    .    N    N    N
    """,
    "intermediary": """
        relation                  read rcon ucon usit addc chfa gcon wcon canc urgt flag offr expo eras answ
        own                       .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        someone_else              .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine                .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        urgent                    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        enrolled_elsewhere        .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        enrolled_in_mine          .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        registered_by_me          .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        registered_by_me_enrolled_elsewhere
                                  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine_sibling_enrolled_elsewhere
                                  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        helped_23_months_ago      Y    Y    Y    Y    Y    Y    Y    Y    .    .    .    .    .    .    .
        helped_25_months_ago      .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
    """,
    "facility_manager": """
        relation                  read rcon ucon usit addc chfa gcon wcon canc urgt flag offr expo eras answ
        own                       .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        someone_else              .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine                Y    Y    .    .    .    .    .    .    .    .    .    Y    .    .    .
        urgent                    Y    Y    .    .    .    .    .    .    .    .    .    Y    .    .    .
        enrolled_elsewhere        .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        enrolled_in_mine          Y    Y    .    .    .    .    .    .    .    .    .    .    .    .    .
        registered_by_me          Y    Y    Y    Y    Y    Y    .    .    .    .    .    .    .    .    .
        registered_by_me_enrolled_elsewhere
                                  .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        chose_mine_sibling_enrolled_elsewhere
                                  Y    Y    .    .    .    .    .    .    .    .    .    Y    .    .    .
        helped_23_months_ago      .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
        helped_25_months_ago      .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
    """,
    "system": """
        relation                  read rcon ucon usit addc chfa gcon wcon canc urgt flag offr expo eras answ
        own                       Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        someone_else              Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        chose_mine                Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        urgent                    Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        enrolled_elsewhere        Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        enrolled_in_mine          Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        registered_by_me          Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        registered_by_me_enrolled_elsewhere
                                  Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        chose_mine_sibling_enrolled_elsewhere
                                  Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        helped_23_months_ago      Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
        helped_25_months_ago      Y    .    .    .    .    .    .    .    .    Y    .    .    .    Y    .
    """,
}


def parse(table: str) -> dict[str, dict[str, str]]:
    """{relation: {operation: mark}}; a long relation name may sit alone on its line above its marks."""
    header, *lines = [line.split() for line in table.strip().splitlines()]
    operations = [COLUMNS[column] for column in header[1:]]
    rows, pending = {}, None
    for words in lines:
        if len(words) == 1:
            pending = words[0]
            continue
        relation, marks = (pending, words) if pending else (words[0], words[1:])
        pending = None
        assert len(marks) == len(operations), relation
        rows[relation] = dict(zip(operations, marks))
    return rows


def snapshot(*requests: dict) -> dict:
    """A dossier SNAPSHOT (notes/events.md) with the given requests, one child each."""
    return {
        "id": "dos-1", "registered_at": "2024-01-10T09:00:00+00:00", "last_activity_at": "2025-01-10T09:00:00+00:00",
        "registered_by": {"role": "parent", "actor_id": "acc-owner"}, "preferred_language": "nl", "restricted": False,
        "applicant": {"last_name": "Peeters", "first_name": "An", "birth_date": "1990-03-01", "gender": "f",
                      "email": "an@example.org", "phone": "+32470000000",
                      "address": {"street": "Wetstraat", "house_number": "1", "postal_code": "1000",
                                  "municipality": "Brussel"}},
        "partner": None,
        "children": [{"id": f"child-{index}", "last_name": "Peeters", "first_name": None, "birth_date": "2025-01-01",
                      "gender": None, "foster_child": False, "sibling_facility_ids": []}
                     for index, _ in enumerate(requests)],
        "requests": [{"id": f"req-{index}", "child_id": f"child-{index}", "desired_start_date": "2025-09-01",
                      "care_plan": {"mon": "full"}, "registered_at": "2024-01-10T09:00:00+00:00",
                      "urgent": False, "enrolled_facility_id": None, **request}
                     for index, request in enumerate(requests)],
        "priority": {}, "consents": {"kind_en_gezin": None, "lop": None},
    }


def active(*facility_ids, urgent=False):
    return {"status": "active", "facility_ids": list(facility_ids), "urgent": urgent}


def enrolled(facility_id, *chosen):
    return {"status": "enrolled", "facility_ids": [facility_id, *chosen], "enrolled_facility_id": facility_id}


def relations(*requests, owner="acc-owner", intermediaries=None, registrars=()):
    return DossierRelations.from_snapshot(snapshot(*requests), owner_account_id=owner,
                                          intermediary_grants=intermediaries, facility_manager_grants=registrars)


# Every relation is seen from the caller "me" (ME, running MY_FACILITY when a facility manager).
RELATIONS = {
    "own": relations(active(OTHER_FACILITY), owner=ME),
    "someone_else": relations(active(OTHER_FACILITY),
                              intermediaries={"acc-someone": NOW - timedelta(days=30)},
                              registrars=[("acc-someone", OTHER_FACILITY)]),
    "chose_mine": relations(active(OTHER_FACILITY, MY_FACILITY)),
    "urgent": relations(active(OTHER_FACILITY, urgent=True)),
    "enrolled_elsewhere": relations(enrolled(OTHER_FACILITY, MY_FACILITY)),
    "enrolled_in_mine": relations(enrolled(MY_FACILITY, OTHER_FACILITY)),
    "registered_by_me": relations(active(OTHER_FACILITY), registrars=[(ME, MY_FACILITY)]),
    "registered_by_me_enrolled_elsewhere": relations(enrolled(OTHER_FACILITY, MY_FACILITY),
                                                     registrars=[(ME, MY_FACILITY)]),
    "chose_mine_sibling_enrolled_elsewhere": relations(enrolled(OTHER_FACILITY, MY_FACILITY), active(MY_FACILITY)),
    "helped_23_months_ago": relations(active(OTHER_FACILITY),
                                      intermediaries={ME: datetime(2023, 7, 15, 12, 0, tzinfo=timezone.utc)}),
    "helped_25_months_ago": relations(active(OTHER_FACILITY),
                                      intermediaries={ME: datetime(2023, 5, 15, 12, 0, tzinfo=timezone.utc)}),
}


def caller(role, actor_id=ME, facility_ids=(MY_FACILITY,)):
    return Caller(role=role, actor_id=actor_id,
                  facility_ids=frozenset(facility_ids) if role == "facility_manager" else frozenset(),
                  organisation_id="org-1" if role == "intermediary" else None)


CASES = [(role, relation, operation, mark)
         for role, table in EXPECTED.items()
         for relation, marks in parse(table).items()
         for operation, mark in marks.items()]


def test_the_table_covers_every_role_relation_and_operation():
    assert set(EXPECTED) == ROLES
    for table in EXPECTED.values():
        rows = parse(table)
        assert set(rows) == set(RELATIONS)
        assert all(set(marks) == OPERATIONS for marks in rows.values())


@pytest.mark.parametrize("role,relation,operation,mark", CASES)
def test_access_table(role, relation, operation, mark):
    decision = decide(caller(role), operation, RELATIONS[relation], NOW)
    assert isinstance(decision, Decision)
    assert (decision.allowed, decision.notify_parent) == {"Y": (True, False), "N": (True, True),
                                                          ".": (False, False)}[mark], decision.reason
    assert decision.reason


@pytest.mark.parametrize("role,relation", [(role, relation) for role in EXPECTED for relation in RELATIONS])
def test_a_refusal_reveals_the_dossier_exactly_to_those_who_may_read_it(role, relation):
    reads = parse(EXPECTED[role])[relation]["read"] != "."
    assert may_know_of(caller(role), RELATIONS[relation], NOW) is reads


def test_a_request_hidden_from_a_facility_is_not_revealed_by_a_refusal_either():
    sibling_enrolled_elsewhere = RELATIONS["chose_mine_sibling_enrolled_elsewhere"]
    manager = caller("facility_manager")
    assert may_know_of(manager, sibling_enrolled_elsewhere, NOW)
    assert not may_know_of(manager, sibling_enrolled_elsewhere, NOW, request_id="req-0")  # enrolled elsewhere
    assert may_know_of(manager, sibling_enrolled_elsewhere, NOW, request_id="req-1")
    assert not may_know_of(caller("helpdesk"), sibling_enrolled_elsewhere, NOW, request_id="req-of-another-dossier")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_only_the_helpdesk_searches_across_dossiers(role):
    decision = decide_search(caller(role))
    assert decision.allowed is (role == "helpdesk")
    assert decision.reason


def test_unknown_operation_is_refused_even_to_the_helpdesk():
    decision = decide(caller("helpdesk"), "delete_everything", RELATIONS["own"], NOW)
    assert not decision.allowed


def test_a_caller_needs_a_known_role_and_an_actor():
    with pytest.raises(ValueError):
        Caller(role="admin", actor_id=ME)
    with pytest.raises(ValueError):
        Caller(role="parent", actor_id="")


def test_a_parent_without_an_owner_account_owns_nothing():
    unowned = relations(active(OTHER_FACILITY), owner=None)
    assert not decide(caller("parent"), "read", unowned, NOW).allowed


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError):
        decide(caller("parent"), "read", RELATIONS["own"], datetime(2025, 6, 15, 12, 0))


# --- P19: two calendar years after the intermediary's last change with the parent

def helped_at(last_change_at):
    return relations(active(OTHER_FACILITY), intermediaries={ME: last_change_at})


def test_intermediary_access_ends_exactly_two_calendar_years_after_the_last_change():
    last_change_at = datetime(2023, 6, 15, 12, 0, tzinfo=timezone.utc)
    assert intermediary_access_ends_at(last_change_at) == datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
    dossier = helped_at(last_change_at)
    assert decide(caller("intermediary"), "read", dossier, NOW - timedelta(microseconds=1)).allowed
    assert not decide(caller("intermediary"), "read", dossier, NOW).allowed


def test_two_years_are_calendar_years_not_730_days():
    # 2024 is a leap year: 730 days after 2023-06-15 is 2025-06-14, a day before the end of access.
    last_change_at = datetime(2023, 6, 15, 12, 0, tzinfo=timezone.utc)
    assert decide(caller("intermediary"), "read", helped_at(last_change_at), last_change_at + timedelta(days=730)).allowed


def test_access_from_a_change_on_29_february_ends_on_28_february():
    last_change_at = datetime(2024, 2, 29, 10, 0, tzinfo=timezone.utc)
    assert intermediary_access_ends_at(last_change_at) == datetime(2026, 2, 28, 10, 0, tzinfo=timezone.utc)


def test_access_ends_at_the_same_utc_instant_whatever_the_zone_of_the_last_change():
    brussels_summer = timezone(timedelta(hours=2))
    last_change_at = datetime(2023, 6, 15, 14, 0, tzinfo=brussels_summer)
    assert intermediary_access_ends_at(last_change_at) == datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)


def test_a_new_change_with_the_parent_renews_the_intermediary_access():
    assert not decide(caller("intermediary"), "read", helped_at(NOW - timedelta(days=800)), NOW).allowed
    assert decide(caller("intermediary"), "read", helped_at(NOW - timedelta(days=1)), NOW).allowed


def test_an_intermediary_grant_belongs_to_its_account_not_to_its_organisation():
    colleague = Caller(role="intermediary", actor_id="acc-colleague", organisation_id="org-1")
    assert not decide(colleague, "read", RELATIONS["helped_23_months_ago"], NOW).allowed


def test_intermediary_grants_need_aware_datetimes():
    with pytest.raises(ValueError):
        helped_at(datetime(2024, 1, 1))


# --- facility managers: per request (P2, P20, P21)

def test_a_manager_may_offer_only_on_a_request_that_chose_the_facility_or_is_urgent():
    dossier = relations(active(MY_FACILITY), active(OTHER_FACILITY), active(OTHER_FACILITY, urgent=True),
                        {"status": "cancelled", "facility_ids": [MY_FACILITY]})
    manager = caller("facility_manager")
    offers = {request.id: decide(manager, "make_offer", dossier, NOW, request_id=request.id).allowed
              for request in dossier.requests}
    assert offers == {"req-0": True, "req-1": False, "req-2": True, "req-3": False}


def test_a_request_enrolled_elsewhere_is_hidden_while_the_rest_of_the_dossier_stays_visible():
    dossier = RELATIONS["chose_mine_sibling_enrolled_elsewhere"]
    manager = caller("facility_manager")
    assert not decide(manager, "read", dossier, NOW, request_id="req-0").allowed
    assert not decide(manager, "make_offer", dossier, NOW, request_id="req-0").allowed
    assert decide(manager, "read", dossier, NOW, request_id="req-1").allowed
    assert decide(manager, "make_offer", dossier, NOW, request_id="req-1").allowed
    assert visible_request_ids(manager, dossier, NOW) == {"req-1"}
    own = relations(enrolled(OTHER_FACILITY), active(MY_FACILITY), owner=ME)
    assert visible_request_ids(caller("parent"), own, NOW) == {"req-0", "req-1"}


def test_the_enrolled_facility_reads_the_enrolled_request_but_makes_no_offer_on_it():
    dossier = relations(enrolled(MY_FACILITY), active(OTHER_FACILITY, urgent=True))
    manager = caller("facility_manager")
    assert decide(manager, "read", dossier, NOW, request_id="req-0").allowed
    assert not decide(manager, "make_offer", dossier, NOW, request_id="req-0").allowed
    assert decide(manager, "make_offer", dossier, NOW, request_id="req-1").allowed


def test_cancelled_and_expired_requests_give_facilities_no_access():
    dossier = relations({"status": "cancelled", "facility_ids": [MY_FACILITY], "urgent": True},
                        {"status": "expired", "facility_ids": [MY_FACILITY]})
    assert not decide(caller("facility_manager"), "read", dossier, NOW).allowed
    assert visible_request_ids(caller("facility_manager"), dossier, NOW) == frozenset()


def test_a_manager_who_registered_for_the_parent_keeps_editing_after_the_request_moved_away():
    # The parent later chose only other facilities: the registering manager keeps access (P20).
    dossier = relations(active(OTHER_FACILITY), registrars=[(ME, MY_FACILITY)])
    assert decide(caller("facility_manager"), "update_situation", dossier, NOW).allowed
    assert not decide(caller("facility_manager"), "make_offer", dossier, NOW).allowed


def test_the_registering_manager_keeps_editing_when_the_child_is_enrolled_in_its_own_facility():
    dossier = relations(enrolled(MY_FACILITY), registrars=[(ME, MY_FACILITY)])
    assert decide(caller("facility_manager"), "update_contact", dossier, NOW).allowed


def test_a_registration_grant_counts_only_while_the_manager_runs_that_facility():
    dossier = RELATIONS["registered_by_me"]
    moved = caller("facility_manager", facility_ids=("fac-new",))
    assert not decide(moved, "read", dossier, NOW).allowed


def test_a_registration_grant_is_personal_to_the_manager():
    colleague = caller("facility_manager", actor_id="acc-colleague")
    assert not decide(colleague, "update_contact", RELATIONS["registered_by_me"], NOW).allowed


def test_a_manager_of_several_facilities_reaches_dossiers_that_chose_any_of_them():
    manager = caller("facility_manager", facility_ids=("fac-a", MY_FACILITY))
    assert decide(manager, "read_contact", RELATIONS["chose_mine"], NOW).allowed
    assert not decide(manager, "read", RELATIONS["someone_else"], NOW).allowed


def test_a_request_of_another_dossier_is_refused_to_everyone():
    for role in ROLES:
        assert not decide(caller(role), "read", RELATIONS["own"], NOW, request_id="req-elsewhere").allowed


def test_relations_are_read_from_the_snapshot():
    dossier = relations(active(MY_FACILITY, "fac-b"), active("fac-c", urgent=True), enrolled("fac-d", "fac-e"),
                        owner="acc-owner", intermediaries={"acc-int": NOW}, registrars=[("acc-fm", "fac-b")])
    assert dossier.dossier_id == "dos-1"
    assert dossier.owner_account_id == "acc-owner"
    assert dossier.chosen_facility_ids == {MY_FACILITY, "fac-b", "fac-c"}
    assert dossier.has_urgent_request
    assert dossier.enrolled_facility_ids == {"fac-d"}
    assert dossier.intermediary_grants == {"acc-int": NOW}
    assert dossier.facility_manager_grants == {("acc-fm", "fac-b")}
    assert dossier.request("req-2").enrolled_facility_id == "fac-d"
