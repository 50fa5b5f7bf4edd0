"""A batch of activity events (dossiers.apply_activities, one transaction) ends exactly as the same
events applied one after the other with apply_activity, a transaction each, and as they were applied
before batches (apply_activity as it was written, kept here as the oracle): clocks, runs and their
receipts, tombstones, statistics counts, inbox and outbox, and the runs returned as started.

The mix: registration's events of a few dossiers (registered, updated, requests cancelled, enrolled
or expired, erased), departures with and without a dossier, next, skipped and stale sequences,
redeliveries within the batch and of events applied before, on dossiers never seen, with a clock
(a request active or not), under erasure, and erased everywhere (tombstoned). Each example runs
every way on one database, emptied and set up anew in between; on SQLite and PostgreSQL.
"""
import copy
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from loket.db import create_db_engine
from loket.inbox import claim, claim_all
from loket.outbox import EventRecorder
from loket.tables import inbox, outbox, platform_metadata
from retention import dossiers, runs
from retention.clocks import DOSSIER_ERASED, REQUEST_CLOSING_EVENT_TYPES, apply_event, moves_clock
from retention.counts import load_counts
from retention.erasure import PERSONAL_DATA_SERVICES
from retention.models import erasure_receipts, erasure_runs, metadata, retention_clocks, tombstones

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SET_UP_AT = datetime(2025, 6, 1, tzinfo=UTC)
FIRST_ACTIVITY = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
ACTIVITY = "retention.activity_events"
DOSSIERS = ("dos-a", "dos-b", "dos-c", "dos-d")
# What retention holds of a dossier before the events come.
BEFORE = ("unseen", "active", "idle", "erasing", "tombstoned")
HELD_SEQUENCE = 3  # of the clocks set up
KINDS = ("registered", "updated", "cancelled", "enrolled", "expired", "erased", "departure",
         "orphan_departure", "redelivery")
CLOSED = {"cancelled": "registration.request_cancelled", "enrolled": "registration.request_enrolled",
          "expired": "registration.request_expired"}
OTHER_REQUESTS = ((), ("active",), ("cancelled",), ("active", "enrolled"))

step = st.tuples(
    st.sampled_from(DOSSIERS), st.sampled_from(KINDS),
    st.sampled_from(("next", "next", "skip", "stale")),
    st.integers(-30, 2500),  # days after the first activity (closing before registering: not counted)
    st.sampled_from(OTHER_REQUESTS), st.booleans(),  # restricted
    st.booleans(),  # the closed request is in the snapshot (else statistics cannot read it)
    st.integers(0, 1000),  # which earlier event a redelivery repeats, how stale a sequence is
)
scenario = st.tuples(
    st.fixed_dictionaries({dossier_id: st.sampled_from(BEFORE) for dossier_id in DOSSIERS}),
    st.lists(step, min_size=1, max_size=30),
    st.sets(st.integers(0, 29), max_size=4),  # events applied (claimed) before
)


class Store:
    """One database; `reset` empties it between the two ways of applying a scenario."""

    def __init__(self, url):
        self.engine = create_db_engine(url)
        metadata.create_all(self.engine)
        platform_metadata.create_all(self.engine)
        self.recorder = EventRecorder("retention")  # validates every event against its contract

    def transaction(self, work):
        with Session(self.engine) as session, session.begin():
            return work(session)

    def reset(self):
        def empty(session):
            for table in [*reversed(metadata.sorted_tables), *platform_metadata.sorted_tables]:
                session.execute(table.delete())
        self.transaction(empty)

    def set_up(self, before: dict, claimed: list):
        """Clocks, runs under way and completed ones as the service's own transactions leave them,
        and the events of `claimed` applied earlier."""
        for dossier_id, held in before.items():
            if held == "unseen":
                continue
            self.transaction(lambda session: session.execute(retention_clocks.insert().values(
                dossier_id=dossier_id, last_activity_at=FIRST_ACTIVITY + timedelta(days=40),
                has_active_request=held == "active", erased=False, sequence=HELD_SEQUENCE)))
            if held in ("erasing", "tombstoned"):
                [run] = self.transaction(lambda session: runs.start_runs(
                    session, SET_UP_AT, [dossier_id], runs.RETENTION_EXPIRED, self.recorder))
            if held == "tombstoned":
                receipts = [{"id": f"receipt-{dossier_id}-{service}", "type": f"erasure_receipt.{service}",
                             "version": 2, "aggregate_id": f"erasure_batch:{run.run_id}", "sequence": 1,
                             "data": {"service": service, "erased": [
                                 {"dossier_id": dossier_id, "run_id": run.run_id, "erased_rows": 1}]}}
                            for service in sorted(PERSONAL_DATA_SERVICES)]
                self.transaction(lambda session: runs.record_receipts(session, SET_UP_AT, receipts, self.recorder))
        if claimed:
            self.transaction(lambda session: claim_all(session, ACTIVITY, claimed))
        assert self.contents()["tombstones"] == sorted(d for d, held in before.items() if held == "tombstoned")

    def contents(self) -> dict:
        """Every row, in key order; run ids (random) replaced by their dossier, batch aggregates
        (random) by `erasure_batch`, the outbox's events by the erasures they name, times a database
        or the outbox sets itself left out."""
        def read(session):
            dossier_of_run = dict(session.execute(select(erasure_runs.c.run_id, erasure_runs.c.dossier_id)).all())
            bodies = [json.loads(body) for body in session.scalars(select(outbox.c.body).order_by(outbox.c.id))]
            return {
                "clocks": [tuple(row) for row in session.execute(
                    select(retention_clocks).order_by(retention_clocks.c.dossier_id))],
                "runs": [tuple(row) for row in session.execute(
                    select(*[column for column in erasure_runs.c if column.name != "run_id"])
                    .order_by(erasure_runs.c.dossier_id))],
                "receipts": sorted((dossier_of_run[row.run_id], row.service, row.received_at)
                                   for row in session.execute(select(erasure_receipts))),
                "tombstones": list(session.scalars(select(tombstones.c.dossier_id).order_by(tombstones.c.dossier_id))),
                "counts": dict(load_counts(session)),
                "inbox": sorted(tuple(row) for row in session.execute(
                    select(inbox.c.consumer, inbox.c.event_id, inbox.c.aggregate_id))),
                "outbox": [(body["type"], body["version"], body["aggregate_id"].split(":")[0], body["sequence"],
                            {**erasure, "run_id": ("run of", dossier_of_run[erasure["run_id"]])})
                           for body in bodies for erasure in _erasures(body)],
            }
        return self.transaction(read)


def _erasures(body) -> list[dict]:
    """The erasures a version-2 erasure_requested or erasure_completed names: runs started together
    share an event (a batch), those started one by one do not, so events are compared per erasure."""
    [erasures] = body["data"].values()
    return erasures


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.engine.dispose()


def activity(steps, before, snapshot, envelope) -> list[dict]:
    """The events the steps describe, as registration and matching publish them."""
    sequences = {dossier_id: HELD_SEQUENCE if held != "unseen" else 0 for dossier_id, held in before.items()}
    events = []
    for number, (dossier_id, kind, order, days, others, restricted, known, pick) in enumerate(steps):
        if kind == "redelivery" and events:
            events.append(copy.deepcopy(events[pick % len(events)]))
            continue
        at = FIRST_ACTIVITY + timedelta(days=days)
        if kind in ("departure", "orphan_departure"):
            orphan = kind == "orphan_departure"
            data = {"enrollment_id": number, "facility_id": "fac-0001", "dossier_id": None if orphan else dossier_id,
                    "request_id": None if orphan else "req-1",
                    "left_on": (at.date() + timedelta(days=pick % 90)).isoformat()}
            event = envelope("matching.departure_recorded", pick % 4 + 1, at.isoformat(), data,
                             aggregate_id=f"enrollment-{number}" if orphan else dossier_id)
            events.append(dict(event, id=f"evt-{number}", producer="matching"))
            continue
        if order == "stale":
            sequence = sequences[dossier_id] - pick % 3
        else:
            sequences[dossier_id] += 2 if order == "skip" else 1
            sequence = sequences[dossier_id]
        last_activity_at = (at - timedelta(days=pick % 5)).isoformat()
        if kind == "erased":
            data = {"dossier_id": dossier_id}
        elif kind in CLOSED:
            statuses = ({"cancelled": "cancelled", "enrolled": "enrolled", "expired": "expired"}[kind],) + others
            data = {"dossier": snapshot(last_activity_at, statuses, id=dossier_id, restricted=restricted),
                    "request_id": "req-1" if known else "req-9"}
        else:
            data = {"dossier": snapshot(last_activity_at, ("active",) + others, id=dossier_id,
                                        restricted=restricted)}
        event_type = CLOSED.get(kind) or f"registration.dossier_{kind if kind != 'redelivery' else 'updated'}"
        events.append(dict(envelope(event_type, sequence, at.isoformat(), data, aggregate_id=dossier_id),
                           id=f"evt-{number}"))
    return events


def as_written_per_event(session, now, event, consumer, recorder):
    """The rule as apply_activity applied it, statement by statement, before batches: the oracle
    that one event alone still follows."""
    if not moves_clock(event):
        return None
    dossier_id = event["aggregate_id"]
    row = session.execute(select(retention_clocks).where(retention_clocks.c.dossier_id == dossier_id)
                          .with_for_update()).first()
    if row is None and runs.is_tombstoned(session, dossier_id):
        return None
    if not claim(session, consumer, event):
        return None
    current = dossiers._clock(row)
    clock = apply_event(current, event)
    if current is None:
        session.execute(insert(retention_clocks).values(**dossiers._columns(clock)))
    elif clock != current:
        session.execute(update(retention_clocks).where(retention_clocks.c.dossier_id == dossier_id)
                        .values(**dossiers._columns(clock)))
    if event["type"] in REQUEST_CLOSING_EVENT_TYPES:
        dossiers._count_closed_request(session, event)
    if event["type"] == DOSSIER_ERASED and runs.run_of(session, dossier_id) is None:
        [started] = runs.start_runs(session, now, [dossier_id], runs.PARENT_REQUEST, recorder)
        return started
    return None


def per_event_as_written(store, events):
    started = [store.transaction(lambda session: as_written_per_event(session, NOW, event, ACTIVITY, store.recorder))
               for event in copy.deepcopy(events)]
    return [run for run in started if run is not None]


def one_by_one(store, events):
    started = [store.transaction(lambda session: dossiers.apply_activity(session, NOW, event, ACTIVITY,
                                                                          store.recorder))
               for event in copy.deepcopy(events)]
    return [run for run in started if run is not None]


def as_a_batch(store, events):
    return store.transaction(lambda session: dossiers.apply_activities(session, NOW, copy.deepcopy(events),
                                                                        ACTIVITY, store.recorder))


def every_way(store, before, events, claimed_before):
    """(contents, runs started) after the events one by one as apply_activity was written, one by
    one with apply_activity, and as a batch."""
    outcomes = []
    for apply in (per_event_as_written, one_by_one, as_a_batch):
        store.reset()
        store.set_up(before, copy.deepcopy(claimed_before))
        started = apply(store, events)
        contents = store.contents()
        run_ids = {dossier_id: run_id for run_id, dossier_id in store.transaction(
            lambda session: session.execute(select(erasure_runs.c.run_id, erasure_runs.c.dossier_id)).all())}
        assert all(run_ids[run.dossier_id] == run.run_id for run in started)
        outcomes.append((contents, [(run.dossier_id, run.reason, run.state.started_at) for run in started]))
    return outcomes


ALL_IDLE = dict.fromkeys(DOSSIERS, "idle")
# (dossier, kind, order, days, other requests, restricted, request known, pick)


@given(scenario)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# registration erases a dossier retention holds, then events after the erasure, a stale erasure
@example((ALL_IDLE, [("dos-a", "updated", "next", 900, (), False, True, 0),
                     ("dos-a", "erased", "next", 901, (), False, True, 0),
                     ("dos-a", "updated", "next", 902, (), False, True, 0),
                     ("dos-b", "erased", "stale", 10, (), False, True, 0),
                     ("dos-b", "departure", "next", 20, (), False, True, 7),
                     ("dos-a", "redelivery", "next", 0, (), False, True, 1)], set()))
# a dossier never seen erased, then departures; tombstoned and erasing dossiers' events
@example(({"dos-a": "unseen", "dos-b": "tombstoned", "dos-c": "erasing", "dos-d": "unseen"},
          [("dos-a", "erased", "next", 5, (), False, True, 0),
           ("dos-a", "departure", "next", 6, (), False, True, 40),
           ("dos-b", "updated", "next", 7, (), False, True, 0),
           ("dos-b", "erased", "next", 8, (), False, True, 0),
           ("dos-c", "erased", "next", 9, (), False, True, 0),
           ("dos-c", "departure", "next", 9, (), False, True, 3),
           ("dos-d", "departure", "next", 3, (), False, True, 2),
           ("dos-d", "registered", "next", 1, ("active",), False, True, 0)], {0}))
# requests closing: counted once each (redelivered, applied before), not when restricted or unreadable
@example(({"dos-a": "active", "dos-b": "unseen", "dos-c": "idle", "dos-d": "tombstoned"},
          [("dos-a", "enrolled", "next", 300, (), False, True, 0),
           ("dos-a", "cancelled", "stale", 300, (), False, True, 1),
           ("dos-b", "expired", "next", 300, ("active",), False, True, 0),
           ("dos-b", "redelivery", "next", 0, (), False, True, 2),
           ("dos-c", "cancelled", "next", 300, (), True, True, 0),
           ("dos-c", "expired", "next", 300, (), False, False, 0),
           ("dos-c", "enrolled", "next", -10, (), False, True, 0),
           ("dos-d", "cancelled", "next", 300, (), False, True, 0),
           ("dos-a", "orphan_departure", "next", 3, (), False, True, 0)], {4}))
def test_a_batch_of_activity_ends_as_its_events_one_by_one(store, snapshot, envelope, case):
    before, steps, claimed = case
    events = activity(steps, before, snapshot, envelope)
    claimed_before = [events[index] for index in sorted(claimed) if index < len(events)]
    expected, one_event_at_a_time, batch = every_way(store, before, events, claimed_before)
    assert one_event_at_a_time == expected
    assert batch == expected


def test_the_examples_reach_what_a_batch_must_get_right(store, snapshot, envelope):
    """The explicit examples above do start runs, count requests, ignore tombstoned dossiers."""
    before = {"dos-a": "unseen", "dos-b": "tombstoned", "dos-c": "erasing", "dos-d": "active"}
    steps = [("dos-a", "erased", "next", 5, (), False, True, 0),
             ("dos-a", "updated", "next", 6, (), False, True, 0),
             ("dos-b", "updated", "next", 7, (), False, True, 0),
             ("dos-c", "erased", "next", 9, (), False, True, 0),
             ("dos-d", "enrolled", "next", 300, (), False, True, 0),
             ("dos-d", "redelivery", "next", 0, (), False, True, 4)]
    events = activity(steps, before, snapshot, envelope)
    (expected, started), *others = every_way(store, before, events, [])
    assert others == [(expected, started)] * 2
    contents = expected
    assert [dossier_id for dossier_id, _, _ in started] == ["dos-a"]
    assert sum(contents["counts"].values()) == 1
    assert [row[0] for row in contents["clocks"]] == ["dos-a", "dos-c", "dos-d"]
    assert all(erased for dossier_id, _, _, erased, _ in contents["clocks"] if dossier_id in ("dos-a", "dos-c"))
    assert "evt-2" not in {event_id for _, event_id, _ in contents["inbox"]}  # tombstoned: not claimed


def test_a_batch_takes_a_handful_of_statements_whatever_its_size(store, envelope):
    """200 dossier_erased of dossiers under erasure (what an erasure of 100,000 brings), and 200
    registrations of new dossiers: a few statements each, not a few per event."""
    store.reset()
    under_erasure = [f"dos-{n:03d}" for n in range(200)]
    store.transaction(lambda session: session.execute(retention_clocks.insert(), [
        {"dossier_id": dossier_id, "last_activity_at": FIRST_ACTIVITY, "has_active_request": False, "erased": False,
         "sequence": HELD_SEQUENCE} for dossier_id in under_erasure]))
    store.transaction(lambda session: runs.start_runs(session, SET_UP_AT, under_erasure, runs.RETENTION_EXPIRED,
                                                      store.recorder))
    statements = []

    def executed(connection, cursor, statement, *args):
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE (loket.db)
            statements.append(statement)
    sa_event.listen(store.engine, "before_cursor_execute", executed)
    erased = [envelope("registration.dossier_erased", 9, NOW.isoformat(), {"dossier_id": f"dos-{n:03d}"},
                       aggregate_id=f"dos-{n:03d}") for n in range(200)]
    assert as_a_batch(store, erased) == []
    assert len(statements) <= 4, statements  # clocks locked, inbox read and written, runs read

    statements.clear()
    orphan = {"enrollment_id": 7, "facility_id": "fac-0001", "dossier_id": None, "request_id": None,
              "left_on": "2026-03-01"}
    registered = [envelope("matching.departure_recorded", 1, NOW.isoformat(), orphan, "enrollment-7")]  # no clock
    registered += [envelope("registration.dossier_erased", 1, NOW.isoformat(), {"dossier_id": f"new-{n:03d}"},
                            aggregate_id=f"new-{n:03d}") for n in range(200)]
    started = as_a_batch(store, registered)
    assert [run.dossier_id for run in started] == [f"new-{n:03d}" for n in range(200)]
    # clocks locked, tombstones, inbox read and written, runs read, clocks written, runs started
    # (clocks stopped, runs and erasure_requested written)
    assert len(statements) <= 10, statements
    held = store.contents()
    assert len(held["clocks"]) == 400 and all(erased for _, _, _, erased, _ in held["clocks"])
    assert len(held["outbox"]) == 400 and len(held["inbox"]) == 400
    # one erasure_requested per 200 runs started together: the set-up's and the batch's
    assert store.transaction(lambda session: session.scalars(select(outbox.c.event_type)).all()) == [
        "retention.erasure_requested"] * 2


def test_events_of_one_dossier_in_a_batch_move_its_clock_in_turn(store, envelope):
    """Several departures of one dossier in a batch: the clock where the latest day leaves it."""
    store.reset()
    store.set_up({"dos-a": "idle"}, [])

    def departure(number, left_on):
        data = {"enrollment_id": number, "facility_id": "fac-0001", "dossier_id": "dos-a", "request_id": "req-1",
                "left_on": left_on.isoformat()}
        return dict(envelope("matching.departure_recorded", 1, NOW.isoformat(), data, aggregate_id="dos-a"),
                    producer="matching")
    as_a_batch(store, [departure(1, date(2026, 5, 1)), departure(2, date(2026, 4, 1))])
    [(_, last_activity_at, _, erased, sequence)] = store.contents()["clocks"]
    assert (last_activity_at, sequence, erased) == (datetime(2026, 5, 1, tzinfo=UTC), HELD_SEQUENCE, False)
