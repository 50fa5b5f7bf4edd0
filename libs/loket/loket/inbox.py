"""Idempotent consumers: an event's id is recorded in the same transaction as its effect.

    with self.db.transaction() as session:
        if not claim(session, "matching.registration_events", event):
            return  # a redelivery: the effect is already committed
        ...apply the effect...

Two instances racing on one event both insert; the loser's commit fails on the primary key, its
handler raises, the retry sees the row and does nothing.

A handler that applies many events in one transaction (a batch) claims them all at once:

    fresh = claim_all(session, "consent_export.registration_events", events)
"""
from sqlalchemy import bindparam, delete, func, insert, select

from loket.clock import utcnow
from loket.tables import inbox


def claim(session, consumer, event) -> bool:
    """True the first time this consumer sees this event (and records it), False on a redelivery."""
    seen = session.execute(
        select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event["id"])
    ).first()
    if seen:
        return False
    session.execute(insert(inbox).values(
        consumer=consumer, event_id=event["id"], aggregate_id=event["aggregate_id"], processed_at=utcnow()))
    return True


_SEEN_AMONG = select(inbox.c.event_id).where(inbox.c.consumer == bindparam("consumer"),
                                             inbox.c.event_id.in_(bindparam("ids", expanding=True)))


def claim_all(session, consumer, events) -> list:
    """`claim` for many events in two statements: those this consumer has not seen yet, each once
    and in the given order, recorded as seen in the same transaction."""
    if not events:
        return []
    connection = session.connection()
    seen = set(connection.execute(_SEEN_AMONG, {"consumer": consumer,
                                                "ids": [event["id"] for event in events]}).scalars())
    fresh = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            fresh.append(event)
    if fresh:
        now = utcnow()
        connection.execute(insert(inbox), [{"consumer": consumer, "event_id": event["id"],
                                            "aggregate_id": event["aggregate_id"], "processed_at": now}
                                           for event in fresh])
    return fresh


def forget_aggregate(session, aggregate_id, keep_event_id=None) -> int:
    """Erasure: drop what the inbox knows about one dossier (but the erasure request itself, so that a
    redelivered request is still recognised)."""
    keep = [keep_event_id] if keep_event_id is not None else []
    return forget_aggregates(session, [aggregate_id], keep).get(str(aggregate_id), 0)


def forget_aggregates(session, aggregate_ids, keep_event_ids=()) -> dict:
    """`forget_aggregate` for many dossiers in two statements, keeping the given events (the erasure
    requests themselves): {dossier id: rows dropped} (only those that had any)."""
    ids = sorted({str(aggregate_id) for aggregate_id in aggregate_ids})
    if not ids:
        return {}
    about = inbox.c.aggregate_id.in_(ids)
    if keep_event_ids:
        about = about & inbox.c.event_id.not_in(sorted(set(keep_event_ids)))
    connection = session.connection()
    counts = dict(connection.execute(select(inbox.c.aggregate_id, func.count()).where(about)
                                     .group_by(inbox.c.aggregate_id)).all())
    if counts:
        connection.execute(delete(inbox).where(about))
    return counts
