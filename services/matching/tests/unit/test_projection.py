"""A batch of registration events in one transaction, and a bad event failing alone."""
from sqlalchemy import func, select

from loket.tables import inbox
from matching import projection, readmodel
from matching.candidates import CandidatePool
from matching.models import ReadModelRevision, RequestRow


def count(db, what):
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(what)).scalar_one()


def test_a_batch_is_applied_in_one_transaction_and_indexed(db, rule_sets, recorder, registration_event,
                                                           make_candidate):
    pool = CandidatePool()
    events = [registration_event("dossier_registered", [make_candidate(f"r-{n}")], 1) for n in range(5)]
    assert projection.apply(db, events, recorder, rule_sets, pool) == {}
    assert count(db, RequestRow) == 5 and count(db, inbox) == 5
    with db.transaction() as session:
        assert session.scalar(select(ReadModelRevision.revision)) == 1  # one batch, one revision
    assert len(pool) == 5


def test_a_bad_event_fails_alone_and_its_neighbours_are_applied(db, rule_sets, recorder, registration_event,
                                                                make_candidate):
    pool = CandidatePool()
    bad = registration_event("dossier_registered", [make_candidate("r-bad")], 1)
    bad["data"]["dossier"]["requests"][0]["child_id"] = "no-such-child"
    events = [registration_event("dossier_registered", [make_candidate("r-1")], 1), bad,
              registration_event("dossier_registered", [make_candidate("r-2")], 1)]
    failed = projection.apply(db, events, recorder, rule_sets, pool)
    assert list(failed) == [bad["id"]] and isinstance(failed[bad["id"]], readmodel.UnusableEvent)
    assert count(db, RequestRow) == 2 and count(db, inbox) == 2  # the bad one is not marked as handled
    assert sorted(c.request_id for c in pool.candidates_for("fac-0001")) == ["r-1", "r-2"]


def test_a_redelivered_batch_changes_nothing(db, rule_sets, recorder, registration_event, make_candidate):
    pool = CandidatePool()
    events = [registration_event("dossier_registered", [make_candidate(f"r-{n}")], 1) for n in range(3)]
    projection.apply(db, events, recorder, rule_sets, pool)
    assert projection.apply(db, events, recorder, rule_sets, pool) == {}
    assert count(db, RequestRow) == 3 and count(db, inbox) == 3
    with db.transaction() as session:
        assert session.scalar(select(ReadModelRevision.revision)) == 1
