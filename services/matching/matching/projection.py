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
from loket import inbox
from loket.consumer import apply_batch
from matching import readmodel

SUBSCRIPTION = "matching.registration_events"
BATCH = 200


def claim_all(session, events: list[dict]) -> list[dict]:
    """loket.inbox.claim_all for this subscription."""
    return inbox.claim_all(session, SUBSCRIPTION, events)


def apply(db, events: list[dict], recorder, rule_sets: dict, pool) -> dict[str, Exception]:
    """Apply the events and index their changes; returns {event id: what applying it alone raised}
    for the events that were not applied (empty when all were)."""
    changes, failed = apply_batch(db, events, lambda session, batch: _apply(session, batch, recorder, rule_sets))
    for change in changes:
        pool.apply(change)
    return failed


def _apply(session, events, recorder, rule_sets) -> list:
    fresh = claim_all(session, events)
    return readmodel.apply_events(session, [(event, recorder) for event in fresh], rule_sets)
