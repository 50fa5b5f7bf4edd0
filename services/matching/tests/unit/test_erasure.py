"""Erasing dossiers in batches (retention erases thousands at once) on the real tables, SQLite and
PostgreSQL: one batch leaves the tables exactly as erasing its dossiers one by one does, and counts
the same rows per dossier; the rule itself (erasure.py's docstring) checked on every kind of dossier."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from matching import erasure, facilities, offers, readmodel
from matching.candidates import CandidatePool
from matching.demo import demo_facility
from matching.models import (DossierRow, EnrollmentRow, FacilityRow, FreePlaceRow, OfferRow, RequestFacilityRow,
                             RequestRow)
from matching.projection import claim_all
from matching.ranking import RankedCandidate
from matching.revisions import current_revision
from matching.schemas import FacilityInput, validate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
BOTH = pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
# The batch: an open offer, an enrolled child, a staff member's dossier (on two staff lists), one
# unknown to matching, one named twice, and one erased before.
BATCH = ["d-offer", "d-enrolled", "d-staff", "d-unknown", "d-twice", "d-twice", "d-gone"]
ROWS_ERASED = {
    "d-offer": 4,  # two offers (the open one, a declined one), the request, the dossier
    "d-enrolled": 3,  # the enrollment, the request, the dossier
    "d-staff": 4,  # two staff lists, the request, the dossier
    "d-unknown": 0,  # nothing but a tombstone
    "d-twice": 2,  # the request, the dossier: once
    "d-gone": 0,  # erased before
}


class _Undone(Exception):
    """Rolls the transaction back: both ways of erasing start from the same tables."""


def erased_then_undone(db, erase):
    """(what `erase(session)` returned, the tables it left), in a transaction then rolled back."""
    try:
        with db.transaction() as session:
            result = erase(session)
            tables = contents(session)
            raise _Undone
    except _Undone:
        return result, tables


def contents(session) -> dict:
    """Every table erasure touches, in a stable order (revisions aside: one batch bumps once)."""
    tables = {}
    for model in (DossierRow, RequestRow, RequestFacilityRow, OfferRow, FreePlaceRow, EnrollmentRow, FacilityRow):
        table = model.__table__
        columns = [column for column in table.c if column.name != "revision"]
        tables[table.name] = sorted((tuple(row) for row in session.execute(select(*columns))), key=repr)
    return tables


def register(db, rule_sets, facility_id, staff):
    with db.transaction() as session:
        return facilities.facility_from_row(facilities.register(session, NOW, validate(
            FacilityInput(rule_sets), {**demo_facility(facility_id), "staff_dossier_ids": staff})))


def offer(db, facility, candidate, recorder, place_id):
    """An open offer of a fresh place of `facility` to `candidate`."""
    with db.transaction() as session:
        place = FreePlaceRow(place_id=place_id, facility_id=facility.id, start_date=candidate.desired_start_date,
                             weekdays={"mon": "full"}, min_age_months=0, max_age_months=36, status="open",
                             declared_at=NOW, declared_by="m-1")
        session.add(place)
        session.flush()
        ranked = RankedCandidate(candidate.request_id, candidate.dossier_id, 1, ["Fits"], dutch_priority=False)
        return offers.make(session, NOW, offers.new_offer_id(), facility, place, ranked, "kg-2013", "m-1",
                           recorder).offer_id


@pytest.fixture
def dossiers(db, rule_sets, recorder, registration_event, make_candidate):
    """The dossiers of BATCH, and d-kept, which no erasure here touches (on a staff list, an open offer)."""
    def apply(*events):
        with db.transaction() as session:
            fresh = claim_all(session, list(events))
            readmodel.apply_events(session, [(event, recorder) for event in fresh], rule_sets)

    first = register(db, rule_sets, 1, ["d-staff", "d-kept"])
    register(db, rule_sets, 2, ["d-staff"])
    candidates = {name: make_candidate(f"r-{name}", dossier_id=f"d-{name}") for name in
                  ("offer", "staff", "twice", "gone", "kept")}
    apply(*(registration_event("dossier_registered", [candidate], 1) for candidate in candidates.values()))
    enrolled = make_candidate("r-enrolled", dossier_id="d-enrolled", status="enrolled")
    apply(registration_event("request_enrolled", [enrolled], 2, enrolled={"r-enrolled": "fac-0001"},
                             request_id="r-enrolled", facility_id="fac-0001"))
    declined = offer(db, first, candidates["offer"], recorder, "place-declined")
    with db.transaction() as session:
        offers.answer(session, NOW, declined, False, "parent", recorder)
    offer(db, first, candidates["offer"], recorder, "place-open")
    offer(db, first, candidates["kept"], recorder, "place-kept")
    with db.transaction() as session:
        erasure.erase_dossier(session, "d-gone")
    return candidates


@BOTH
def test_a_batch_leaves_the_tables_as_erasing_one_by_one_does_and_counts_the_same_rows(db, dossiers):
    def one_by_one(session):
        rows = {}
        for dossier_id in BATCH:  # d-twice a second time finds nothing left
            rows[dossier_id] = rows.get(dossier_id, 0) + erasure.erase_dossier(session, dossier_id)[0]
        return rows

    batch_rows, batch_tables = erased_then_undone(db, lambda session: erasure.erase_dossiers(session, BATCH)[0])
    single_rows, single_tables = erased_then_undone(db, one_by_one)
    assert batch_rows == single_rows == ROWS_ERASED
    assert batch_tables == single_tables


@BOTH
def test_a_batch_erases_everything_about_its_dossiers_and_nothing_else(db, dossiers):
    with db.transaction() as session:
        erased, changes = erasure.erase_dossiers(session, BATCH)
        revision = current_revision(session)
    assert erased == ROWS_ERASED
    assert [(c.dossier_id, c.revision, c.restricted, c.candidates) for c in changes] == [
        (dossier_id, revision, False, ()) for dossier_id in dict.fromkeys(BATCH)]  # one bump for the batch
    with db.transaction() as session:
        tombstones = {row.dossier_id: row for row in session.scalars(select(DossierRow).where(DossierRow.erased))}
        assert sorted(tombstones) == sorted(set(BATCH))
        assert tombstones["d-unknown"].applied_sequence == 0 and not tombstones["d-offer"].restricted
        assert [row.dossier_id for row in session.scalars(select(DossierRow).where(~DossierRow.erased))] == ["d-kept"]
        assert session.scalars(select(RequestRow.dossier_id)).all() == ["d-kept"]
        assert session.scalars(select(RequestFacilityRow.request_id)).all() == ["r-kept"]
        assert {row.id: row.staff_dossier_ids for row in session.scalars(select(FacilityRow))} == {
            "fac-0001": ["d-kept"], "fac-0002": []}
        by_place = {row.place_id: row for row in session.scalars(select(OfferRow))}
        assert {place: (row.status, row.dossier_id, row.request_id, row.reasons is None)
                for place, row in by_place.items()} == {
            "place-declined": ("declined", None, None, True), "place-open": ("lapsed", None, None, True),
            "place-kept": ("open", "d-kept", "r-kept", False)}
        assert {row.place_id: row.status for row in session.scalars(select(FreePlaceRow))} == {
            "place-declined": "open", "place-open": "open", "place-kept": "offered"}
        [enrollment] = session.scalars(select(EnrollmentRow)).all()
        assert (enrollment.facility_id, enrollment.request_id, enrollment.dossier_id) == ("fac-0001", None, None)


@BOTH
def test_the_changes_take_the_batch_out_of_every_candidate_index(db, dossiers):
    with db.transaction() as session:
        here, elsewhere = CandidatePool(), CandidatePool()
        here.load(session)
        elsewhere.load(session)
    assert len(here) == 4  # offer, staff, twice, kept: active (d-gone erased, d-enrolled enrolled)
    with db.transaction() as session:
        _, changes = erasure.erase_dossiers(session, BATCH)
    for change in changes:
        here.apply(change)
    with db.transaction() as session:
        elsewhere.catch_up(session)
    assert [c.request_id for c in here.candidates_for("fac-0001")] == ["r-kept"]
    assert [c.request_id for c in elsewhere.candidates_for("fac-0001")] == ["r-kept"]


@BOTH
def test_registrations_dossier_erased_keeps_its_sequence_on_the_tombstone(db, dossiers):
    with db.transaction() as session:
        erasure.erase_dossiers(session, ["d-offer", "d-new"], {"d-offer": 9, "d-new": 4})
        assert erasure.erase_dossiers(session, []) == ({}, [])
    with db.transaction() as session:
        assert {row.dossier_id: row.applied_sequence for row in session.scalars(
            select(DossierRow).where(DossierRow.dossier_id.in_(["d-offer", "d-new"])))} == {"d-offer": 9, "d-new": 4}
