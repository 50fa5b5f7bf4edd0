"""What retention holds per dossier: its clock, moved by registration events, and its view for the
parent's data export.
"""
import logging
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from loket.inbox import claim
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
_LOCK_CLOCK = _CLOCK.with_for_update()


def apply_activity(session: Session, now: datetime, event: dict, consumer: str, events) -> runs.StoredRun | None:
    """Apply one event that moves a clock (clocks.moves_clock: registration's, a departure) once.

    The clock moves as `clocks.apply_event` says; a request that closes is counted in the
    statistics (once: the inbox claim and the count commit together). Returns the erasure run this
    event started: when registration erased the dossier on its own, every other holder must too.
    """
    if not moves_clock(event):
        return None  # a departure of an erased dossier's child: its aggregate is the enrollment
    dossier_id = event["aggregate_id"]
    row = session.execute(_LOCK_CLOCK, {"dossier_id": dossier_id}).first()
    # Checked after the lock: a run completing concurrently has then committed its tombstone.
    if row is None and runs.is_tombstoned(session, dossier_id):
        return None
    if not claim(session, consumer, event):
        return None
    current = _clock(row)
    clock = apply_event(current, event)
    if current is None:
        session.execute(insert(retention_clocks).values(**_columns(clock)))
    elif clock != current:
        session.execute(update(retention_clocks).where(retention_clocks.c.dossier_id == dossier_id)
                        .values(**_columns(clock)))
    if event["type"] in REQUEST_CLOSING_EVENT_TYPES:
        _count_closed_request(session, event)
    if event["type"] == DOSSIER_ERASED and runs.run_of(session, dossier_id) is None:
        [started] = runs.start_runs(session, now, [dossier_id], runs.PARENT_REQUEST, events)
        return started
    return None


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
