"""The facility registry, what enrolled children count for, the dossiers a facility may see, the GDPR
export and erasure, and the demo facilities; on the real tables (SQLite; erasure on PostgreSQL too)."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from loket.errors import Conflict, InvalidInput
from matching import demo, dossiers, erasure, facilities, readmodel
from matching.models import EnrollmentRow, FacilityRow
from matching.occupancy import enrollment_counts
from matching.projection import claim_all
from matching.schemas import FacilityInput, validate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def apply(db, rule_sets, recorder):
    def run(*events):
        with db.transaction() as session:
            return readmodel.apply_events(session, [(e, recorder) for e in claim_all(session, list(events))], rule_sets)
    return run


def register(db, rule_sets, payload):
    with db.transaction() as session:
        return facilities.view(facilities.register(session, NOW, validate(FacilityInput(rule_sets), payload)), True)


def test_registration_numbers_new_facilities_and_refuses_a_taken_id(db, rule_sets):
    first = register(db, rule_sets, demo.demo_facility(7))
    assert first["id"] == "fac-0007" and first["staff_dossier_ids"] == []
    assert first["opening_days"] == ["mon", "tue", "wed", "thu", "fri"]
    unnumbered = {key: value for key, value in demo.demo_facility(8).items() if key != "id"}
    assert register(db, rule_sets, unnumbered)["id"] == "fac-0008"
    with pytest.raises(Conflict):
        register(db, rule_sets, demo.demo_facility(7))


def test_facility_checks_beyond_the_schema_are_field_less_input_errors(db, rule_sets):
    data = validate(FacilityInput(rule_sets), {k: v for k, v in demo.demo_facility(1).items() if k != "id"})
    with pytest.raises(InvalidInput) as refused:
        facilities.checked("fac-0001", {**data, "licensed_capacity": 0})
    assert refused.value.errors == {"_schema": ["facility fac-0001: licensed_capacity must be at least 1"]}


def test_what_an_enrolled_child_counts_for_depends_on_the_rule_set(make_facility, make_candidate, kg2013, kg2024,
                                                                   dutch, vulnerable):
    family = make_candidate("r-1", **dutch, **vulnerable)
    assert enrollment_counts(family, make_facility(), kg2013) == {
        "counts_dutch_priority": True, "counts_vulnerable": True, "counts_other_families": False}
    kg2024_facility = make_facility(rule_set="kg-2024")
    assert enrollment_counts(family, kg2024_facility, kg2024)["counts_other_families"]  # in no absolute group
    foster = make_candidate("r-2", foster_child=True)
    assert not enrollment_counts(foster, kg2024_facility, kg2024)["counts_other_families"]
    assert enrollment_counts(family, None, kg2013) == {
        "counts_dutch_priority": True, "counts_vulnerable": False, "counts_other_families": False}


def test_a_facility_sees_the_dossiers_that_chose_it_urgent_ones_and_its_enrolled_ones(db, apply, registration_event,
                                                                                    make_candidate):
    apply(registration_event("dossier_registered", [make_candidate("r-1", facility_ids=("fac-0001",))], 1))
    apply(registration_event("dossier_registered", [make_candidate("r-2", facility_ids=("fac-0002",), urgent=True)], 1))
    apply(registration_event("dossier_registered", [make_candidate("r-3", facility_ids=("fac-0001",),
                                                                   status="cancelled")], 1))
    apply(registration_event("dossier_registered", [make_candidate("r-4", facility_ids=("fac-0001", "fac-0003"),
                                                                   status="enrolled")], 1, enrolled={"r-4": "fac-0003"}))
    apply(registration_event("dossier_registered", [make_candidate("r-5", facility_ids=("fac-0001",),
                                                                   status="enrolled")], 1, enrolled={"r-5": "fac-0001"}))
    with db.transaction() as session:
        assert dossiers.visible_to_facility(session, "fac-0001") == ["d-r-1", "d-r-2", "d-r-5"]
        assert dossiers.visible_to_facility(session, "fac-0003") == ["d-r-2", "d-r-4"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_the_export_holds_everything_and_erasure_leaves_nothing_personal(db, rule_sets, apply, registration_event,
                                                                        make_candidate, dutch):
    register(db, rule_sets, {**demo.demo_facility(1), "staff_dossier_ids": ["d-r-1", "d-other"]})
    enrolled = make_candidate("r-1", status="enrolled", **dutch)
    apply(registration_event("request_enrolled", [enrolled], 2, enrolled={"r-1": "fac-0001"}, request_id="r-1",
                             facility_id="fac-0001"))
    with db.transaction() as session:
        export = dossiers.personal_data(session, "d-r-1")
    assert export["restricted"] is False and export["staff_of_facilities"] == ["fac-0001"]
    assert [r["request_id"] for r in export["requests"]] == ["r-1"] and export["requests"][0]["priority"]["dutch_proficiency"]
    assert export["enrollments"][0]["counts_dutch_priority"]

    with db.transaction() as session:
        erased, change = erasure.erase_dossier(session, "d-r-1")
    assert erased == 4  # staff list, dossier, enrollment, request
    assert change.candidates == () and change.revision > 0
    with db.transaction() as session:
        assert dossiers.personal_data(session, "d-r-1") == {
            "dossier_id": "d-r-1", "restricted": None, "requests": [], "offers": [], "enrollments": [],
            "staff_of_facilities": []}
        assert session.get(FacilityRow, "fac-0001").staff_dossier_ids == ["d-other"]
        [kept] = session.scalars(select(EnrollmentRow)).all()
    assert (kept.facility_id, kept.request_id, kept.dossier_id) == ("fac-0001", None, None)  # occupancy stands


def test_the_demo_facilities_load_once(db):
    with db.transaction() as session:
        assert demo.load(session, NOW) == demo.COUNT
    with db.transaction() as session:
        assert demo.load(session, NOW) == 0
        ids = session.scalars(select(FacilityRow.id).order_by(FacilityRow.id)).all()
        rule_sets = {row.rule_set for row in session.scalars(select(FacilityRow))}
    assert ids[0] == "fac-0001" and ids[-1] == "fac-0050" and len(ids) == 50
    assert rule_sets == {"kg-2013", "kg-2024"}
