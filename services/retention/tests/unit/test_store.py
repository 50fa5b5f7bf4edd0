"""Clocks, runs and counts as stored: the service's transactions on SQLite and PostgreSQL, no broker."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loket.consumer import PermanentError
from loket.contracts import envelope
from loket.contracts.retention import ERASURE_COMPLETED, ERASURE_REQUESTED, batch_aggregate, receipt_type
from loket.db import create_db_engine
from loket.outbox import EventRecorder
from loket.tables import inbox, outbox, platform_metadata
from retention import dossiers, runs
from retention.counts import load_counts
from retention.models import erasure_receipts, erasure_runs, metadata, retention_clocks, tombstones

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
ACTIVITY = "retention.activity_events"
HOLDERS = ("registration", "matching", "notification", "consent_export")


@pytest.fixture
def transaction(database_url):
    engine = create_db_engine(database_url)
    metadata.create_all(engine)
    platform_metadata.create_all(engine)

    def run(work):
        with Session(engine) as session, session.begin():
            return work(session)
    yield run
    engine.dispose()


@pytest.fixture
def events():
    return EventRecorder("retention")  # validates every event against its contract


def recorded(transaction):
    return transaction(lambda session: [json.loads(body) for body in session.scalars(
        select(outbox.c.body).order_by(outbox.c.id))])


def add_clock(transaction, dossier_id, last_activity_at, has_active_request=False):
    transaction(lambda session: session.execute(retention_clocks.insert().values(
        dossier_id=dossier_id, last_activity_at=last_activity_at, has_active_request=has_active_request,
        erased=False, sequence=1)))


def receipt(sender, *erased_runs, version=2, **changes):
    """`sender`'s receipt as its outbox sends it (checked against the contract): version 2 confirms
    every run given, version 1 (the old shape, one dossier) the one run. `changes` alter what it
    confirms of each run (dossier_id, run_id) or the service it names."""
    if version == 1:
        [run] = erased_runs
        data = {"dossier_id": run.dossier_id, "run_id": run.run_id, "service": sender, "erased_rows": 2, **changes}
        aggregate_id = run.dossier_id
    else:
        service = changes.pop("service", sender)
        data = {"service": service, "erased": [
            {"dossier_id": run.dossier_id, "run_id": run.run_id, "erased_rows": 2, **changes} for run in erased_runs]}
        aggregate_id = batch_aggregate(str(uuid.uuid4()))
    return envelope(receipt_type(sender), data, aggregate_id=aggregate_id, sequence=1, producer=sender,
                    version=version)


def erasures(event) -> list[tuple]:
    """(dossier, run, reason) of each erasure a version-2 erasure_requested or erasure_completed names."""
    [items] = event["data"].values()
    return [(item["dossier_id"], item["run_id"], item["reason"]) for item in items]


def is_batch(event, event_type) -> bool:
    """A version-2 event of its own batch: aggregate erasure_batch:<uuid>, sequence 1."""
    prefix, _, batch_id = event["aggregate_id"].partition(":")
    return (event["type"], event["version"], event["sequence"], prefix) == (event_type, 2, 1, "erasure_batch") \
        and str(uuid.UUID(batch_id)) == batch_id


def test_due_dossiers_start_oldest_first_in_batches_and_only_once(transaction, events):
    add_clock(transaction, "dos-newest-due", NOW.replace(year=2021) - timedelta(seconds=1))
    add_clock(transaction, "dos-oldest", datetime(2019, 5, 1, tzinfo=UTC))
    add_clock(transaction, "dos-exactly-due", NOW.replace(year=2021))
    add_clock(transaction, "dos-not-yet", NOW.replace(year=2021) + timedelta(seconds=1))
    add_clock(transaction, "dos-active", datetime(2015, 1, 1, tzinfo=UTC), has_active_request=True)

    def batch(session):
        return [run.dossier_id for run in runs.start_due_erasures(session, NOW, 2, events)]
    assert transaction(batch) == ["dos-oldest", "dos-newest-due"]
    assert transaction(batch) == ["dos-exactly-due"]
    assert transaction(batch) == []
    requested = recorded(transaction)  # one erasure_requested per transaction, a batch of its own
    assert all(is_batch(e, ERASURE_REQUESTED) for e in requested)
    assert len({e["aggregate_id"] for e in requested}) == 2
    assert [[(dossier_id, reason) for dossier_id, _, reason in erasures(e)] for e in requested] == [
        [("dos-oldest", "retention_expired"), ("dos-newest-due", "retention_expired")],
        [("dos-exactly-due", "retention_expired")]]
    assert len({run_id for e in requested for _, run_id, _ in erasures(e)}) == 3


def test_the_last_receipt_erases_retentions_own_copy(transaction, events, snapshot, envelope):
    event = envelope("registration.dossier_registered", 1, "2020-01-06T09:00:00+00:00",
                     {"dossier": snapshot()})
    transaction(lambda session: dossiers.apply_activity(session, NOW, event, ACTIVITY, events))
    run = transaction(lambda session: runs.request_erasure(session, NOW, "dos-1", runs.PARENT_REQUEST, events))
    first = [receipt(service, run) for service in ("registration", "matching", "notification", "matching")]
    assert transaction(lambda session: runs.record_receipts(session, NOW, first, events)) == [[]] * 4
    [[completed]] = transaction(
        lambda session: runs.record_receipts(session, NOW, [receipt("consent_export", run)], events))
    assert completed.completed_at == NOW and completed.run_id == run.run_id
    assert transaction(lambda session: dossiers.personal_data(session, "dos-1"))["retention_clock"] is None
    assert transaction(lambda session: runs.is_tombstoned(session, "dos-1"))
    assert transaction(lambda session: session.execute(select(inbox)).all()) == []
    [requested, done] = recorded(transaction)
    assert is_batch(done, ERASURE_COMPLETED) and done["aggregate_id"] != requested["aggregate_id"]
    assert erasures(done) == [("dos-1", run.run_id, "parent_request")]
    # a repeated receipt after completion changes nothing
    late = [receipt("matching", run)]
    assert transaction(lambda session: runs.record_receipts(session, NOW, late, events)) == [[]]
    assert recorded(transaction) == [requested, done]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("changes", [{"run_id": "run-unknown"}, {"dossier_id": "dos-other"},
                                     {"service": "notification"}])
def test_a_receipt_that_fits_no_run_is_refused_alone(transaction, events, changes, version):
    add_clock(transaction, "dos-1", datetime(2019, 5, 1, tzinfo=UTC))
    [run] = transaction(lambda session: runs.start_due_erasures(session, NOW, 10, events))
    group = [receipt("matching", run, version=version, **changes), receipt("registration", run, version=version)]
    refused, recorded_ = transaction(lambda session: runs.record_receipts(session, NOW, group, events))
    assert isinstance(refused, PermanentError) and recorded_ == []
    status = transaction(lambda session: runs.run_of(session, "dos-1")).describe()
    assert status["confirmed_by"].keys() == {"registration"}


def test_a_group_of_receipts_completes_several_runs_at_once(transaction, events):
    for number in range(3):
        add_clock(transaction, f"dos-{number}", datetime(2019, 5, 1, tzinfo=UTC))
    started = transaction(lambda session: runs.start_due_erasures(session, NOW, 10, events))
    group = [receipt(service, *started[:2]) for service in HOLDERS] + [receipt("matching", started[2])]
    outcomes = transaction(lambda session: runs.record_receipts(session, NOW, group, events))
    assert [[run.dossier_id for run in outcome] for outcome in outcomes] == [
        [], [], [], [run.dossier_id for run in started[:2]], []]
    assert [transaction(lambda session: runs.is_tombstoned(session, run.dossier_id)) for run in started] == [
        True, True, False]
    [done] = [e for e in recorded(transaction) if e["type"] == ERASURE_COMPLETED]
    assert [dossier_id for dossier_id, _, _ in erasures(done)] == [run.dossier_id for run in started[:2]]


def start_many(transaction, events, count) -> list:
    """`count` due dossiers, started by one scan transaction (as ERASURE_BATCH_SIZE 1000 would)."""
    transaction(lambda session: session.execute(retention_clocks.insert(), [
        {"dossier_id": f"dos-{number:04d}", "has_active_request": False,
         "last_activity_at": datetime(2019, 5, 1, tzinfo=UTC) + timedelta(minutes=number),
         "erased": False, "sequence": 1} for number in range(count)]))
    started = transaction(lambda session: runs.start_due_erasures(session, NOW, 1000, events))
    assert len(started) == count
    return started


def record(transaction, receipts, events, now=NOW) -> list:
    return transaction(lambda session: runs.record_receipts(session, now, receipts, events))


def pairs(erased_runs) -> list:
    return sorted((run.dossier_id, run.run_id) for run in erased_runs)


def batches(transaction, event_type, reason="retention_expired") -> list[list]:
    """The (dossier, run) pairs of each `event_type` in the outbox, in order, once each is checked to
    be a version-2 event of a batch of its own with `reason`."""
    recorded_ = [event for event in recorded(transaction) if event["type"] == event_type]
    assert all(is_batch(event, event_type) for event in recorded_)
    assert len({event["aggregate_id"] for event in recorded_}) == len(recorded_)
    assert {named_reason for event in recorded_ for _, _, named_reason in erasures(event)} <= {reason}
    return [[(dossier_id, run_id) for dossier_id, run_id, _ in erasures(event)] for event in recorded_]


def test_runs_started_together_are_asked_for_in_batches_of_200(transaction, events):
    started = start_many(transaction, events, 450)
    requested = batches(transaction, ERASURE_REQUESTED)
    assert [len(batch) for batch in requested] == [200, 200, 50]
    named = sorted(pair for batch in requested for pair in batch)  # every run in exactly one batch
    stored = transaction(lambda session: session.execute(
        select(erasure_runs.c.dossier_id, erasure_runs.c.run_id)).all())
    assert named == pairs(started) == sorted(tuple(row) for row in stored)


def test_runs_asked_again_go_out_in_batches_of_200_with_their_run_ids(transaction, events):
    started = start_many(transaction, events, 451)
    first = batches(transaction, ERASURE_REQUESTED)
    record(transaction, [receipt(service, started[0]) for service in HOLDERS], events)  # complete: not asked again
    later = NOW + timedelta(hours=2)
    retried = transaction(lambda session: runs.request_missing_again(session, later, timedelta(hours=1), 1000, events))
    assert pairs(retried) == pairs(started[1:]) and {run.state.attempts for run in retried} == {2}
    again = batches(transaction, ERASURE_REQUESTED)[len(first):]
    assert [len(batch) for batch in again] == [200, 200, 50]
    assert sorted(pair for batch in again for pair in batch) == pairs(started[1:])  # aggregates: new batches


def test_a_receipt_confirms_every_dossier_it_names(transaction, events):
    started = start_many(transaction, events, 450)
    batch = started[:200]
    for service in HOLDERS[:3]:
        assert record(transaction, [receipt(service, *batch)], events) == [[]]
    missing = transaction(lambda session: [runs.run_of(session, run.dossier_id).describe()["missing"]
                                           for run in started])
    assert missing == [["consent_export"]] * 200 + [sorted(HOLDERS)] * 250
    [completed] = record(transaction, [receipt("consent_export", *batch)], events)
    assert [run.run_id for run in completed] == [run.run_id for run in batch]
    assert all(run.completed_at == NOW for run in completed)
    erased = transaction(lambda session: runs.tombstoned_among(session, [run.dossier_id for run in started]))
    assert erased == {run.dossier_id for run in batch}
    assert batches(transaction, ERASURE_COMPLETED) == [[(run.dossier_id, run.run_id) for run in batch]]
    assert len(transaction(lambda session: session.execute(select(erasure_receipts)).all())) == 800


def test_a_receipt_partly_fitting_no_run_is_refused_and_the_rest_of_it_recorded(transaction, events):
    started = start_many(transaction, events, 4)
    mixed = receipt("matching", *started[:2])
    mixed["data"]["erased"] += [
        {"dossier_id": started[2].dossier_id, "run_id": "run-unknown", "erased_rows": 0},
        {"dossier_id": "dos-other", "run_id": started[3].run_id, "erased_rows": 1}]
    refused, recorded_ = record(transaction, [mixed, receipt("registration", *started)], events)
    assert isinstance(refused, PermanentError) and recorded_ == []
    assert "unknown erasure run run-unknown" in str(refused)
    assert f"receipt of run {started[3].run_id} names another dossier" in str(refused)
    confirmed = transaction(lambda session: [set(runs.run_of(session, run.dossier_id).describe()["confirmed_by"])
                                             for run in started])
    assert confirmed == [{"matching", "registration"}] * 2 + [{"registration"}] * 2


def test_a_repeated_receipt_changes_nothing(transaction, events):
    started = start_many(transaction, events, 3)
    answers = [receipt(service, *started) for service in HOLDERS]
    assert record(transaction, [answers[0], answers[0]], events) == [[], []]  # redelivered in its batch
    outcomes = record(transaction, answers[1:] + [answers[3], answers[0]], events)
    assert [[run.run_id for run in outcome] for outcome in outcomes] == [
        [], [], [run.run_id for run in started], [], []]

    def state(session):
        return [sorted(tuple(row) for row in session.execute(select(table))) for table in (
            erasure_runs, erasure_receipts, outbox.c.event_id)]
    before = transaction(state)
    assert len(before[1]) == 12 and len(batches(transaction, ERASURE_COMPLETED)) == 1
    assert record(transaction, answers, events, now=NOW + timedelta(hours=1)) == [[]] * 4
    assert transaction(state) == before


def test_a_version_1_receipt_queued_before_the_upgrade_is_still_recorded(transaction, events):
    started = start_many(transaction, events, 2)
    old = [receipt(service, started[0], version=1) for service in HOLDERS]
    assert record(transaction, old[:3], events) == [[]] * 3
    status = transaction(lambda session: runs.run_of(session, started[0].dossier_id)).describe()
    assert status["missing"] == ["consent_export"]
    # with version-2 receipts in the same batch
    outcomes = record(transaction, [receipt(service, started[1]) for service in HOLDERS[:3]] + old[3:], events)
    assert [[run.run_id for run in outcome] for outcome in outcomes] == [[], [], [], [started[0].run_id]]
    assert transaction(lambda session: runs.tombstoned_among(session, [run.dossier_id for run in started])) == {
        started[0].dossier_id}
    assert transaction(lambda session: runs.run_of(session, started[1].dossier_id)).describe()["missing"] == [
        "consent_export"]
    assert batches(transaction, ERASURE_COMPLETED) == [[(started[0].dossier_id, started[0].run_id)]]


def test_runs_completed_together_are_reported_in_batches_of_200(transaction, events):
    started = start_many(transaction, events, 450)
    chunks = [started[start:start + 200] for start in range(0, 450, 200)]
    outcomes = record(transaction, [receipt(service, *chunk) for service in HOLDERS for chunk in chunks], events)
    assert pairs(run for outcome in outcomes for run in outcome) == pairs(started)
    completed = batches(transaction, ERASURE_COMPLETED)
    assert [len(batch) for batch in completed] == [200, 200, 50]
    assert sorted(pair for batch in completed for pair in batch) == pairs(started)
    requested = {event["aggregate_id"] for event in recorded(transaction) if event["type"] == ERASURE_REQUESTED}
    assert requested.isdisjoint(event["aggregate_id"] for event in recorded(transaction)
                                if event["type"] == ERASURE_COMPLETED)


def test_an_erasure_of_a_dossier_never_seen_stops_a_clock_for_it(transaction, events, snapshot, envelope):
    run = transaction(lambda session: runs.request_erasure(session, NOW, "dos-1", runs.PARENT_REQUEST, events))
    late = envelope("registration.dossier_updated", 5, "2026-03-02T04:00:00+00:00",
                    {"dossier": snapshot(), "changed_by": {"role": "parent", "actor_id": None},
                     "changed_sections": ["contact"]})
    transaction(lambda session: dossiers.apply_activity(session, NOW, late, ACTIVITY, events))
    held = transaction(lambda session: dossiers.personal_data(session, "dos-1"))
    assert held["retention_clock"]["erasure_started"] is True
    assert held["retention_clock"]["last_activity_at"] == NOW.isoformat()  # the late event moved nothing
    assert held["erasure"]["run_id"] == run.run_id and held["erasure"]["missing"] == [
        "consent_export", "matching", "notification", "registration"]


def test_registration_erasing_on_its_own_starts_a_run_for_every_other_holder(transaction, events, envelope):
    erased = envelope("registration.dossier_erased", 9, "2026-03-02T02:00:00+00:00", {"dossier_id": "dos-1"})
    started = transaction(lambda session: dossiers.apply_activity(session, NOW, erased, ACTIVITY, events))
    assert started.reason == "parent_request"
    assert transaction(lambda session: dossiers.apply_activity(session, NOW, erased, ACTIVITY, events)) is None
    assert [e["type"] for e in recorded(transaction)] == ["retention.erasure_requested"]


def test_a_closed_request_is_counted_once_and_a_restricted_one_not_at_all(transaction, events, snapshot,
                                                                          envelope):
    closed = envelope("registration.request_enrolled", 4, "2020-09-01T10:00:00+00:00",
                      {"dossier": snapshot(statuses=("enrolled",)), "request_id": "req-1",
                       "facility_id": "fac-0001"})
    restricted = envelope("registration.request_cancelled", 2, "2020-09-01T10:00:00+00:00",
                          {"dossier": snapshot(statuses=("cancelled",), restricted=True, id="dos-2"),
                           "request_id": "req-1", "cancelled_by": {"role": "parent", "actor_id": None},
                           "reason": None}, aggregate_id="dos-2")
    for event in (closed, closed, restricted):
        transaction(lambda session: dossiers.apply_activity(session, NOW, event, ACTIVITY, events))
    counts = transaction(load_counts)
    assert list(counts.values()) == [1]
    [fact] = counts
    assert (fact.municipality, fact.start_month, fact.waiting_band) == ("Anderlecht", "2020-11", "181-365")


def test_a_departure_moves_the_clock_once_and_an_erased_dossiers_departure_touches_nothing(transaction, events,
                                                                                          envelope):
    add_clock(transaction, "dos-1", datetime(2024, 1, 1, tzinfo=UTC))

    def departure(dossier_id, event_id):
        data = {"enrollment_id": 7, "facility_id": "fac-0001", "dossier_id": dossier_id,
                "request_id": dossier_id and "req-1", "left_on": "2026-04-01"}
        return dict(envelope("matching.departure_recorded", 1, "2026-03-02T02:00:00+00:00", data,
                             aggregate_id=dossier_id or "enrollment-7"), id=event_id, producer="matching")
    for event in (departure("dos-1", "e-1"), departure("dos-1", "e-1"), departure(None, "e-2")):
        assert transaction(lambda session: dossiers.apply_activity(session, NOW, event, ACTIVITY, events)) is None
    clocks = transaction(lambda session: session.execute(select(retention_clocks)).all())
    assert [(row.dossier_id, row.last_activity_at, row.sequence) for row in clocks] == [
        ("dos-1", datetime(2026, 4, 1, tzinfo=UTC), 1)]
    claimed = transaction(lambda session: session.execute(select(inbox.c.event_id, inbox.c.aggregate_id)).all())
    assert claimed == [("e-1", "dos-1")]
    assert transaction(load_counts) == {} and recorded(transaction) == []


def test_tombstones_among_more_dossiers_than_one_statement_names(transaction, monkeypatch):
    """The scan asks about every dossier its parked messages name, a statement per chunk."""
    monkeypatch.setattr(runs, "TOMBSTONES_PER_STATEMENT", 100)
    tombstoned = [f"dos-{n}" for n in range(0, 1000, 7)]
    transaction(lambda session: session.execute(insert(tombstones), [{"dossier_id": d} for d in tombstoned]))
    asked = [f"dos-{n}" for n in range(1000)]
    assert transaction(lambda session: runs.tombstoned_among(session, asked)) == set(tombstoned)
