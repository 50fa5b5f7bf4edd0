"""Group commit of registration events: a batch in one transaction, and a bad event failing alone."""
from types import SimpleNamespace

from sqlalchemy import func, select

from loket.tables import inbox
from matching import readmodel
from matching.candidates import CandidatePool
from matching.models import ReadModelRevision, RequestRow
from matching.projection import Projection, _Pending


def projection_on(db, rule_sets):
    projection = Projection()
    projection._database = SimpleNamespace(access=db)
    projection._rule_sets = SimpleNamespace(rule_sets=rule_sets)
    projection._candidates = SimpleNamespace(pool=CandidatePool())
    return projection


def count(db, what):
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(what)).scalar_one()


def test_a_batch_is_applied_in_one_transaction_and_every_worker_released(db, rule_sets, recorder, registration_event,
                                                                         make_candidate):
    projection = projection_on(db, rule_sets)
    batch = [_Pending(registration_event("dossier_registered", [make_candidate(f"r-{n}")], 1), recorder)
             for n in range(5)]
    projection._commit(batch)
    assert all(item.done.is_set() and item.error is None for item in batch)
    assert count(db, RequestRow) == 5 and count(db, inbox) == 5
    with db.transaction() as session:
        assert session.scalar(select(ReadModelRevision.revision)) == 1  # one batch, one revision
    assert len(projection._candidates.pool) == 5


def test_a_bad_event_fails_alone_and_its_neighbours_are_applied(db, rule_sets, recorder, registration_event,
                                                                make_candidate):
    projection = projection_on(db, rule_sets)
    bad = registration_event("dossier_registered", [make_candidate("r-bad")], 1)
    bad["data"]["dossier"]["requests"][0]["child_id"] = "no-such-child"
    batch = [_Pending(registration_event("dossier_registered", [make_candidate("r-1")], 1), recorder),
             _Pending(bad, recorder),
             _Pending(registration_event("dossier_registered", [make_candidate("r-2")], 1), recorder)]
    projection._commit(batch)
    assert [type(item.error) for item in batch] == [type(None), readmodel.UnusableEvent, type(None)]
    assert all(item.done.is_set() for item in batch)
    assert count(db, RequestRow) == 2 and count(db, inbox) == 2  # the bad one is not marked as handled
    assert sorted(c.request_id for c in projection._candidates.pool.candidates_for("fac-0001")) == ["r-1", "r-2"]
