"""Clocks, runs and counts as stored: the service's transactions on a temporary SQLite file, no broker."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.consumer import PermanentError
from loket.db import create_db_engine
from loket.outbox import EventRecorder
from loket.tables import inbox, outbox, platform_metadata
from retention import dossiers, runs
from retention.counts import load_counts
from retention.models import metadata, retention_clocks

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
ACTIVITY = "retention.activity_events"


@pytest.fixture
def transaction(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'retention.sqlite'}")
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


def receipt(run, sender, **changes):
    data = {"dossier_id": run.dossier_id, "run_id": run.run_id, "service": sender, "erased_rows": 2}
    return {"id": f"receipt-{sender}", "type": f"erasure_receipt.{sender}", "aggregate_id": run.dossier_id,
            "data": {**data, **changes}}


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
    requested = recorded(transaction)
    assert [(e["type"], e["aggregate_id"], e["sequence"], e["data"]["reason"]) for e in requested] == [
        ("retention.erasure_requested", dossier_id, 1, "retention_expired")
        for dossier_id in ("dos-oldest", "dos-newest-due", "dos-exactly-due")]
    assert len({e["data"]["run_id"] for e in requested}) == 3


def test_the_last_receipt_erases_retentions_own_copy(transaction, events, snapshot, envelope):
    event = envelope("registration.dossier_registered", 1, "2020-01-06T09:00:00+00:00",
                     {"dossier": snapshot()})
    transaction(lambda session: dossiers.apply_activity(session, NOW, event, ACTIVITY, events))
    run = transaction(lambda session: runs.request_erasure(session, NOW, "dos-1", runs.PARENT_REQUEST, events))
    first = [receipt(run, service) for service in ("registration", "matching", "notification", "matching")]
    assert transaction(lambda session: runs.record_receipts(session, NOW, first, events)) == [None] * 4
    [completed] = transaction(
        lambda session: runs.record_receipts(session, NOW, [receipt(run, "consent_export")], events))
    assert completed.completed_at == NOW and completed.run_id == run.run_id
    assert transaction(lambda session: dossiers.personal_data(session, "dos-1"))["retention_clock"] is None
    assert transaction(lambda session: runs.is_tombstoned(session, "dos-1"))
    assert transaction(lambda session: session.execute(select(inbox)).all()) == []
    [requested, done] = recorded(transaction)
    assert (done["type"], done["sequence"], done["data"]["reason"]) == ("retention.erasure_completed", 2,
                                                                        "parent_request")
    # a repeated receipt after completion changes nothing
    late = [receipt(run, "matching")]
    assert transaction(lambda session: runs.record_receipts(session, NOW, late, events)) == [None]


@pytest.mark.parametrize("changes", [{"run_id": "run-unknown"}, {"dossier_id": "dos-other"},
                                     {"service": "notification"}])
def test_a_receipt_that_fits_no_run_is_refused_alone(transaction, events, changes):
    add_clock(transaction, "dos-1", datetime(2019, 5, 1, tzinfo=UTC))
    [run] = transaction(lambda session: runs.start_due_erasures(session, NOW, 10, events))
    group = [receipt(run, "matching", **changes), receipt(run, "registration")]
    refused, recorded_ = transaction(lambda session: runs.record_receipts(session, NOW, group, events))
    assert isinstance(refused, PermanentError) and recorded_ is None
    status = transaction(lambda session: runs.run_of(session, "dos-1")).describe()
    assert status["confirmed_by"].keys() == {"registration"}


def test_a_group_of_receipts_completes_several_runs_at_once(transaction, events):
    for number in range(3):
        add_clock(transaction, f"dos-{number}", datetime(2019, 5, 1, tzinfo=UTC))
    started = transaction(lambda session: runs.start_due_erasures(session, NOW, 10, events))
    group = [receipt(run, service) for service in ("registration", "matching", "notification", "consent_export")
             for run in started[:2]] + [receipt(started[2], "matching")]
    outcomes = transaction(lambda session: runs.record_receipts(session, NOW, group, events))
    assert [outcome.dossier_id for outcome in outcomes if outcome] == [run.dossier_id for run in started[:2]]
    assert [transaction(lambda session: runs.is_tombstoned(session, run.dossier_id)) for run in started] == [
        True, True, False]
    assert [e["type"] for e in recorded(transaction)].count("retention.erasure_completed") == 2


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
