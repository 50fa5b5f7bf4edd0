"""Parked receipts and activity events go once every dossier they name is erased, also version-2
receipts, whose aggregate is their batch (real broker, SQLite and PostgreSQL)."""
from sqlalchemy.orm import Session

from loket import topology
from loket.outbox import EventRecorder
from loket.parking import list_parked
from loket.testing import publish_raw, wait_for
from retention import runs

RECEIPTS = "retention.erasure_receipts"
ACTIVITY = "retention.activity_events"


def broken_activity(amqp_uri, event_id, dossier_id):
    """A registration event that breaks its contract: parked at once, with what it holds."""
    body = {"id": event_id, "type": "registration.dossier_updated", "version": 1,
            "occurred_at": "2026-03-01T09:00:00+00:00", "correlation_id": event_id, "producer": "registration",
            "aggregate_id": dossier_id, "sequence": 1, "data": {"dossier": {"id": dossier_id}}}
    publish_raw(amqp_uri, body["type"], body)
    return body


def parked_ids(amqp_uri, subscription):
    return [item["event_id"] for item in list_parked(amqp_uri, subscription)]


def test_a_parked_receipt_goes_once_every_dossier_it_names_is_erased(
        start_retention, rpc, clock, amqp_uri, database, publish_receipt):
    with Session(database) as session, session.begin():
        started = runs.start_runs(session, clock.now(), ["dos-a", "dos-b", "dos-c"], runs.PARENT_REQUEST,
                                  EventRecorder("retention"))
    a, b, c = [(run.dossier_id, run.run_id) for run in started]
    topology.declare_all(amqp_uri)
    # receipts that fit no run (stale run ids): parked whole, nothing of them recorded
    both = publish_receipt("registration", ("dos-a", "run-stale-a"), ("dos-b", "run-stale-b"))
    half = publish_receipt("registration", ("dos-a", "run-stale-a"), ("dos-c", "run-stale-c"))
    v1_erased = publish_receipt("matching", ("dos-b", "run-stale-b"), version=1)
    v1_live = publish_receipt("matching", ("dos-c", "run-stale-c"), version=1)
    activity_erased = broken_activity(amqp_uri, "broken-a", "dos-a")
    activity_live = broken_activity(amqp_uri, "broken-c", "dos-c")
    start_retention()
    assert wait_for(lambda: parked_ids(amqp_uri, RECEIPTS) == [both["id"], half["id"], v1_erased["id"],
                                                               v1_live["id"]])
    assert wait_for(lambda: parked_ids(amqp_uri, ACTIVITY) == [activity_erased["id"], activity_live["id"]])
    assert [item["dossiers"] for item in list_parked(amqp_uri, RECEIPTS)] == [
        ["dos-a", "dos-b"], ["dos-a", "dos-c"], ["dos-b"], ["dos-c"]]
    assert rpc.run_due_erasures()["parked_dropped"] == 0  # nothing erased yet

    for service in ("registration", "matching", "notification", "consent_export"):
        publish_receipt(service, a, b)
    for service in ("registration", "matching", "notification"):  # dos-c waits for consent_export
        publish_receipt(service, c)
    assert wait_for(lambda: rpc.erasure_status("dos-b")["state"] == "completed")
    assert wait_for(lambda: rpc.erasure_status("dos-c")["missing"] == ["consent_export"])
    with Session(database) as session:
        assert runs.tombstoned_among(session, ["dos-a", "dos-b", "dos-c"]) == {"dos-a", "dos-b"}

    # the version-2 receipt of two erased dossiers goes, the one also naming dos-c stays, in order
    assert rpc.run_due_erasures()["parked_dropped"] == 3
    assert parked_ids(amqp_uri, RECEIPTS) == [half["id"], v1_live["id"]]
    assert parked_ids(amqp_uri, ACTIVITY) == [activity_live["id"]]
    assert rpc.run_due_erasures()["parked_dropped"] == 0

    publish_receipt("consent_export", c)
    assert wait_for(lambda: rpc.erasure_status("dos-c")["state"] == "completed")
    assert rpc.run_due_erasures()["parked_dropped"] == 3
    assert parked_ids(amqp_uri, RECEIPTS) == parked_ids(amqp_uri, ACTIVITY) == []
