"""What every data-holding service does on `retention.erasure_requested`, besides deleting its own rows.

    with self.db.transaction() as session:
        if not claim(session, SUBSCRIPTION, event):
            return
        erased = erase_traces(session, event)          # first: it drops unsent outbox rows
        erased += <delete this service's rows about the dossier, record its own events>
        record_receipt(session, self.events, self.name, event, erased)
    forget_parked(self.config["AMQP_URI"], self.name, event["data"]["dossier_id"])
"""
from loket import inbox, outbox, parking, topology
from loket.contracts.retention import receipt_type


def erase_traces(session, event) -> int:
    """Forget the dossier in the inbox (but this request) and drop its unsent outbox events."""
    dossier_id = event["data"]["dossier_id"]
    return (inbox.forget_aggregate(session, dossier_id, keep_event_id=event["id"])
            + outbox.forget_aggregate(session, dossier_id))


def record_receipt(session, events, service, event, erased_rows) -> None:
    """Answer the erasure request (ids and a count only), in the same transaction as the erasure."""
    dossier_id = event["data"]["dossier_id"]
    events.record(session, receipt_type(service), aggregate_id=dossier_id, sequence=0, data={
        "dossier_id": dossier_id, "run_id": event["data"]["run_id"], "service": service,
        "erased_rows": erased_rows,
    })


def forget_parked(amqp_uri, service, dossier_id) -> int:
    """Remove parked messages about the dossier from every subscription of this service."""
    return sum(parking.purge_aggregate(amqp_uri, name, dossier_id)
               for name in topology.SUBSCRIPTIONS if name.startswith(f"{service}."))
