"""Offers on the real tables: one open offer per request and per place, answers, lapse by the clock,
and the Dutch-language seats offers hold until the enrollment arrives."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from loket.errors import Conflict, NotFound
from loket.tables import outbox
from matching import facilities, occupancy, offers
from matching.demo import demo_facility
from matching.models import DossierRow, EnrollmentRow, FreePlaceRow, OfferRow
from matching.ranking import RankedCandidate
from matching.schemas import FacilityInput, validate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def facility(db, rule_sets):
    with db.transaction() as session:
        row = facilities.register(session, NOW, validate(FacilityInput(rule_sets), demo_facility(3)))  # 10-day window
        for dossier_id in ("d-1", "d-2"):
            session.add(DossierRow(dossier_id=dossier_id, applied_sequence=1, restricted=False, erased=False,
                                   offer_sequence=0, revision=1))
        return facilities.facility_from_row(row)


def new_place(db, facility, place_id):
    with db.transaction() as session:
        session.add(FreePlaceRow(place_id=place_id, facility_id=facility.id, start_date=NOW.date(),
                                 weekdays={"mon": "full"}, min_age_months=0, max_age_months=36, status="open",
                                 declared_at=NOW, declared_by="m-1"))


def offer(db, facility, recorder, place_id, request_id="r-1", dossier_id="d-1", dutch=False, now=NOW):
    with db.transaction() as session:
        place = session.get(FreePlaceRow, place_id)
        ranked = RankedCandidate(request_id, dossier_id, 2, ["Work-related need", "Then by registration"], dutch)
        return offers.make(session, now, f"offer-{place_id}-{request_id}", facility, place, ranked, "kg-2013", "m-1",
                           recorder)


def answer(db, recorder, offer_id, accept, now=NOW):
    with db.transaction() as session:
        return offers.answer(session, now, offer_id, accept, "parent", recorder)


def status(db, model, key):
    with db.transaction() as session:
        return session.get(model, key).status


def events(db):
    with db.transaction() as session:
        return [json.loads(body) for body in session.scalars(select(outbox.c.body).order_by(outbox.c.id))]


def test_an_offer_holds_the_place_and_records_the_ranking_it_came_from(db, facility, recorder):
    new_place(db, facility, "p-1")
    made = offer(db, facility, recorder, "p-1")
    assert made.answer_deadline == NOW + timedelta(days=10) and made.position == 2
    assert made.reasons == ["Work-related need", "Then by registration"] and made.rule_set_version == "kg-2013"
    assert status(db, FreePlaceRow, "p-1") == "offered"
    [event] = events(db)
    assert event["type"] == "matching.offer_made" and event["aggregate_id"] == "d-1" and event["sequence"] == 1
    assert event["data"]["facility_name"] == facility.name and event["data"]["rule_set_version"] == "kg-2013"


def test_a_place_is_offered_once_and_a_request_holds_one_open_offer(db, facility, recorder):
    new_place(db, facility, "p-1")
    new_place(db, facility, "p-2")
    offer(db, facility, recorder, "p-1")
    with pytest.raises(Conflict, match="no longer open"):
        offer(db, facility, recorder, "p-1", request_id="r-2", dossier_id="d-2")
    with pytest.raises(Conflict, match="already holds open offer"):
        offer(db, facility, recorder, "p-2")
    assert status(db, FreePlaceRow, "p-2") == "open" and len(events(db)) == 1


def test_accepting_fills_the_place_declining_opens_it_and_a_second_answer_conflicts(db, facility, recorder):
    new_place(db, facility, "p-1")
    new_place(db, facility, "p-2")
    accepted = offer(db, facility, recorder, "p-1").offer_id
    declined = offer(db, facility, recorder, "p-2", request_id="r-2", dossier_id="d-2").offer_id
    assert answer(db, recorder, accepted, True).status == "accepted"
    assert answer(db, recorder, declined, False).status == "declined"
    assert (status(db, FreePlaceRow, "p-1"), status(db, FreePlaceRow, "p-2")) == ("filled", "open")
    with pytest.raises(Conflict, match="already accepted"):
        answer(db, recorder, accepted, False)
    with pytest.raises(NotFound):
        answer(db, recorder, "offer-unknown", True)
    by_dossier = [(e["aggregate_id"], e["sequence"], e["type"]) for e in events(db)]
    assert by_dossier == [("d-1", 1, "matching.offer_made"), ("d-2", 1, "matching.offer_made"),
                          ("d-1", 2, "matching.offer_accepted"), ("d-2", 2, "matching.offer_declined")]


def test_an_offer_lapses_after_its_window_and_not_before(db, facility, recorder):
    new_place(db, facility, "p-1")
    made = offer(db, facility, recorder, "p-1")
    deadline = made.answer_deadline
    with db.transaction() as session:
        assert offers.lapse_due(session, deadline, recorder, limit=10) == 0  # answering at the deadline is in time
    assert answer(db, recorder, made.offer_id, True, now=deadline).status == "accepted"

    new_place(db, facility, "p-2")
    late = offer(db, facility, recorder, "p-2", request_id="r-2", dossier_id="d-2")
    after = late.answer_deadline + timedelta(seconds=1)
    with pytest.raises(Conflict, match="answer window"):
        answer(db, recorder, late.offer_id, True, now=after)
    with db.transaction() as session:
        assert offers.lapse_due(session, after, recorder, limit=10) == 1
    assert status(db, OfferRow, late.offer_id) == "lapsed" and status(db, FreePlaceRow, "p-2") == "open"
    lapsed = events(db)[-1]
    assert lapsed["type"] == "matching.offer_lapsed" and lapsed["data"]["answer_deadline"] == deadline.isoformat()


def test_dutch_priority_offers_hold_a_seat_until_the_enrollment_is_counted(db, facility, recorder):
    new_place(db, facility, "p-1")
    new_place(db, facility, "p-2")
    first = offer(db, facility, recorder, "p-1", dutch=True)
    offer(db, facility, recorder, "p-2", request_id="r-2", dossier_id="d-2", dutch=False)

    def pending():
        with db.transaction() as session:
            return occupancy.current(session, facility.id, NOW.date()).open_dutch_priority_offers
    assert pending() == 1
    answer(db, recorder, first.offer_id, True)
    assert pending() == 1  # accepted, the enrollment not yet arrived from registration
    with db.transaction() as session:
        session.add(EnrollmentRow(request_id="r-1", dossier_id="d-1", facility_id=facility.id, enrolled_at=NOW,
                                  counts_dutch_priority=True, counts_vulnerable=False, counts_other_families=False))
    assert pending() == 0
    with db.transaction() as session:
        current = occupancy.current(session, facility.id, NOW.date())
    assert (current.enrolled, current.enrolled_dutch_priority) == (1, 1)


def test_still_offerable(make_candidate):
    assert offers.still_offerable(make_candidate("r-1", facility_ids=("fac-0001",)), "fac-0001")
    assert offers.still_offerable(make_candidate("r-1", facility_ids=("fac-0002",), urgent=True), "fac-0001")
    assert not offers.still_offerable(make_candidate("r-1", facility_ids=("fac-0002",)), "fac-0001")
    assert not offers.still_offerable(make_candidate("r-1", status="cancelled"), "fac-0001")
    assert not offers.still_offerable(None, "fac-0001")
