from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.db import create_db_engine
from loket.inbox import claim, claim_all, forget_aggregate, forget_aggregates
from loket.tables import inbox, platform_metadata

CONSUMER = "consent_export.registration_events"


def event(event_id, aggregate_id="dos-1"):
    return {"id": event_id, "aggregate_id": aggregate_id}


def seen(engine, consumer=CONSUMER):
    with engine.connect() as connection:
        return sorted(connection.execute(
            select(inbox.c.event_id).where(inbox.c.consumer == consumer)).scalars())


def test_claim_all_returns_each_unseen_event_once_in_order_and_records_them(database_url):
    engine = create_db_engine(database_url)
    platform_metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        assert claim(session, CONSUMER, event("e2"))
    with Session(engine) as session, session.begin():
        fresh = claim_all(session, CONSUMER, [event("e3"), event("e2"), event("e1"), event("e3")])
        assert [e["id"] for e in fresh] == ["e3", "e1"]
    assert seen(engine) == ["e1", "e2", "e3"]
    with Session(engine) as session, session.begin():
        assert claim_all(session, CONSUMER, [event("e1"), event("e3")]) == []
        assert not claim(session, CONSUMER, event("e1"))
        # Another consumer has seen none of them.
        assert [e["id"] for e in claim_all(session, "other", [event("e1")])] == ["e1"]
        assert claim_all(session, "other", []) == []
    engine.dispose()


def test_forget_aggregates_drops_only_the_named_dossiers_and_keeps_the_erasure_requests(database_url):
    engine = create_db_engine(database_url)
    platform_metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        claim_all(session, CONSUMER, [event("a1", "dos-a"), event("a2", "dos-a"), event("b1", "dos-b"),
                                      event("c1", "dos-c")])
        claim_all(session, "x.erasure_requests", [event("erase-a", "dos-a"), event("erase-b", "dos-b")])
    with Session(engine) as session, session.begin():
        dropped = forget_aggregates(session, ["dos-a", "dos-b", "dos-unknown"], keep_event_ids=["erase-a", "erase-b"])
    assert dropped == {"dos-a": 2, "dos-b": 1}
    assert seen(engine) == ["c1"]
    assert seen(engine, "x.erasure_requests") == ["erase-a", "erase-b"]
    with Session(engine) as session, session.begin():
        assert forget_aggregate(session, "dos-c") == 1
        assert forget_aggregates(session, []) == {}
    assert seen(engine) == []
    engine.dispose()
