"""What retention holds per dossier: its clock, moved by registration events, and its view for the
parent's data export.
"""
import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from loket.inbox import claim_all
from retention import runs
from retention.clocks import (
    DOSSIER_ERASED, REQUEST_CLOSING_EVENT_TYPES, RETENTION_YEARS, RetentionClock, apply_event, moves_clock,
    retention_ends_at,
)
from retention.counts import add_fact
from retention.facts import request_fact
from retention.models import retention_clocks

log = logging.getLogger(__name__)


def _clock(row) -> RetentionClock | None:
    if row is None:
        return None
    return RetentionClock(row.dossier_id, row.last_activity_at, row.has_active_request, row.erased, row.sequence)


_CLOCK = select(retention_clocks).where(retention_clocks.c.dossier_id == bindparam("dossier_id"))
# Built once (a batch of activity events runs each of them once; building one costs more than
# running it). Clocks are locked in id order, so two batches never deadlock.
_LOCK_CLOCKS = select(retention_clocks).where(
    retention_clocks.c.dossier_id.in_(bindparam("dossier_ids", expanding=True))
).order_by(retention_clocks.c.dossier_id).with_for_update()
_INSERT_CLOCK = insert(retention_clocks)
# executemany: the SET clause is every other key of the rows (see _changed_columns)
_UPDATE_CLOCK = update(retention_clocks).where(retention_clocks.c.dossier_id == bindparam("clock_id"))


def apply_activity(session: Session, now: datetime, event: dict, consumer: str, events) -> runs.StoredRun | None:
    """Apply one event that moves a clock (clocks.moves_clock: registration's, a departure) once:
    `apply_activities` of that event alone. Returns the erasure run it started, if any."""
    started = apply_activities(session, now, [event], consumer, events)
    return started[0] if started else None


def apply_activities(session: Session, now: datetime, events, consumer: str, recorder) -> list[runs.StoredRun]:
    """Apply a batch of activity events in the caller's transaction, exactly as applying them one
    after the other would; returns the erasure runs they started, in order.

    Per event, in order: one that moves no clock (a departure of an erased dossier's child: its
    aggregate is the enrollment) is ignored, and so is one of a dossier that has no clock and is
    tombstoned (checked after the lock: a run completing concurrently has then committed its
    tombstone); the others are claimed once (loket.inbox), and each one claimed moves its clock as
    `clocks.apply_event` says, counts a request that closes in the statistics (the claim and the
    count commit together), and, when it is registration's erasure of a dossier that has no run
    yet, starts one and stops the clock: when registration erased the dossier on its own, every
    other holder must too.

    In a handful of statements whatever the batch holds: the clocks locked and read at once,
    tombstones and runs read at once, the clocks moved in memory and written by one INSERT and one
    UPDATE (executemany), the runs started together; only closing requests count one by one.
    """
    moving = [event for event in events if moves_clock(event)]
    if not moving:
        return []
    dossier_ids = sorted({event["aggregate_id"] for event in moving})
    stored = {row.dossier_id: _clock(row) for row in session.execute(_LOCK_CLOCKS, {"dossier_ids": dossier_ids})}
    # No event gives a tombstoned dossier without a clock one (all of its events are ignored), so
    # what the lock found decides for the whole batch.
    unseen = [dossier_id for dossier_id in dossier_ids if dossier_id not in stored]
    gone = runs.tombstoned_among(session, unseen) if unseen else set()
    claimed = claim_all(session, consumer, [event for event in moving if event["aggregate_id"] not in gone])
    erased = {event["aggregate_id"] for event in claimed if event["type"] == DOSSIER_ERASED}
    with_run = runs.with_runs(session, sorted(erased)) if erased else set()
    clocks, starting = dict(stored), []
    for event in claimed:
        dossier_id = event["aggregate_id"]
        clocks[dossier_id] = apply_event(clocks.get(dossier_id), event)
        if event["type"] in REQUEST_CLOSING_EVENT_TYPES:
            _count_closed_request(session, event)
        if event["type"] == DOSSIER_ERASED and dossier_id not in with_run:
            with_run.add(dossier_id)
            starting.append(dossier_id)
            # what runs.start_runs does to the stored clock (stop_clocks), for the events after it
            clocks[dossier_id] = replace(clocks[dossier_id], erased=True)
    _write_clocks(session, stored, clocks)
    return runs.start_runs(session, now, starting, runs.PARENT_REQUEST, recorder)


def _write_clocks(session, stored: dict, clocks: dict):
    """New clocks by one INSERT, changed ones by one UPDATE (executemany each), in id order."""
    added, changed = [], []
    for dossier_id in sorted(clocks):
        clock = clocks[dossier_id]
        before = stored.get(dossier_id)
        if before is None:
            added.append(_columns(clock))
        elif clock != before:
            changed.append(_changed_columns(clock))
    if added:
        session.execute(_INSERT_CLOCK, added)
    if changed:
        session.execute(_UPDATE_CLOCK, changed)


def _changed_columns(clock: RetentionClock) -> dict:
    columns = _columns(clock)
    return {"clock_id": columns.pop("dossier_id"), **columns}


def _columns(clock: RetentionClock) -> dict:
    return {"dossier_id": clock.dossier_id, "last_activity_at": clock.last_activity_at,
            "has_active_request": clock.has_active_request, "erased": clock.erased, "sequence": clock.sequence}


def _count_closed_request(session, event):
    dossier = event["data"]["dossier"]
    if dossier["restricted"]:
        return  # the parent restricted processing (P23): no statistics either
    request_id = event["data"]["request_id"]
    try:
        fact = request_fact(dossier, request_id, event["occurred_at"])
    except (StopIteration, ValueError) as exc:
        # A snapshot statistics cannot read must not hold up the clock: count nothing, say so.
        log.warning("request %s of dossier %s not counted in the statistics: %s",
                    request_id, event["aggregate_id"], type(exc).__name__)
        return
    add_fact(session, fact)


def personal_data(session: Session, dossier_id: str, years: int = RETENTION_YEARS) -> dict:
    """Everything retention holds about the dossier, for the parent's export (P23): its clock, and
    when the data will be erased (GDPR art. 15(1)(d): the storage period)."""
    clock = _clock(session.execute(_CLOCK, {"dossier_id": dossier_id}).first())
    held = None
    if clock is not None:
        erased_from = None
        if not clock.erased and not clock.has_active_request:
            erased_from = retention_ends_at(clock.last_activity_at, years).isoformat()
        held = {"last_activity_at": clock.last_activity_at.isoformat(),
                "has_active_request": clock.has_active_request,
                "erasure_started": clock.erased,
                "erased_from": erased_from}
    run = runs.run_of(session, dossier_id)
    return {"service": "retention", "dossier_id": dossier_id, "retention_clock": held,
            "erasure": run.describe() if run else None}
