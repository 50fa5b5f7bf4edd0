"""What every data-holding service does on `retention.erasure_requested`, besides deleting its own rows.

Erasure requests come in batches (retention starts thousands of erasures at once):

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        erased = handle_erasure_requests(self.db, self.events, self.name, self.config["AMQP_URI"], events,
                                         erase_dossiers)

where `erase_dossiers(session, dossier_ids) -> {dossier id: rows erased}` deletes the service's own
rows about those dossiers (bulk statements, no commit). Per batch: one transaction that claims the
requests in the inbox, forgets the dossiers in the inbox and the outbox, erases the service's rows
and records one receipt per request; then one broker connection that drops their parked messages.
"""
from collections import Counter

from loket import inbox, outbox, parking, topology
from loket.contracts.retention import receipt_type


def handle_erasure_requests(db, recorder, service, amqp_uri, events, erase_dossiers) -> list:
    """Erase the dossiers the (new) requests name and answer each request; returns the dossier ids
    erased (empty if every request was a redelivery)."""
    with db.transaction() as session:
        fresh = inbox.claim_all(session, f"{service}.erasure_requests", events)
        if fresh:
            erased = erase_traces_all(session, fresh)
            erased.update(erase_dossiers(session, dossier_ids(fresh)))
            record_receipts(session, recorder, service, fresh, erased)
    # Also on a redelivery: the attempt that committed may have failed here.
    forget_parked_all(amqp_uri, service, dossier_ids(events))
    return dossier_ids(fresh)


def dossier_ids(events) -> list:
    """The dossiers the erasure requests name, each once, in order."""
    return list(dict.fromkeys(event["data"]["dossier_id"] for event in events))


def erase_traces(session, event) -> int:
    """Forget the dossier in the inbox (but this request) and drop its unsent outbox events."""
    return erase_traces_all(session, [event])[event["data"]["dossier_id"]]


def erase_traces_all(session, events) -> Counter:
    """`erase_traces` for many requests: {dossier id: inbox and outbox rows dropped}."""
    ids = dossier_ids(events)
    erased = Counter({dossier_id: 0 for dossier_id in ids})
    erased.update(inbox.forget_aggregates(session, ids, keep_event_ids=[event["id"] for event in events]))
    erased.update(outbox.forget_aggregates(session, ids))
    return erased


def record_receipt(session, events, service, event, erased_rows) -> None:
    """Answer the erasure request (ids and a count only), in the same transaction as the erasure."""
    record_receipts(session, events, service, [event], {event["data"]["dossier_id"]: erased_rows})


def record_receipts(session, recorder, service, events, erased_rows) -> None:
    """Answer many erasure requests at once; `erased_rows`: {dossier id: rows erased}."""
    recorder.record_many(session, [
        (receipt_type(service), event["data"]["dossier_id"], 0, {
            "dossier_id": event["data"]["dossier_id"], "run_id": event["data"]["run_id"], "service": service,
            "erased_rows": erased_rows.get(event["data"]["dossier_id"], 0)})
        for event in events])


def forget_parked(amqp_uri, service, dossier_id) -> int:
    """Remove parked messages about the dossier from every subscription of this service."""
    return forget_parked_all(amqp_uri, service, [dossier_id])


def forget_parked_all(amqp_uri, service, dossiers) -> int:
    """`forget_parked` for many dossiers, over one broker connection."""
    subscriptions = [name for name in topology.SUBSCRIPTIONS if name.startswith(f"{service}.")]
    return parking.purge_aggregates(amqp_uri, subscriptions, dossiers)
