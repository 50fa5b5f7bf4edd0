"""The retention service in a real nameko container, on the real broker, on SQLite and PostgreSQL."""
import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket import topology
from loket.contracts.retention import DATA_HOLDERS, ERASURE_COMPLETED, ERASURE_REQUESTED
from loket.errors import Forbidden, InvalidInput
from loket.outbox import EventRecorder
from loket.parking import list_parked
from loket.tables import inbox
from loket.testing import drain_queue, publish_raw, wait_for
from retention import runs
from retention.clocks import retention_ends_at
from retention.models import request_counts, tombstones

LAST_ACTIVITY = datetime(2021, 1, 6, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
PARENT = {"role": "parent", "actor_id": "account-1"}
only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def clock_of(rpc, dossier_id):
    return rpc.personal_data(dossier_id)["retention_clock"]


def is_batch(event, event_type) -> bool:
    """A version-2 event of a batch of its own (aggregate erasure_batch:<uuid>, sequence 1)."""
    return (event["type"], event["version"], event["sequence"]) == (event_type, 2, 1) \
        and event["aggregate_id"].startswith("erasure_batch:")


def rows(database, statement):
    with database.connect() as connection:
        return connection.execute(statement).all()


def test_a_dossier_is_kept_five_years_after_its_last_activity_then_erased_everywhere(
        start_retention, rpc, clock, amqp_uri, database, registration, publish_receipt, test_queue):
    start_retention()
    dossier = registration("dos-kept", LAST_ACTIVITY - 40 * DAY)
    dossier.register()
    dossier.close_request(LAST_ACTIVITY)
    assert wait_for(lambda: (clock_of(rpc, "dos-kept") or {}).get("has_active_request") is False)
    ends = retention_ends_at(LAST_ACTIVITY)
    assert clock_of(rpc, "dos-kept") == {"last_activity_at": LAST_ACTIVITY.isoformat(), "has_active_request": False,
                                         "erasure_started": False, "erased_from": ends.isoformat()}
    # the cancelled request is counted once, without any id
    assert rows(database, select(request_counts)) == [("Anderlecht", "6-11", "2019-11", "work", "31-90", 1)]

    clock.set(ends - DAY)
    assert rpc.run_due_erasures()["started"] == 0
    clock.set(ends + DAY)
    assert rpc.run_due_erasures()["started"] == 1
    [requested] = drain_queue(amqp_uri, "registration.erasure_requests", 1)
    assert is_batch(requested, ERASURE_REQUESTED)
    [asked] = requested["data"]["requests"]
    assert (asked["dossier_id"], asked["reason"]) == ("dos-kept", "retention_expired")
    run_id = asked["run_id"]
    assert clock_of(rpc, "dos-kept")["erasure_started"] is True
    assert rpc.run_due_erasures()["started"] == 0  # a started erasure is not started again

    completions = test_queue("test.erasure_completed", "retention.erasure_completed")
    for service in DATA_HOLDERS:  # each holder answers the request's batch
        publish_receipt(service, ("dos-kept", run_id), answering=requested)
    assert wait_for(lambda: rpc.erasure_status("dos-kept")["state"] == "completed")
    [completed] = drain_queue(amqp_uri, completions, 1)
    assert completed["data"] == {"completed": [{"dossier_id": "dos-kept", "run_id": run_id,
                                                "reason": "retention_expired"}]}
    assert is_batch(completed, ERASURE_COMPLETED) and completed["aggregate_id"] != requested["aggregate_id"]
    assert clock_of(rpc, "dos-kept") is None
    assert rows(database, select(tombstones.c.dossier_id)) == [("dos-kept",)]
    assert rows(database, select(func.count()).select_from(inbox).where(inbox.c.aggregate_id == "dos-kept")) == [(0,)]

    # A late event for the erased dossier starts no clock; the sentinel after it shows it was handled.
    dossier.update(ends + 2 * DAY)
    registration("dos-sentinel", ends).register()
    assert wait_for(lambda: clock_of(rpc, "dos-sentinel") is not None)
    assert clock_of(rpc, "dos-kept") is None
    assert rpc.run_due_erasures()["started"] == 0


@only_sqlite
def test_missing_receipts_are_asked_for_again_and_overdue_runs_reported(
        start_retention, rpc, clock, amqp_uri, registration, publish_receipt):
    start_retention()
    dossier = registration("dos-asked", LAST_ACTIVITY)
    dossier.register()
    assert wait_for(lambda: clock_of(rpc, "dos-asked") is not None)
    with pytest.raises(Forbidden):
        rpc.request_erasure("dos-asked", {"role": "facility_manager", "actor_id": "manager-1"})
    with pytest.raises(InvalidInput):
        rpc.request_erasure("dos-asked", {"role": "parent"})

    started = rpc.request_erasure("dos-asked", PARENT)  # on request, even with an active request
    assert started["state"] == "in_progress" and started["reason"] == "parent_request"
    assert rpc.request_erasure("dos-asked", PARENT)["run_id"] == started["run_id"]
    run_id = started["run_id"]
    for service in ("registration", "matching", "notification", "matching"):
        publish_receipt(service, ("dos-asked", run_id))
    updated = dossier.update(LAST_ACTIVITY + DAY, status="active")  # activity during the erasure moves no clock
    # an event that breaks its contract is parked, with what it holds, until the dossier is erased
    publish_raw(amqp_uri, updated["type"], {**updated, "id": "broken-1", "data": {"dossier": {"id": "dos-asked"}}})
    assert wait_for(lambda: rpc.erasure_status("dos-asked")["missing"] == ["consent_export"])
    assert wait_for(lambda: [m["event_id"] for m in list_parked(amqp_uri, "retention.activity_events")] == [
        "broken-1"])
    assert rpc.erasure_status("dos-asked")["state"] == "in_progress"
    assert clock_of(rpc, "dos-asked")["last_activity_at"] == LAST_ACTIVITY.isoformat()

    clock.advance(minutes=59)
    assert rpc.run_due_erasures()["requested_again"] == 0
    clock.advance(minutes=2)
    assert rpc.run_due_erasures()["requested_again"] == 1
    requests = drain_queue(amqp_uri, "consent_export.erasure_requests", 2)
    assert [[asked["run_id"] for asked in r["data"]["requests"]] for r in requests] == [[run_id], [run_id]]
    # asked again in a new batch (not the first request again, which a holder's inbox would drop)
    assert all(is_batch(r, ERASURE_REQUESTED) for r in requests)
    assert len({r["aggregate_id"] for r in requests}) == len({r["id"] for r in requests}) == 2
    assert rpc.erasure_status("dos-asked")["attempts"] == 2
    assert rpc.incomplete_erasures() == []

    clock.advance(days=1)
    assert rpc.run_due_erasures() == {"started": 0, "requested_again": 1, "overdue": 1, "parked_dropped": 0}
    [overdue] = rpc.incomplete_erasures()
    assert overdue["run_id"] == run_id and overdue["missing"] == ["consent_export"] and overdue["attempts"] == 3

    publish_receipt("consent_export", ("dos-asked", run_id))
    assert wait_for(lambda: rpc.erasure_status("dos-asked")["state"] == "completed")
    assert rpc.incomplete_erasures() == []
    assert rpc.request_erasure("dos-asked", PARENT)["state"] == "completed"
    assert rpc.run_due_erasures()["parked_dropped"] == 1
    assert list_parked(amqp_uri, "retention.activity_events") == []


@only_sqlite
def test_statistics_never_publish_a_number_under_the_threshold(start_retention, rpc, amqp_uri, database,
                                                               registration):
    start_retention()
    for n in range(12):
        dossier = registration(f"dos-and-{n}", LAST_ACTIVITY - 20 * DAY)
        dossier.register()
        closed = dossier.close_request(LAST_ACTIVITY, event_type="registration.request_enrolled")
    publish_raw(amqp_uri, closed["type"], closed)  # redelivered: counted once
    registration("dos-jette", LAST_ACTIVITY - 200 * DAY, postal_code="1090").close_request(
        LAST_ACTIVITY, event_type="registration.request_expired")
    registration("dos-restricted", LAST_ACTIVITY - 20 * DAY, restricted=True).close_request(LAST_ACTIVITY)
    registration("dos-sentinel", LAST_ACTIVITY).register()
    assert wait_for(lambda: clock_of(rpc, "dos-sentinel") is not None)
    assert rows(database, select(func.sum(request_counts.c["count"]))) == [(13,)]

    tables = json.loads(rpc.statistics())
    assert len(tables) == 9
    published = [value for table in tables for row in table["values"] for value in row]
    assert not [value for value in published if value is not None and 0 < value < 10]
    by_municipality = json.loads(rpc.statistics(["municipality"]))
    totals = dict(zip(by_municipality["row_labels"], (row[-1] for row in by_municipality["values"])))
    assert totals["Jette"] is None and totals["total"] == 13 and totals["Ukkel"] == 0

    csv_rows = rpc.statistics(["municipality"], "csv").splitlines()
    assert csv_rows[0] == "municipality,total" and "Jette," in csv_rows and "total,13" in csv_rows
    with pytest.raises(InvalidInput):
        rpc.statistics(["municipality", "municipality"])
    with pytest.raises(InvalidInput):
        rpc.statistics(None, "csv")
    assert base64.b64decode(rpc.demand_chart_png())[:8] == b"\x89PNG\r\n\x1a\n"


@only_sqlite
def test_the_scan_timer_starts_due_erasures_without_being_asked(start_retention, rpc, clock, amqp_uri,
                                                                registration):
    clock.set(retention_ends_at(LAST_ACTIVITY) - DAY)
    start_retention(ERASURE_SCAN_INTERVAL=0.2)
    dossier = registration("dos-timed", LAST_ACTIVITY - 40 * DAY)
    dossier.register()
    dossier.close_request(LAST_ACTIVITY)
    assert wait_for(lambda: (clock_of(rpc, "dos-timed") or {}).get("has_active_request") is False)
    time.sleep(0.5)  # a few scans
    assert rpc.personal_data("dos-timed")["erasure"] is None
    clock.set(retention_ends_at(LAST_ACTIVITY) + DAY)
    [requested] = drain_queue(amqp_uri, "matching.erasure_requests", 1)
    assert [(asked["dossier_id"], asked["reason"]) for asked in requested["data"]["requests"]] == [
        ("dos-timed", "retention_expired")]


def test_version_1_receipts_queued_before_an_upgrade_come_in_a_batch_and_those_that_fit_no_run_are_parked_alone(
        start_retention, rpc, clock, amqp_uri, database, publish_receipt):
    with Session(database) as session, session.begin():
        run = runs.request_erasure(session, clock.now(), "dos-batch", runs.PARENT_REQUEST, EventRecorder("retention"))
    topology.declare_all(amqp_uri)
    # all queued before the service starts, so they reach it as one batch
    for service in ("registration", "matching", "notification"):
        publish_receipt(service, ("dos-batch", run.run_id), version=1)
    publish_receipt("consent_export", ("dos-batch", "run-unknown"), version=1)
    publish_receipt("consent_export", ("dos-other", run.run_id), version=1)
    start_retention()
    assert wait_for(lambda: len(list_parked(amqp_uri, "retention.erasure_receipts")) == 2)
    parked = list_parked(amqp_uri, "retention.erasure_receipts")
    assert sorted(item["aggregate_id"] for item in parked) == ["dos-batch", "dos-other"]
    # parked at once (a contract of sorts is broken), while the rest of their batch was recorded
    assert [item["attempts"] for item in parked] == [1, 1]
    assert all(item["error"].startswith("PermanentError: receipt") for item in parked)
    assert wait_for(lambda: rpc.erasure_status("dos-batch")["missing"] == ["consent_export"])
    publish_receipt("consent_export", ("dos-batch", run.run_id), version=1)
    assert wait_for(lambda: rpc.erasure_status("dos-batch")["state"] == "completed")


def test_a_receipt_partly_fitting_no_run_is_parked_once_the_rest_of_it_is_recorded(
        start_retention, rpc, clock, amqp_uri, database, publish_receipt):
    with Session(database) as session, session.begin():
        started = runs.start_runs(session, clock.now(), ["dos-one", "dos-two"], runs.PARENT_REQUEST,
                                  EventRecorder("retention"))
    one, two = [(run.dossier_id, run.run_id) for run in started]
    topology.declare_all(amqp_uri)
    for service in ("registration", "matching", "notification"):
        publish_receipt(service, one, two)
    mixed = publish_receipt("consent_export", one, ("dos-two", "run-unknown"), ("dos-other", two[1]))
    start_retention()
    assert wait_for(lambda: rpc.erasure_status("dos-one")["state"] == "completed")
    assert wait_for(lambda: len(list_parked(amqp_uri, "retention.erasure_receipts")) == 1)
    [parked] = list_parked(amqp_uri, "retention.erasure_receipts")
    assert (parked["event_id"], parked["aggregate_id"], parked["attempts"]) == (
        mixed["id"], mixed["aggregate_id"], 1)
    assert parked["error"].startswith("PermanentError: receipt for unknown erasure run run-unknown")
    assert f"receipt of run {two[1]} names another dossier" in parked["error"]
    assert rpc.erasure_status("dos-two")["missing"] == ["consent_export"]
    publish_receipt("consent_export", two)
    assert wait_for(lambda: rpc.erasure_status("dos-two")["state"] == "completed")
    assert rows(database, select(tombstones.c.dossier_id).order_by(tombstones.c.dossier_id)) == [
        ("dos-one",), ("dos-two",)]
