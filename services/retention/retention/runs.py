"""Erasure runs in the database: start them, record receipts, ask again, report.

The saga's rules are in `retention.erasure`; this module loads and stores runs and records the
saga's events in the outbox, in the caller's transaction. Runs started or asked again together go
out together: one `erasure_requested` per ERASURES_PER_EVENT runs, each event a batch of its own
(loket.contracts.retention, version 2); completions likewise.

Selections that may lock rows skip those another instance holds (PostgreSQL `SKIP LOCKED`), so
two instances never start or retry the same run; SQLite runs one writer at a time anyway.
"""
import uuid
from itertools import groupby
from operator import attrgetter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, false, insert, select, text, update
from sqlalchemy.orm import Session

from loket.consumer import PermanentError
from loket.contracts.retention import (
    ERASURE_COMPLETED, ERASURE_REQUESTED, ERASURES_PER_EVENT, batch_aggregate, batch_items, receipt_type,
    receipted_erasures,
)
from loket.tables import inbox
from retention import erasure
from retention.clocks import RETENTION_YEARS, erasure_cutoff
from retention.models import erasure_receipts, erasure_runs, retention_clocks, tombstones

RETENTION_EXPIRED = "retention_expired"
PARENT_REQUEST = "parent_request"


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    reason: str
    state: erasure.ErasureRun
    completed_at: datetime | None

    @property
    def dossier_id(self) -> str:
        return self.state.dossier_id

    def describe(self) -> dict:
        """The run as RPC callers see it: ids, times and which services confirmed."""
        return {
            "dossier_id": self.dossier_id,
            "run_id": self.run_id,
            "state": "completed" if self.completed_at else "in_progress",
            "reason": self.reason,
            "started_at": self.state.started_at.isoformat(),
            "attempts": self.state.attempts,
            "last_attempt_at": (self.state.last_attempt_at or self.state.started_at).isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "confirmed_by": {service: at.isoformat() for service, at in sorted(self.state.receipts.items())},
            "missing": sorted(erasure.missing_services(self.state)),
        }


# Built once: receipts arrive four per dossier, and building a statement costs more than running it.
# Rows go in by executemany of a prebuilt INSERT (multi-row INSERTs on PostgreSQL, one prepared
# statement on SQLite): an INSERT with the rows as literal VALUES is compiled anew every time, which
# cost more than the rest of the transaction.
_INSERT_CLOCK = insert(retention_clocks)
_INSERT_RUN = insert(erasure_runs)
_INSERT_RECEIPT = insert(erasure_receipts)
_INSERT_TOMBSTONE = insert(tombstones)
_LOCK_RUNS = select(erasure_runs).where(erasure_runs.c.run_id.in_(bindparam("run_ids", expanding=True))) \
    .order_by(erasure_runs.c.run_id).with_for_update()
_RECEIPTS_OF_RUNS = select(erasure_receipts).where(
    erasure_receipts.c.run_id.in_(bindparam("run_ids", expanding=True)))
_COMPLETE_RUNS = update(erasure_runs).where(erasure_runs.c.run_id.in_(bindparam("run_ids", expanding=True))) \
    .values(completed_at=bindparam("completed_at"))
_DELETE_CLOCKS = delete(retention_clocks).where(
    retention_clocks.c.dossier_id.in_(bindparam("dossier_ids", expanding=True)))
_FORGET_INBOX = delete(inbox).where(inbox.c.aggregate_id.in_(bindparam("dossier_ids", expanding=True)))
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
_TOMBSTONE = select(tombstones.c.dossier_id).where(tombstones.c.dossier_id == bindparam("dossier_id"))
_TOMBSTONES_AMONG = select(tombstones.c.dossier_id).where(
    tombstones.c.dossier_id.in_(bindparam("dossier_ids", expanding=True)))
_WITH_RUNS = select(erasure_runs.c.dossier_id).where(
    erasure_runs.c.dossier_id.in_(bindparam("dossier_ids", expanding=True)))


def _load(session: Session, rows) -> list[StoredRun]:
    receipts = {}
    if rows:
        for receipt in session.execute(_RECEIPTS_OF_RUNS, {"run_ids": [row.run_id for row in rows]}):
            receipts.setdefault(receipt.run_id, {})[receipt.service] = receipt.received_at
    return [
        StoredRun(row.run_id, row.reason, erasure.ErasureRun(
            row.dossier_id, row.started_at, erasure.PERSONAL_DATA_SERVICES, receipts.get(row.run_id, {}),
            attempts=row.attempts, last_attempt_at=row.last_attempt_at,
        ), row.completed_at)
        for row in rows
    ]


BATCH_VERSION = 2


def _request(session, events, runs: list[StoredRun]):
    """Ask every data holder to erase the runs' dossiers: one erasure_requested per
    ERASURES_PER_EVENT runs, all in one statement (the scan starts 1000 at a time)."""
    _record_batches(session, events, ERASURE_REQUESTED, [_ids(run) for run in runs])


def _record_batches(session, events, event_type, items):
    events.record_many(session, [
        (event_type, batch_aggregate(str(uuid.uuid4())), 1,
         {batch_items(event_type): items[start:start + ERASURES_PER_EVENT]})
        for start in range(0, len(items), ERASURES_PER_EVENT)], version=BATCH_VERSION)


def _ids(run: StoredRun) -> dict:
    return {"dossier_id": run.dossier_id, "run_id": run.run_id, "reason": run.reason}


def stop_clocks(session: Session, now: datetime, dossier_ids: list[str]) -> None:
    """Mark the clocks erased so no event moves them and no scan picks them again; a dossier never
    seen gets a stopped clock, so an event arriving during its erasure does not start one."""
    stopped = session.execute(
        update(retention_clocks).where(retention_clocks.c.dossier_id.in_(dossier_ids)).values(erased=True)
    ).rowcount
    if stopped < len(dossier_ids):
        known = set(session.scalars(
            select(retention_clocks.c.dossier_id).where(retention_clocks.c.dossier_id.in_(dossier_ids))))
        session.execute(_INSERT_CLOCK, [
            {"dossier_id": dossier_id, "last_activity_at": now, "has_active_request": False, "erased": True,
             "sequence": -1}
            for dossier_id in dossier_ids if dossier_id not in known
        ])


def start_runs(session: Session, now: datetime, dossier_ids: list[str], reason: str, events) -> list[StoredRun]:
    """One run per dossier (none may have one yet): clocks stopped, erasure_requested recorded."""
    started = [StoredRun(str(uuid.uuid4()), reason, erasure.start_erasure(dossier_id, now), None)
               for dossier_id in dossier_ids]
    if not started:
        return started
    stop_clocks(session, now, dossier_ids)
    session.execute(_INSERT_RUN, [
        {"run_id": run.run_id, "dossier_id": run.dossier_id, "reason": reason, "started_at": run.state.started_at,
         "attempts": run.state.attempts, "last_attempt_at": run.state.started_at, "completed_at": None}
        for run in started
    ])
    _request(session, events, started)
    return started


def start_due_erasures(session: Session, now: datetime, limit: int, events,
                       years: int = RETENTION_YEARS) -> list[StoredRun]:
    """Start runs for at most `limit` due dossiers, those last active longest ago first."""
    clocks = retention_clocks.c
    due = session.scalars(
        select(clocks.dossier_id)
        .where(clocks.has_active_request == false(), clocks.erased == false(),
               clocks.last_activity_at <= erasure_cutoff(now, years))
        .order_by(clocks.last_activity_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    return start_runs(session, now, list(due), RETENTION_EXPIRED, events)


def request_erasure(session: Session, now: datetime, dossier_id: str, reason: str, events) -> StoredRun:
    """The dossier's run: the one under way or completed, else a new one."""
    session.execute(select(retention_clocks.c.dossier_id).where(retention_clocks.c.dossier_id == dossier_id)
                    .with_for_update())  # serialise with events and scans on this dossier
    existing = run_of(session, dossier_id)
    if existing is not None:
        return existing
    return start_runs(session, now, [dossier_id], reason, events)[0]


def run_of(session: Session, dossier_id: str) -> StoredRun | None:
    rows = session.execute(select(erasure_runs).where(erasure_runs.c.dossier_id == dossier_id)).all()
    return next(iter(_load(session, rows)), None)


def with_runs(session: Session, dossier_ids) -> set[str]:
    """Those of the dossiers that have a run (under way or completed): `run_of` for many, in one
    statement, when only whether there is one matters."""
    return set(session.execute(_WITH_RUNS, {"dossier_ids": list(dossier_ids)}).scalars())


def request_missing_again(session: Session, now: datetime, retry_after: timedelta, limit: int,
                          events) -> list[StoredRun]:
    """Ask again, with the same run id, for at most `limit` open runs whose last request is
    `retry_after` old. The request goes to every data holder; those that already confirmed
    answer again and their repeated receipt changes nothing."""
    runs = erasure_runs.c
    rows = session.execute(
        select(erasure_runs)
        .where(runs.completed_at.is_(None), runs.last_attempt_at <= now - retry_after)
        .order_by(runs.last_attempt_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    retried = [StoredRun(run.run_id, run.reason, erasure.record_attempt(run.state, now), None)
               for run in _load(session, rows)]
    if retried:
        session.execute(update(erasure_runs).where(runs.run_id.in_([run.run_id for run in retried]))
                        .values(attempts=runs.attempts + 1, last_attempt_at=now))
    _request(session, events, retried)
    return retried


def record_receipts(session: Session, now: datetime, receipts: Sequence[dict], events) -> list:
    """Record data holders' receipts (a batch of receipt events, one transaction; each confirms one
    dossier or, version 2, many). Returns per receipt event the runs it completed, or a
    PermanentError if part of it fits no run: that part is not recorded, the rest is.

    Completing a run erases retention's own copy in the same transaction: the clock row and what
    the inbox knows of the dossier go, the tombstone is written and erasure_completed recorded.

    On PostgreSQL the transaction commits asynchronously (no wait for the WAL flush, which costs
    more than the rest of it): a crash may lose the last fraction of a second of receipts after
    their messages were acked, but then their runs stay open and are asked for again, and the
    services answer again. Nothing else may commit this way: a lost activity event would move a
    clock wrongly for good.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ASYNC_COMMIT)
    confirmed = [(receipt, receipted_erasures(receipt)) for receipt in receipts]
    # Runs are locked in run_id order (two batches never deadlock), then their receipts read by a
    # second statement: under READ COMMITTED that one sees receipts another batch committed while
    # this one waited for the locks.
    rows = session.execute(_LOCK_RUNS, {"run_ids": sorted({item["run_id"] for _, items in confirmed
                                                           for item in items})})
    open_runs = {run.run_id: run for run in _load(session, rows.all())}
    outcomes, added, completed = [], [], []
    for receipt, items in confirmed:
        problems, completed_here = [], []
        for item in items:
            run = open_runs.get(item["run_id"])
            problem = _misfit(receipt, item, run)
            if problem:
                problems.append(problem)
                continue
            if run.completed_at is not None or item["service"] in run.state.receipts:
                continue  # late or repeated
            state = erasure.record_receipt(run.state, item["service"], now)
            added.append({"run_id": run.run_id, "service": item["service"], "received_at": now})
            run = open_runs[run.run_id] = replace(run, state=state, completed_at=erasure.completed_at(state))
            if run.completed_at:
                completed_here.append(run)
        completed.extend(completed_here)
        outcomes.append(PermanentError("; ".join(problems)) if problems else completed_here)
    if added:
        session.execute(_INSERT_RECEIPT, added)
    if completed:
        _complete(session, completed, events)
    return outcomes


def _misfit(receipt, item, run) -> str | None:
    if receipt["type"] != receipt_type(item["service"]):
        return f"{receipt['type']} carries a receipt of {item['service']}"
    if run is None:
        return f"receipt for unknown erasure run {item['run_id']}"
    if run.dossier_id != item["dossier_id"]:
        return f"receipt of run {run.run_id} names another dossier"
    return None


def _complete(session, completed: list[StoredRun], events):
    dossier_ids = [run.dossier_id for run in completed]
    session.execute(_DELETE_CLOCKS, {"dossier_ids": dossier_ids})
    # what the inbox knows of these dossiers (loket.inbox.forget_aggregate, for many at once)
    session.execute(_FORGET_INBOX, {"dossier_ids": dossier_ids})
    session.execute(_INSERT_TOMBSTONE, [{"dossier_id": dossier_id} for dossier_id in dossier_ids])
    by_completion = attrgetter("completed_at")
    for completed_at, group in groupby(sorted(completed, key=by_completion), key=by_completion):
        session.execute(_COMPLETE_RUNS, {"run_ids": [run.run_id for run in group], "completed_at": completed_at})
    _record_batches(session, events, ERASURE_COMPLETED, [_ids(run) for run in completed])


def is_tombstoned(session: Session, dossier_id: str) -> bool:
    return session.execute(_TOMBSTONE, {"dossier_id": dossier_id}).first() is not None


TOMBSTONES_PER_STATEMENT = 5000  # SQLite's default limit is 32,766 values per statement


def tombstoned_among(session: Session, dossier_ids) -> set[str]:
    """`is_tombstoned` for many dossiers, a statement per TOMBSTONES_PER_STATEMENT: those erased
    everywhere."""
    ids = list(dossier_ids)
    return {dossier_id for start in range(0, len(ids), TOMBSTONES_PER_STATEMENT)
            for dossier_id in session.execute(
                _TOMBSTONES_AMONG, {"dossier_ids": ids[start:start + TOMBSTONES_PER_STATEMENT]}).scalars()}


def incomplete_erasures(session: Session, now: datetime, give_up_after: timedelta, limit: int) -> list[StoredRun]:
    """Open runs started `give_up_after` ago or earlier, oldest first: an operator must look."""
    runs = erasure_runs.c
    rows = session.execute(
        select(erasure_runs).where(runs.completed_at.is_(None), runs.started_at <= now - give_up_after)
        .order_by(runs.started_at).limit(limit)
    ).all()
    return _load(session, rows)
