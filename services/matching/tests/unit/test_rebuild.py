"""Rebuilding the read model from registration's replay, on the real tables (SQLite; the reset on
PostgreSQL too): a replayed snapshot is applied like any snapshot, and only over something older;
the reset empties the read model but keeps tombstones and matching's own data, and every process's
candidate index follows it through the revisions."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from loket import contracts
from loket.contracts.registration_replay import DOSSIER_SNAPSHOT
from matching import facilities, rebuild, readmodel
from matching.candidates import CandidatePool
from matching.demo import demo_facility
from matching.models import DossierRow, EnrollmentRow, FacilityRow, OfferRow, RequestFacilityRow, RequestRow
from matching.projection import claim_all
from matching.samples import sample_snapshot
from matching.schemas import FacilityInput, validate
from matching.sequences import next_event_sequence

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PARENT = {"role": "parent", "actor_id": "a-1"}


def replay_event(candidates, sequence, dossier_id=None, **snapshot_options):
    """What registration's replay sends: the dossier's current snapshot at its current version."""
    dossier_id = dossier_id or candidates[0].dossier_id
    body = contracts.envelope(DOSSIER_SNAPSHOT, {"dossier": sample_snapshot(dossier_id, candidates, **snapshot_options)},
                              aggregate_id=dossier_id, sequence=sequence, producer="registration")
    return contracts.parse(body)  # what the consumer hands over: checked against the contract


@pytest.fixture
def apply(db, rule_sets, recorder):
    """apply(*events) -> the dossier changes, as the projection applies one batch."""
    def run(*events):
        with db.transaction() as session:
            return readmodel.apply_events(session, [(event, recorder) for event in claim_all(session, list(events))],
                                          rule_sets)
    return run


def rows(db, model):
    with db.transaction() as session:
        return session.scalars(select(model)).all()


def indexed(pool, db, facility_id="fac-0001"):
    """The request ids `pool` ranks for the facility after its catch-up."""
    with db.transaction() as session:
        pool.catch_up(session)
    return sorted(c.request_id for c in pool.candidates_for(facility_id))


def test_a_replayed_snapshot_is_applied_like_a_registration_event(db, apply, registration_event, make_candidate):
    [change] = apply(replay_event([make_candidate("r-1", facility_ids=("fac-0001", "fac-0002"))], 4))
    assert [c.request_id for c in change.candidates] == ["r-1"] and not change.restricted
    assert [r.request_id for r in rows(db, RequestRow)] == ["r-1"]
    assert sorted(r.facility_id for r in rows(db, RequestFacilityRow)) == ["fac-0001", "fac-0002"]
    assert rows(db, DossierRow)[0].applied_sequence == 4
    # the next registration event goes on from the replayed version
    later = make_candidate("r-1", facility_ids=("fac-0003",))
    assert apply(registration_event("facilities_changed", [later], 5, request_id="r-1", changed_by=PARENT))
    assert [r.facility_id for r in rows(db, RequestFacilityRow)] == ["fac-0003"]


def test_a_replay_not_newer_than_what_was_applied_changes_nothing(db, apply, registration_event, make_candidate):
    current = make_candidate("r-1", facility_ids=("fac-0002",))
    apply(registration_event("facilities_changed", [current], 3, request_id="r-1", changed_by=PARENT))
    assert apply(replay_event([make_candidate("r-1", facility_ids=("fac-0001",))], 3)) == []
    assert apply(replay_event([make_candidate("r-1", facility_ids=("fac-0001",))], 2)) == []
    assert [r.facility_id for r in rows(db, RequestFacilityRow)] == ["fac-0002"]
    assert rows(db, DossierRow)[0].applied_sequence == 3


def test_a_restricted_dossier_is_replayed_into_the_tables_but_not_into_the_index(db, apply, make_candidate):
    pool = CandidatePool()
    for change in apply(replay_event([make_candidate("r-1")], 2, restricted=True)):
        pool.apply(change)
    assert pool.candidates_for("fac-0001") == [] and len(rows(db, RequestRow)) == 1
    assert rows(db, DossierRow)[0].restricted


def test_a_replayed_enrolled_request_adds_no_enrollment(db, apply, make_candidate):
    enrolled = make_candidate("r-1", status="enrolled")
    apply(replay_event([enrolled], 3, enrolled_facility_ids={"r-1": "fac-0001"}))
    assert rows(db, RequestRow)[0].status == "enrolled" and rows(db, EnrollmentRow) == []


@pytest.fixture
def facility(db, rule_sets):
    with db.transaction() as session:
        return facilities.facility_from_row(
            facilities.register(session, NOW, validate(FacilityInput(rule_sets), demo_facility(1))))


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_the_reset_empties_the_read_model_and_keeps_tombstones_and_matchings_own_data(
        db, apply, registration_event, make_candidate, facility, offer_to):
    waiting, offered = make_candidate("r-1"), make_candidate("r-2")
    enrolled = make_candidate("r-3", status="enrolled")
    apply(registration_event("dossier_registered", [waiting], 1), registration_event("dossier_registered", [offered], 1),
          registration_event("request_enrolled", [enrolled], 4, enrolled={"r-3": "fac-0001"}, request_id="r-3",
                             facility_id="fac-0001"),
          registration_event("dossier_registered", [make_candidate("r-4")], 1))
    offer = offer_to(facility, offered)
    apply(contracts.envelope("registration.dossier_erased", {"dossier_id": "d-r-4"}, aggregate_id="d-r-4",
                             sequence=2, producer="registration"))
    process_a, process_b = CandidatePool(), CandidatePool()
    for pool in (process_a, process_b):
        assert indexed(pool, db) == ["r-1", "r-2"]

    with db.transaction() as session:
        reset = rebuild.reset_read_model(session)
    assert (reset.dossiers, reset.requests) == (3, 3)
    assert rows(db, RequestRow) == [] and rows(db, RequestFacilityRow) == []
    dossiers = {row.dossier_id: row for row in rows(db, DossierRow)}
    assert sorted(dossiers) == ["d-r-1", "d-r-2", "d-r-3", "d-r-4"]
    assert dossiers["d-r-4"].erased and dossiers["d-r-4"].applied_sequence == 2  # the tombstone, as it was
    assert {d: row.applied_sequence for d, row in dossiers.items() if not row.erased} == dict.fromkeys(
        ["d-r-1", "d-r-2", "d-r-3"], rebuild.NOT_APPLIED)
    assert all(row.revision == reset.revision for row in dossiers.values() if not row.erased)
    # matching's own data stays: the facility, the place and its open offer, the enrollment
    assert [f.id for f in rows(db, FacilityRow)] == ["fac-0001"]
    [kept_offer] = rows(db, OfferRow)
    assert (kept_offer.offer_id, kept_offer.status, kept_offer.request_id) == (offer.offer_id, "open", "r-2")
    assert [(e.request_id, e.facility_id) for e in rows(db, EnrollmentRow)] == [("r-3", "fac-0001")]
    # every process drops the candidates on its next catch-up, whoever reset
    for pool in (process_a, process_b):
        assert indexed(pool, db) == [] and len(pool) == 0

    # the replay brings them back, at the versions their last events carried; the erased one stays erased
    apply(replay_event([waiting], 1), replay_event([offered], 1),
          replay_event([enrolled], 4, enrolled_facility_ids={"r-3": "fac-0001"}),
          replay_event([make_candidate("r-4")], 1))
    for pool in (process_a, process_b):
        assert indexed(pool, db) == ["r-1", "r-2"]
    assert sorted(r.request_id for r in rows(db, RequestRow)) == ["r-1", "r-2", "r-3"]
    assert rows(db, OfferRow)[0].status == "open" and len(rows(db, EnrollmentRow)) == 1
    # matching's own sequence for the dossier goes on where it was (offer_made was 1)
    with db.transaction() as session:
        assert next_event_sequence(session, "d-r-2") == 2


def test_a_reset_of_nothing_changes_nothing(db):
    with db.transaction() as session:
        assert rebuild.reset_read_model(session) == rebuild.Reset(0, 0, None)


def test_the_command_resets_the_database_it_is_given(db, apply, make_candidate, capsys):
    apply(replay_event([make_candidate("r-1")], 1))
    assert rebuild.main(["rebuild", db.engine.url.render_as_string(hide_password=False)]) == 0
    assert rows(db, RequestRow) == [] and rows(db, DossierRow)[0].applied_sequence == rebuild.NOT_APPLIED
    assert "1 dossiers emptied, 1 requests deleted" in capsys.readouterr().out
    assert rebuild.main(["rebuild"]) == 2
