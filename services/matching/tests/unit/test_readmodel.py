"""The read model kept from registration's events, on the real tables (SQLite; erasure on PostgreSQL
too): order, idempotency, restriction, enrollment, erasure, and the candidate index of every process
kept in step."""
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from loket.contracts import envelope
from loket.tables import outbox
from matching import facilities, occupancy, readmodel
from matching.candidates import CandidatePool
from matching.demo import demo_facility
from matching.models import DossierRow, EnrollmentRow, FreePlaceRow, OfferRow, RequestFacilityRow, RequestRow
from matching.projection import claim_all
from matching.schemas import FacilityInput, validate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def facility(db, rule_sets):
    """fac-0001 of the demo set (kg-2013, capacity 21, Dutch share 40 %, answer window 14 days)."""
    with db.transaction() as session:
        return facilities.facility_from_row(
            facilities.register(session, NOW, validate(FacilityInput(rule_sets), demo_facility(1))))


@pytest.fixture
def apply(db, rule_sets, recorder):
    """apply(*events) -> the dossier changes, as the projection applies one batch."""
    def run(*events):
        with db.transaction() as session:
            fresh = claim_all(session, list(events))
            return readmodel.apply_events(session, [(event, recorder) for event in fresh], rule_sets)
    return run


def stored(db, model, **where):
    with db.transaction() as session:
        return session.scalars(select(model).filter_by(**where)).all()


def published(db):
    with db.transaction() as session:
        return [json.loads(body) for body in session.scalars(select(outbox.c.body).order_by(outbox.c.id))]


def test_a_registration_stores_the_requests_and_their_chosen_facilities(db, apply, registration_event,
                                                                        make_candidate):
    candidate = make_candidate("r-1", facility_ids=("fac-0001", "fac-0002"))
    [change] = apply(registration_event("dossier_registered", [candidate], 1))
    assert change.dossier_id == "d-r-1" and change.candidates == (candidate,) and not change.restricted
    [row] = stored(db, RequestRow)
    assert readmodel.candidate_from_row(row) == candidate
    assert sorted(r.facility_id for r in stored(db, RequestFacilityRow)) == ["fac-0001", "fac-0002"]
    assert stored(db, DossierRow)[0].applied_sequence == 1


def test_an_older_or_redelivered_event_changes_nothing(db, apply, registration_event, make_candidate):
    first = registration_event("dossier_registered", [make_candidate("r-1", facility_ids=("fac-0001",))], 1)
    newer = registration_event("facilities_changed", [make_candidate("r-1", facility_ids=("fac-0002",))], 2,
                               changed_by={"role": "parent", "actor_id": "a-1"}, request_id="r-1")
    # in one batch, in the wrong order, the first one twice: the newest snapshot wins, each event counts once
    [change] = apply(newer, first, first)
    assert change.candidates[0].facility_ids == ("fac-0002",)
    assert apply(first) == [] and apply(newer) == []
    older_again = dict(first, id="another-delivery")
    assert apply(older_again) == []
    assert [r.facility_id for r in stored(db, RequestFacilityRow)] == ["fac-0002"]
    assert stored(db, DossierRow)[0].applied_sequence == 2


def test_a_restricted_dossier_is_kept_but_leaves_the_candidate_index(db, apply, registration_event, make_candidate):
    pool = CandidatePool()
    candidate = make_candidate("r-1")
    for change in apply(registration_event("dossier_registered", [candidate], 1)):
        pool.apply(change)
    assert pool.candidates_for("fac-0001") == [candidate]
    for change in apply(registration_event("dossier_updated", [candidate], 2, restricted=True,
                                           changed_by={"role": "parent", "actor_id": "a-1"},
                                           changed_sections=["restriction"])):
        pool.apply(change)
    assert pool.candidates_for("fac-0001") == [] and len(stored(db, RequestRow)) == 1
    assert stored(db, DossierRow)[0].restricted


def test_an_enrollment_counts_for_the_facility_with_the_dossier_of_that_moment(db, apply, registration_event,
                                                                              make_candidate, facility, dutch,
                                                                              vulnerable):
    enrolled = make_candidate("r-1", status="enrolled", **dutch, **vulnerable)
    event = registration_event("request_enrolled", [enrolled], 3, enrolled={"r-1": "fac-0001"}, request_id="r-1",
                               facility_id="fac-0001")
    apply(event)
    apply(dict(event, id="redelivered-with-another-id"))
    with db.transaction() as session:
        current = occupancy.current(session, "fac-0001", datetime.fromisoformat(event["occurred_at"]).date())
    assert (current.enrolled, current.enrolled_dutch_priority, current.enrolled_vulnerable) == (1, 1, 1)
    assert current.enrolled_other_families == 0  # kg-2013 has no "other families" quota
    [row] = stored(db, EnrollmentRow)
    assert row.enrolled_at == datetime.fromisoformat(event["occurred_at"])


def test_an_event_that_cannot_be_applied_is_refused_and_changes_nothing(db, apply, registration_event,
                                                                        make_candidate):
    event = registration_event("dossier_registered", [make_candidate("r-1")], 1)
    event["data"]["dossier"]["requests"][0]["child_id"] = "no-such-child"
    with pytest.raises(readmodel.UnusableEvent):
        apply(event)
    assert stored(db, DossierRow) == [] and stored(db, RequestRow) == []


def test_an_open_offer_lapses_when_its_request_is_cancelled(db, apply, registration_event, make_candidate, facility,
                                                            offer_to):
    candidate = make_candidate("r-1")
    apply(registration_event("dossier_registered", [candidate], 1))
    offer = offer_to(facility, candidate)
    cancelled = make_candidate("r-1", status="cancelled")
    apply(registration_event("request_cancelled", [cancelled], 2, request_id="r-1", reason=None,
                             cancelled_by={"role": "parent", "actor_id": "a-1"}))
    [row] = stored(db, FreePlaceRow)
    assert row.status == "open" and stored(db, OfferRow)[0].status == "lapsed"
    made, lapsed = published(db)
    assert (made["type"], lapsed["type"]) == ("matching.offer_made", "matching.offer_lapsed")
    assert lapsed["data"]["offer_id"] == offer.offer_id and lapsed["aggregate_id"] == "d-r-1"
    assert (made["sequence"], lapsed["sequence"]) == (1, 2)  # matching's own sequence per dossier


def test_an_open_offer_stays_while_the_request_can_still_take_it(db, apply, registration_event, make_candidate,
                                                                 facility, offer_to):
    candidate = make_candidate("r-1")
    apply(registration_event("dossier_registered", [candidate], 1))
    offer_to(facility, candidate)
    apply(registration_event("dossier_updated", [make_candidate("r-1", urgent=True, facility_ids=("fac-0009",))], 2,
                             changed_by={"role": "helpdesk", "actor_id": "s-1"}, changed_sections=["situation"]))
    assert stored(db, OfferRow)[0].status == "open"  # no longer chosen, but urgent: every facility may offer


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_an_erased_dossier_leaves_a_tombstone_that_later_events_cannot_revive(db, apply, registration_event,
                                                                              make_candidate, facility, offer_to):
    candidate = make_candidate("r-1")
    apply(registration_event("dossier_registered", [candidate], 1))
    offer_to(facility, candidate)
    erased = envelope("registration.dossier_erased", {"dossier_id": "d-r-1"}, aggregate_id="d-r-1", sequence=5,
                      producer="registration")
    [change] = apply(erased)
    assert change.candidates == () and stored(db, RequestRow) == []
    [offer] = stored(db, OfferRow)
    assert (offer.status, offer.dossier_id, offer.request_id, offer.reasons) == ("lapsed", None, None, None)
    assert stored(db, FreePlaceRow)[0].status == "open"
    assert [e["type"] for e in published(db)] == ["matching.offer_made"]  # no event about an erased dossier
    assert apply(registration_event("dossier_updated", [candidate], 6, changed_by={"role": "parent", "actor_id": "a"},
                                    changed_sections=["contact"])) == []
    assert stored(db, RequestRow) == [] and stored(db, DossierRow)[0].erased


def test_every_process_catches_up_on_the_changes_another_one_made(db, apply, registration_event, make_candidate):
    """Two instances: A handles the events, B only ranks; B's index follows through the revisions."""
    instance_a, instance_b = CandidatePool(), CandidatePool()
    with db.transaction() as session:
        instance_b.load(session)
    for n in range(3):
        for change in apply(registration_event("dossier_registered", [make_candidate(f"r-{n}")], 1)):
            instance_a.apply(change)
    later = make_candidate("r-0", facility_ids=("fac-0002",))
    for change in apply(registration_event("facilities_changed", [later], 2, request_id="r-0",
                                           changed_by={"role": "parent", "actor_id": "a"})):
        instance_a.apply(change)
    assert len(instance_b) == 0
    with db.transaction() as session:
        assert instance_b.catch_up(session) == 3
        assert instance_b.catch_up(session) == 0  # nothing new
    for pool in (instance_a, instance_b):
        assert sorted(c.request_id for c in pool.candidates_for("fac-0001")) == ["r-1", "r-2"]
        assert pool.candidates_for("fac-0002") == [later]


def test_a_change_older_than_what_the_index_holds_is_ignored(make_candidate):
    from matching.revisions import DossierChange
    pool = CandidatePool()
    newer, older = make_candidate("r-1", facility_ids=("fac-0002",)), make_candidate("r-1")
    assert pool.apply(DossierChange("d-r-1", 7, False, (newer,)))
    assert not pool.apply(DossierChange("d-r-1", 5, False, (older,)))
    assert not pool.apply(DossierChange("d-r-1", 7, False, (older,)))
    assert pool.candidates_for("fac-0002") == [newer] and pool.candidates_for("fac-0001") == []


def test_loading_rebuilds_the_index_from_the_tables(db, apply, registration_event, make_candidate):
    apply(registration_event("dossier_registered", [make_candidate("r-1"), make_candidate("r-2")], 1, dossier_id="d-1"))
    apply(registration_event("dossier_registered", [make_candidate("r-3", status="cancelled")], 1))
    pool = CandidatePool()
    with db.transaction() as session:
        assert pool.load(session) == 2
        revision = session.execute(select(func.max(DossierRow.revision))).scalar_one()
    assert pool.revision == revision
    assert sorted(c.request_id for c in pool.candidates_for("fac-0001")) == ["r-1", "r-2"]


def test_candidates_loaded_from_the_tables_share_their_common_values(db, apply, registration_event, make_candidate):
    for n in (1, 2):
        apply(registration_event("dossier_registered", [make_candidate(f"r-{n}", facility_ids=("fac-0001", "fac-0002"))],
                                 1))
    pool = CandidatePool()
    with db.transaction() as session:
        pool.load(session)
    first, second = pool.get("r-1"), pool.get("r-2")
    assert first == make_candidate("r-1", facility_ids=("fac-0001", "fac-0002"))
    assert first.facility_ids is second.facility_ids and first.priority is second.priority
    assert first.care_plan is second.care_plan and first.desired_start_date is second.desired_start_date
    with pytest.raises(TypeError):
        first.care_plan["wed"] = "full"  # shared, so read-only
