"""Registration events into the read model, one batch per transaction.

The service's batch handler (loket.consumer.batch_event_handler) hands over up to BATCH events in
the order the queue gave them. `apply` claims them in the inbox (loket.inbox.claim_all), writes
them with bulk statements in one transaction (readmodel.apply_events), commits, and then puts the
changed dossiers in this process's candidate index.

If a batch fails, its events are applied again one by one, each in its own transaction, so that a
bad event fails alone: `apply` returns the events that failed, and the handler hands them back to
loket.consumer (EventsFailed) to be retried or parked, while their neighbours are acked. Two
instances claiming the same redelivered event end the same way: one batch fails on the inbox's
primary key, its events are redone one by one, and the one already applied is skipped.
"""
import logging

from loket import inbox
from matching import readmodel

log = logging.getLogger(__name__)

SUBSCRIPTION = "matching.registration_events"
BATCH = 200


def claim_all(session, events: list[dict]) -> list[dict]:
    """loket.inbox.claim_all for this subscription."""
    return inbox.claim_all(session, SUBSCRIPTION, events)


def apply(db, events: list[dict], recorder, rule_sets: dict, pool) -> dict[str, Exception]:
    """Apply the events and index their changes; returns {event id: what applying it alone raised}
    for the events that were not applied (empty when all were)."""
    try:
        changes = _apply(db, events, recorder, rule_sets)
    except Exception as problem:  # noqa: BLE001 - each event then fails or succeeds on its own
        if len(events) == 1:
            return {events[0]["id"]: problem}
        log.warning("a batch of %d registration events failed (%s); applying them one by one",
                    len(events), type(problem).__name__)
        failed = {}
        for event in events:
            failed.update(apply(db, [event], recorder, rule_sets, pool))
        return failed
    for change in changes:
        pool.apply(change)
    return {}


def _apply(db, events, recorder, rule_sets) -> list:
    with db.transaction() as session:
        fresh = claim_all(session, events)
        return readmodel.apply_events(session, [(event, recorder) for event in fresh], rule_sets)
