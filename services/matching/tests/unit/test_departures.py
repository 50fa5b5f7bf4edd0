"""Departures on the real tables: a child stops counting in its facility's occupancy from the day it
left, so the quotas a ranking computes have room again; recorded once per enrollment, with its event;
an erased dossier's enrollment can still leave, and an erasure unlinks a departure like any enrollment."""
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from loket.errors import Conflict, InvalidInput, NotFound
from loket.tables import outbox
from matching import departures, dossiers, erasure, facilities, occupancy
from matching.demo import demo_facility
from matching.models import DossierRow, EnrollmentRow, FreePlaceRow, OfferRow
from matching.ranking import rank
from matching.schemas import DepartureInput, FacilityInput, validate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
START = date(2026, 9, 1)  # the free place's start date (conftest's make_place)
MANAGER = "manager-fac-0001"


@pytest.fixture
def facility(db, rule_sets):
    """2 licensed places: 1 seat for the Dutch-language share (50 %), 1 for vulnerable families (20 %, rounded up)."""
    payload = {**demo_facility(1), "licensed_capacity": 2, "dutch_share": 0.5, "income_related_tariff": True,
               "extra_rules": [], "rule_set": "kg-2013"}
    with db.transaction() as session:
        facilities.register(session, NOW, validate(FacilityInput(rule_sets), payload))
        facilities.register(session, NOW, validate(FacilityInput(rule_sets), demo_facility(2)))
        return facilities.get(session, "fac-0001")


def enroll(db, candidate, facility, rule_set, offer_events=0) -> int:
    """The child of `candidate` enrolled at `facility` (as registration's request_enrolled does it)."""
    with db.transaction() as session:
        session.add(DossierRow(dossier_id=candidate.dossier_id, applied_sequence=3, restricted=False, erased=False,
                               offer_sequence=offer_events, revision=1))
        session.flush()
        occupancy.record_enrollment(session, candidate, facility.id, facility, rule_set, NOW)
        return session.scalar(select(EnrollmentRow.id).where(EnrollmentRow.request_id == candidate.request_id))


def depart(db, recorder, left_on, facility_id="fac-0001", **which) -> dict:
    data = validate(DepartureInput(NOW.date()), {"left_on": left_on, **which})
    with db.transaction() as session:
        return departures.view(departures.record(session, NOW, facility_id, data, MANAGER, recorder))


def occupancy_on(db, day, facility_id="fac-0001"):
    with db.transaction() as session:
        return occupancy.current(session, facility_id, day)


def events(db):
    with db.transaction() as session:
        return [json.loads(body) for body in session.scalars(select(outbox.c.body).order_by(outbox.c.id))]


def test_a_departure_gives_the_ranking_room_in_both_shares_again(db, recorder, facility, kg2013, make_candidate,
                                                                 make_place, dutch, vulnerable, ids):
    enroll(db, make_candidate("gone", status="enrolled", **dutch, **vulnerable), facility, kg2013)
    at = lambda day: datetime(2026, 1, day, 9, tzinfo=timezone.utc)  # noqa: E731
    candidates = [make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch),
                  make_candidate("vul", registered_at=at(6), health_or_care_situation=True,
                                 no_secondary_diploma=True)]

    full = occupancy_on(db, START)
    assert (full.enrolled, full.enrolled_dutch_priority, full.enrolled_vulnerable) == (1, 1, 1)
    before = rank(facility, full, make_place(), candidates, kg2013)
    assert ids(before) == ["early", "nl", "vul"]  # both shares full: registration order
    assert not any(c.dutch_priority for c in before.candidates)
    assert before.notes[:2] == ("Dutch-language share: 1 of 1 seats taken (no priority now)",
                                "Vulnerable families: 1 of the 1 places the 20 % minimum asks (no priority now)")

    depart(db, recorder, START.isoformat(), request_id="gone")
    room = occupancy_on(db, START)
    assert (room.enrolled, room.enrolled_dutch_priority, room.enrolled_vulnerable) == (0, 0, 0)
    after = rank(facility, room, make_place(), candidates, kg2013)
    assert ids(after) == ["nl", "vul", "early"]
    assert after.candidates[0].dutch_priority
    assert after.notes[:2] == ("Dutch-language share: 0 of 1 seats taken (priority applies)",
                               "Vulnerable families: 0 of the 1 places the 20 % minimum asks (priority applies)")


def test_a_child_counts_until_the_day_before_it_leaves(db, recorder, facility, kg2013, make_candidate, dutch):
    first = enroll(db, make_candidate("r-1", status="enrolled", **dutch), facility, kg2013)
    enroll(db, make_candidate("r-2", status="enrolled"), facility, kg2013)
    depart(db, recorder, START.isoformat(), enrollment_id=first)
    on_the_eve, on_the_day = occupancy_on(db, START - timedelta(days=1)), occupancy_on(db, START)
    assert (on_the_eve.enrolled, on_the_eve.enrolled_dutch_priority) == (2, 1)
    assert (on_the_day.enrolled, on_the_day.enrolled_dutch_priority) == (1, 0)
    with db.transaction() as session:
        assert [row.request_id for row in occupancy.present(session, "fac-0001", START)] == ["r-2"]
        assert [row.request_id for row in occupancy.present(session, "fac-0001", NOW.date())] == ["r-1", "r-2"]


def test_a_departure_is_recorded_once_with_its_event_in_the_dossiers_order(db, recorder, facility, kg2013,
                                                                           make_candidate):
    enrollment_id = enroll(db, make_candidate("r-1", status="enrolled"), facility, kg2013, offer_events=2)
    recorded = depart(db, recorder, "2026-04-01", request_id="r-1")
    assert recorded == {"enrollment_id": enrollment_id, "facility_id": "fac-0001", "request_id": "r-1",
                        "dossier_id": "d-r-1", "enrolled_at": NOW.isoformat(), "left_on": "2026-04-01",
                        "departure_recorded_at": NOW.isoformat()}
    [event] = events(db)
    assert (event["type"], event["aggregate_id"], event["sequence"]) == ("matching.departure_recorded", "d-r-1", 3)
    assert event["data"] == {"enrollment_id": enrollment_id, "facility_id": "fac-0001", "dossier_id": "d-r-1",
                             "request_id": "r-1", "left_on": "2026-04-01"}

    with pytest.raises(Conflict, match="already recorded"):
        depart(db, recorder, "2026-05-01", request_id="r-1")
    with pytest.raises(Conflict):
        depart(db, recorder, "2026-04-01", enrollment_id=enrollment_id)
    with db.transaction() as session:
        row = session.get(EnrollmentRow, enrollment_id)
        assert (row.left_on, row.departure_recorded_by) == (date(2026, 4, 1), MANAGER)
        assert session.get(DossierRow, "d-r-1").offer_sequence == 3
    assert len(events(db)) == 1


def test_only_the_facilitys_own_enrollments_leave_and_not_before_they_began(db, recorder, facility, kg2013,
                                                                            make_candidate):
    enrollment_id = enroll(db, make_candidate("r-1", status="enrolled"), facility, kg2013)
    with pytest.raises(NotFound):
        depart(db, recorder, "2026-04-01", request_id="r-unknown")
    with pytest.raises(NotFound):
        depart(db, recorder, "2026-04-01", enrollment_id=enrollment_id + 1)
    with pytest.raises(NotFound):  # enrolled at fac-0001, not at fac-0002
        depart(db, recorder, "2026-04-01", facility_id="fac-0002", request_id="r-1")
    with pytest.raises(InvalidInput) as early:
        depart(db, recorder, "2026-03-01", request_id="r-1")
    assert early.value.errors == {"left_on": ["The child cannot leave before its enrollment (2026-03-02)."]}
    with db.transaction() as session:
        row = session.get(EnrollmentRow, enrollment_id)
        assert (row.left_on, row.departure_recorded_at, row.departure_recorded_by) == (None, None, None)
        assert session.get(DossierRow, "d-r-1").offer_sequence == 0
    assert events(db) == [] and occupancy_on(db, START).enrolled == 1


def test_the_accepted_offer_of_a_child_who_left_holds_no_seat_again(db, recorder, facility, kg2013, make_candidate,
                                                                     dutch):
    enroll(db, make_candidate("r-1", status="enrolled", **dutch), facility, kg2013)
    with db.transaction() as session:
        session.add(FreePlaceRow(place_id="p-1", facility_id="fac-0001", start_date=NOW.date(),
                                 weekdays={"mon": "full"}, min_age_months=0, max_age_months=36, status="filled",
                                 declared_at=NOW, declared_by=MANAGER))
        session.add(OfferRow(offer_id="o-1", place_id="p-1", facility_id="fac-0001", request_id="r-1",
                             dossier_id="d-r-1", status="accepted", answer_deadline=NOW, rule_set_version="kg-2013",
                             position=1, reasons=[], dutch_priority=True, made_at=NOW, made_by=MANAGER))
    depart(db, recorder, "2026-04-01", request_id="r-1")
    after = occupancy_on(db, date(2026, 4, 1))
    assert (after.enrolled_dutch_priority, after.open_dutch_priority_offers) == (0, 0)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_an_erased_dossiers_child_leaves_by_its_enrollment_id_and_the_event_names_no_dossier(db, recorder, facility,
                                                                                              kg2013, make_candidate,
                                                                                              vulnerable):
    enrollment_id = enroll(db, make_candidate("r-1", status="enrolled", **vulnerable), facility, kg2013)
    with db.transaction() as session:
        erasure.erase_dossier(session, "d-r-1")
    assert occupancy_on(db, START).enrolled_vulnerable == 1  # the facility still cares for the child
    with pytest.raises(NotFound):
        depart(db, recorder, "2026-04-01", request_id="r-1")
    recorded = depart(db, recorder, "2026-04-01", enrollment_id=enrollment_id)
    assert (recorded["request_id"], recorded["dossier_id"]) == (None, None)
    [event] = events(db)
    assert (event["aggregate_id"], event["sequence"]) == (f"enrollment-{enrollment_id}", 1)
    assert (event["data"]["dossier_id"], event["data"]["request_id"]) == (None, None)
    assert occupancy_on(db, START).enrolled_vulnerable == 0


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_the_export_shows_the_departure_and_an_erasure_unlinks_it(db, recorder, facility, kg2013, make_candidate):
    enrollment_id = enroll(db, make_candidate("r-1", status="enrolled"), facility, kg2013)
    depart(db, recorder, "2026-04-01", request_id="r-1")
    with db.transaction() as session:
        assert dossiers.personal_data(session, "d-r-1")["enrollments"][0]["left_on"] == "2026-04-01"
        erased, _ = erasure.erase_dossier(session, "d-r-1")
    assert erased == 2  # the dossier, the enrollment
    with db.transaction() as session:
        assert dossiers.personal_data(session, "d-r-1")["enrollments"] == []
        row = session.get(EnrollmentRow, enrollment_id)
        assert (row.request_id, row.dossier_id, row.left_on) == (None, None, date(2026, 4, 1))
