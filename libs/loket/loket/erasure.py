"""What every data-holding service does on `retention.erasure_requested`, besides deleting its own rows.

Erasure requests come in batches (retention starts thousands of erasures at once):

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        erased = handle_erasure_requests(self.db, self.events, self.name, self.config["AMQP_URI"], events,
                                         erase_dossiers)

where `erase_dossiers(session, dossier_ids) -> {dossier id: rows erased}` deletes the service's own
rows about those dossiers (bulk statements, no commit). Per batch: one transaction that claims the
requests in the inbox, forgets the dossiers in the inbox and the outbox, erases the service's rows
and records one receipt per request (listing every dossier that request names); then one broker
connection that drops their parked messages. A request names one dossier (version 1) or many
(version 2, see loket.contracts.retention); ERASURE_BATCH counts requests, not dossiers.
"""
from collections import Counter

from loket import inbox, outbox, parking, topology
from loket.contracts.retention import receipt_type, requested_erasures

RECEIPT_VERSION = 2
# Erasure requests per transaction: up to 800 dossiers (a request names up to ERASURES_PER_EVENT).
ERASURE_BATCH = 4


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
    return list(dict.fromkeys(request["dossier_id"] for event in events for request in requested_erasures(event)))


def erase_traces_all(session, events) -> Counter:
    """Forget the requests' dossiers in the inbox (but these requests) and drop their unsent
    outbox events: {dossier id: inbox and outbox rows dropped}."""
    ids = dossier_ids(events)
    erased = Counter({dossier_id: 0 for dossier_id in ids})
    erased.update(inbox.forget_aggregates(session, ids, keep_event_ids=[event["id"] for event in events]))
    erased.update(outbox.forget_aggregates(session, ids))
    return erased


def record_receipts(session, recorder, service, events, erased_rows) -> None:
    """Answer each erasure request with one receipt for all its dossiers (ids and counts only), in
    the same transaction as the erasure; `erased_rows`: {dossier id: rows erased}. The receipt
    answers the request's batch: same aggregate and sequence."""
    recorder.record_many(session, [
        (receipt_type(service), event["aggregate_id"], event["sequence"], {"service": service, "erased": [
            {"dossier_id": request["dossier_id"], "run_id": request["run_id"],
             "erased_rows": erased_rows.get(request["dossier_id"], 0)}
            for request in requested_erasures(event)]})
        for event in events], version=RECEIPT_VERSION)


def forget_parked_all(amqp_uri, service, dossiers) -> int:
    """Remove parked messages about the dossiers from every subscription of this service, over one
    broker connection."""
    subscriptions = [name for name in topology.SUBSCRIPTIONS if name.startswith(f"{service}.")]
    return parking.purge_aggregates(amqp_uri, subscriptions, dossiers)
