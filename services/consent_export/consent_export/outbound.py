"""The outbound queue in the database: what an event queues, which transfer the sender may send
next, what an attempt's outcome does, and the views for operators and for the parent.

Order: transfers of one (dossier, partner) go out strictly in id order. A transfer is sendable
only when no earlier one of its (dossier, partner) is still queued, parked or in flight, so the
head of a dossier's queue holds back that dossier alone, and each partner has its own sender.

A withdrawal (or an erasure) queues a delete and supersedes every push or update of that
(dossier, partner) still waiting: those are never sent. One already in flight finishes (its
lease keeps the delete behind it) and the delete follows.

What runs once per event or per transfer is prebuilt Core on the tables, executed with
parameters: building ORM statements per call cost more than the database work itself.
"""
import random
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import (
    DateTime, Float, Integer, String, and_, bindparam, case, delete, exists, func, insert, or_,
    select, update,
)
from sqlalchemy.orm import Session

from consent_export.fields import PARTNERS
from consent_export.models import (
    DELIVERED, PARKED, PENDING, QUEUED, SUPERSEDED, DossierState, ErasedDossier, ExportedData,
    QueuedTransfer, TransferLogEntry, as_utc,
)
from consent_export.retry import RetryPolicy
from consent_export.transfers import (
    DELETE, DOSSIER_EVENT_TYPES, Exported, Transfer, transfers_for_event,
)
from consent_export.transport import Delivery, RejectedByPartner, TransientPartnerError
from loket.errors import Conflict, NotFound

_transfers = QueuedTransfer.__table__
_log = TransferLogEntry.__table__
_states = DossierState.__table__
_exported = ExportedData.__table__

_erased = ErasedDossier.__table__

_ERASED_AMONG = select(_erased.c.dossier_ref).where(
    _erased.c.dossier_ref.in_(bindparam("b_refs", expanding=True)))
# Several dossiers' rows, always locked in the same order (two batches cannot wait on each other).
_LOCK_STATES = (select(_states.c.dossier_id, _states.c.last_sequence, _states.c.restricted)
                .where(_states.c.dossier_id.in_(bindparam("b_dossiers", expanding=True)))
                .order_by(_states.c.dossier_id).with_for_update())
_INSERT_STATE = insert(_states)
_UPDATE_STATE = update(_states).where(_states.c.dossier_id == bindparam("b_dossier"))
_FORGET_STATES = delete(_states).where(_states.c.dossier_id.in_(bindparam("b_dossiers", expanding=True)))
_SELECT_EXPORTED = (select(_exported.c.dossier_id, _exported.c.partner, _exported.c.payload_hash,
                           _exported.c.consent_id)
                    .where(_exported.c.dossier_id.in_(bindparam("b_dossiers", expanding=True))))
_EXPORTED_KEY = and_(_exported.c.dossier_id == bindparam("b_dossier"),
                     _exported.c.partner == bindparam("b_partner"))
_INSERT_EXPORTED = insert(_exported)
_UPDATE_EXPORTED = update(_exported).where(_EXPORTED_KEY)
_DELETE_EXPORTED = delete(_exported).where(_EXPORTED_KEY)
_INSERT_TRANSFER = insert(_transfers)
_INSERT_LOG = insert(_log)

_LEASED = and_(_transfers.c.id == bindparam("b_id"), _transfers.c.lease_owner == bindparam("b_owner"))
_RELEASED = {"lease_owner": None, "lease_until": None, "partner_status": bindparam("b_status"),
             "partner_answer": bindparam("b_answer")}
_OUTCOME_COLUMNS = (_transfers.c.status, _transfers.c.attempts, _transfers.c.kind,
                    _transfers.c.dossier_id, _transfers.c.idempotency_key)
_WAS_QUEUED = _transfers.c.status == QUEUED
# Deliveries with the same answer, together; a transfer whose lease this owner lost is left alone.
_RELEASE_DELIVERED = update(_transfers).where(
    _transfers.c.id.in_(bindparam("b_ids", expanding=True)), _transfers.c.lease_owner == bindparam("b_owner"),
).values(
    **_RELEASED, status=case((_WAS_QUEUED, DELIVERED), else_=_transfers.c.status),
    payload=case((_WAS_QUEUED, None), else_=_transfers.c.payload),
).returning(_transfers.c.id, *_OUTCOME_COLUMNS)
_RELEASE_FAILED = update(_transfers).where(_LEASED).values(**_RELEASED).returning(*_OUTCOME_COLUMNS)
_RESCHEDULE = update(_transfers).where(_transfers.c.id == bindparam("b_id")).values(
    status=bindparam("b_next_status"), next_attempt_at=bindparam("b_at"))
_LOGGED_ANSWER = case((_log.c.pseudonymised, None), else_=bindparam("b_answer", type_=String))
_LOG_FAILED = update(_log).where(_log.c.idempotency_key == bindparam("b_key")).values(
    attempts=bindparam("b_attempts"), status=bindparam("b_log_status"),
    partner_status=bindparam("b_status"), partner_answer=_LOGGED_ANSWER,
)
# A transfer superseded while in flight that did reach the partner is logged as delivered.
_LOG_DELIVERED = update(_log).where(_log.c.idempotency_key.in_(bindparam("b_keys", expanding=True))).values(
    attempts=select(_transfers.c.attempts).where(_transfers.c.idempotency_key == _log.c.idempotency_key)
    .scalar_subquery(),
    status=DELIVERED, partner_status=bindparam("b_status"), partner_answer=_LOGGED_ANSWER,
    sent_at=bindparam("b_sent", type_=DateTime(timezone=True)),
)
# An erased dossier has no state row; its delete was kept only until the partner had it.
_DROP_ERASED_DELETES = delete(_transfers).where(
    _transfers.c.id.in_(bindparam("b_ids", expanding=True)),
    ~exists().where(_states.c.dossier_id == _transfers.c.dossier_id))


def apply_event(session: Session, event: Mapping, now: datetime,
                pseudonym: Callable[[str], str]) -> list[Transfer]:
    """Queue the transfers a registration event causes; returns them (an older event: none)."""
    return apply_events(session, [event], now, pseudonym)


def apply_events(session: Session, events: list[Mapping], now: datetime,
                 pseudonym: Callable[[str], str]) -> list[Transfer]:
    """Queue the transfers registration events cause, in one transaction; returns them.

    The events (of any dossiers, in arrival order) end exactly as if `apply_event` had taken them
    one by one in that order: each dossier's state row is locked (made when new) and checked for
    an erasure, an event not newer than the dossier's last applied one is ignored, and each
    applied event is decided against what the partners hold after the events before it. The work
    is done in a few statements for the whole batch, not a few per event.

    On PostgreSQL, withdrawals of two dossiers in one batch can wait crosswise on a sender's turn
    that records outcomes of both; PostgreSQL then aborts one transaction (a deadlock), and it is
    done again: the batch's events one by one (loket.consumer), the turn's outcomes at the next turn.
    """
    events = [event for event in events if event["type"] in DOSSIER_EVENT_TYPES]
    if not events:
        return []
    dossier_ids = sorted({event["aggregate_id"] for event in events})
    found = {row.dossier_id: row for row in session.execute(_LOCK_STATES, {"b_dossiers": dossier_ids})}
    # Which events apply, and each dossier's state once they have: pure, from the rows locked.
    states = {dossier_id: {"last_sequence": row.last_sequence, "restricted": row.restricted}
              for dossier_id, row in found.items()}
    applicable = []
    for event in events:
        state = states.setdefault(event["aggregate_id"], {"last_sequence": None, "restricted": False})
        if state["last_sequence"] is not None and event["sequence"] <= state["last_sequence"]:
            continue
        state["last_sequence"] = event["sequence"]
        snapshot = event["data"].get("dossier")
        if snapshot is not None:
            state["restricted"] = snapshot["restricted"] is True
        applicable.append(event)
    new = [dossier_id for dossier_id in dossier_ids if dossier_id not in found]
    if new:
        # The insert locks a new dossier's row; a concurrent creator fails on the key and is retried.
        session.execute(_INSERT_STATE, [{"dossier_id": dossier_id, **states[dossier_id]}
                                        for dossier_id in new])
    # Checked under the dossiers' locks: an erasure that committed meanwhile is seen here.
    erased = erased_among(session, dossier_ids, pseudonym)
    if gone := [dossier_id for dossier_id in new if dossier_id in erased]:
        session.execute(_FORGET_STATES, {"b_dossiers": gone})
    live = {event["aggregate_id"] for event in applicable} - erased
    if changed := [dossier_id for dossier_id in dossier_ids if dossier_id in found and dossier_id in live]:
        session.execute(_UPDATE_STATE, [{"b_dossier": dossier_id, **states[dossier_id]}
                                        for dossier_id in changed])
    queue = _Queue(session, now, exported_among(session, sorted(live)))
    for event in applicable:
        if event["aggregate_id"] in live:
            queue.add(transfers_for_event(event, queue.held(event["aggregate_id"])))
    return queue.finish()


def lock_dossiers(session: Session, dossier_ids: list[str]) -> set[str]:
    """Lock the dossiers' state rows for this transaction, in id order; returns the dossiers that
    had one. A missing row is made (sequence 0): the insert locks it, and a concurrent creator
    fails on the key and is retried."""
    dossier_ids = sorted(set(dossier_ids))
    found = set(session.execute(_LOCK_STATES, {"b_dossiers": dossier_ids}).scalars())
    if new := [dossier_id for dossier_id in dossier_ids if dossier_id not in found]:
        session.execute(_INSERT_STATE, [{"dossier_id": dossier_id, "last_sequence": 0, "restricted": False}
                                        for dossier_id in new])
    return found


def erased_among(session: Session, dossier_ids: list[str], pseudonym: Callable[[str], str]) -> set[str]:
    """The dossiers of `dossier_ids` that were erased here."""
    refs = {pseudonym(dossier_id): dossier_id for dossier_id in dossier_ids}
    return {refs[ref] for ref in session.execute(_ERASED_AMONG, {"b_refs": list(refs)}).scalars()}


def forget_dossier_states(session: Session, dossier_ids: list[str]) -> int:
    """Drop the dossiers' state rows (ids and flags); returns the rows deleted."""
    return session.execute(_FORGET_STATES, {"b_dossiers": list(dossier_ids)}).rowcount


def exported_among(session: Session, dossier_ids: list[str]) -> dict[str, dict[str, Exported]]:
    """What each partner holds for each dossier (once its queue is delivered):
    {dossier id: {partner: Exported}}, only the dossiers held anywhere."""
    held: dict[str, dict[str, Exported]] = {}
    if dossier_ids:
        for dossier_id, partner, digest, consent in session.execute(_SELECT_EXPORTED,
                                                                     {"b_dossiers": dossier_ids}):
            held.setdefault(dossier_id, {})[partner] = Exported(digest, consent)
    return held


def queue_deletes(session: Session, deletes: list[Transfer], now: datetime) -> list[Transfer]:
    """Queue deletes together, each as `_Queue.add` would, with a few statements for all of them;
    returns those queued. What the partners hold (`exported`) is left to the caller."""
    queue = _Queue(session, now, {})
    queue.add(deletes)
    return queue.finish()


class _Queue:
    """Transfers being queued in one transaction, and what each partner will hold after them.

    `add` decides in memory, in order; `finish` writes: the transfers and their log rows in one
    statement each (one round trip on PostgreSQL, insertmanyvalues), what the partners hold as
    the difference between before and after. The deletes ask the table two questions, once for
    all their (dossier, partner) queues: what is still waiting there, and whether anything may
    have reached the partner since the last delete. The transfers added here are not in the
    table yet; what a delete does to them is decided from `add`'s order (see `_settle`).
    """

    def __init__(self, session: Session, now: datetime, held: dict[str, dict[str, Exported]]):
        self._session = session
        self._now = now
        self._held = held  # {dossier id: {partner: Exported}}, kept up to date by `add`
        self._before = {dossier_id: dict(partners) for dossier_id, partners in held.items()}
        self._added: list[Transfer] = []

    def held(self, dossier_id: str) -> dict[str, Exported]:
        """What each partner holds for the dossier after the transfers added so far."""
        return self._held.setdefault(dossier_id, {})

    def add(self, transfers: list[Transfer]) -> None:
        """Queue `transfers`, in order, after those added before. A delete supersedes what is
        still waiting in its (dossier, partner) queue, and is not queued at all when nothing left
        for that partner since the last delete (there is nothing to delete there)."""
        for transfer in transfers:
            if transfer.kind == DELETE:
                self.held(transfer.dossier_id).pop(transfer.partner, None)
            else:
                self.held(transfer.dossier_id)[transfer.partner] = transfer.exported
            self._added.append(transfer)

    def finish(self) -> list[Transfer]:
        """Write what was added; returns the transfers queued, in order (pushes and updates that
        a later delete superseded included, deletes that had nothing to delete left out)."""
        queued, superseded = self._settle()
        self._write_exported()
        self._write_transfers(queued, superseded)
        return queued

    def _settle(self) -> tuple[list[Transfer], set[str]]:
        """(the transfers to queue, the keys of those of them superseded already), as if each
        delete had asked the table in turn with everything before it written.

        Of the transfers added here, none was attempted yet: the first delete of a queue goes only
        if the table says something may have reached the partner since its last delete, a later
        delete of that queue never (nothing was attempted since the first); each delete
        supersedes the pushes and updates added before it in its queue, and the first one those
        waiting in the table."""
        deleting = {(transfer.dossier_id, transfer.partner) for transfer in self._added
                    if transfer.kind == DELETE}
        if not deleting:
            return self._added, set()
        _supersede_waiting(self._session, deleting)
        may_hold = _partners_may_hold_data(self._session, deleting)
        queued, superseded, waiting = [], set(), {}
        for transfer in self._added:
            queue = (transfer.dossier_id, transfer.partner)
            if transfer.kind != DELETE:
                waiting.setdefault(queue, []).append(transfer.idempotency_key)
                queued.append(transfer)
                continue
            superseded.update(waiting.pop(queue, ()))
            if queue in may_hold:
                may_hold.discard(queue)
                queued.append(transfer)
        return queued, superseded

    def _write_transfers(self, transfers: list[Transfer], superseded: set[str]) -> None:
        if not transfers:
            return
        rows = [(transfer, transfer.idempotency_key in superseded) for transfer in transfers]
        self._session.execute(_INSERT_TRANSFER, [{
            "idempotency_key": transfer.idempotency_key, "dossier_id": transfer.dossier_id,
            "partner": transfer.partner, "kind": transfer.kind,
            "payload": None if gone else transfer.payload,
            "field_names": list(transfer.field_names), "consent_id": transfer.consent_id,
            "status": SUPERSEDED if gone else QUEUED, "attempts": 0, "next_attempt_at": 0.0,
        } for transfer, gone in rows])
        self._session.execute(_INSERT_LOG, [{
            "idempotency_key": transfer.idempotency_key, "dossier_ref": transfer.dossier_id,
            "pseudonymised": False, "partner": transfer.partner, "kind": transfer.kind,
            "field_names": list(transfer.field_names), "consent_id": transfer.consent_id,
            "queued_at": self._now, "attempts": 0, "status": SUPERSEDED if gone else QUEUED,
        } for transfer, gone in rows])

    def _write_exported(self) -> None:
        inserted, updated, deleted = [], [], []
        for dossier_id, after in self._held.items():
            before = self._before.get(dossier_id, {})
            for partner in PARTNERS:
                old, new = before.get(partner), after.get(partner)
                key = {"b_dossier": dossier_id, "b_partner": partner}
                if new is None:
                    if old is not None:
                        deleted.append(key)
                elif old is None:
                    inserted.append({"dossier_id": dossier_id, "partner": partner,
                                     "payload_hash": new.payload_hash, "consent_id": new.consent_id})
                elif new != old:
                    updated.append({**key, "payload_hash": new.payload_hash, "consent_id": new.consent_id})
        for statement, rows in ((_DELETE_EXPORTED, deleted), (_UPDATE_EXPORTED, updated),
                                (_INSERT_EXPORTED, inserted)):
            if rows:
                self._session.execute(statement, rows)


def _in_queues(table):
    """Rows of `table` in the (dossier, partner) queues given by `_queue_parameters`: per partner,
    dossier_id IN (...)."""
    return or_(*(and_(table.c.partner == partner,
                      table.c.dossier_id.in_(bindparam(f"b_{partner}_dossiers", expanding=True)))
                 for partner in PARTNERS))


def _queue_parameters(queues: set[tuple[str, str]]) -> dict[str, list[str]]:
    by_partner: dict[str, list[str]] = {f"b_{partner}_dossiers": [] for partner in PARTNERS}
    for dossier_id, partner in sorted(queues):
        by_partner[f"b_{partner}_dossiers"].append(dossier_id)
    return by_partner


_SUPERSEDE_WAITING = (update(_transfers)
                      .where(_in_queues(_transfers), _transfers.c.kind != DELETE,
                             _transfers.c.status.in_(PENDING))
                      .values(status=SUPERSEDED, payload=None)
                      .returning(_transfers.c.idempotency_key))
_SUPERSEDE_LOGGED = (update(_log).where(_log.c.idempotency_key.in_(bindparam("b_keys", expanding=True)))
                     .values(status=SUPERSEDED))
# An attempt counts from the moment it starts: a timed-out push may well have arrived.
_ATTEMPTED = and_(_transfers.c.kind != DELETE, _transfers.c.attempts > 0)
_SENT_SINCE_DELETE = (
    select(_transfers.c.dossier_id, _transfers.c.partner)
    .where(_in_queues(_transfers))
    .group_by(_transfers.c.dossier_id, _transfers.c.partner)
    .having(func.max(case((_ATTEMPTED, _transfers.c.id)))
            > func.coalesce(func.max(case((_transfers.c.kind == DELETE, _transfers.c.id))), 0))
)


def _supersede_waiting(session: Session, queues: set[tuple[str, str]]) -> None:
    """The pushes and updates still waiting in these (dossier, partner) queues are never sent."""
    keys = session.execute(_SUPERSEDE_WAITING, _queue_parameters(queues)).scalars().all()
    if keys:
        session.execute(_SUPERSEDE_LOGGED, {"b_keys": keys})


def _partners_may_hold_data(session: Session, queues: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (dossier, partner) queues of `queues` from which something may have reached the partner
    since their last delete."""
    return {(dossier_id, partner) for dossier_id, partner
            in session.execute(_SENT_SINCE_DELETE, _queue_parameters(queues))}


# -- the sender's side ----------------------------------------------------------------------------

def _claim_statement():
    """Lease the sendable heads of one partner, oldest first, in one statement. Parameters:
    b_partner, b_now, b_limit, b_owner, b_until. Another instance's lease taken meanwhile is
    seen when the row is updated (the lease condition is checked again on the row itself)."""
    candidate, earlier = _transfers.alias("candidate"), _transfers.alias("earlier")
    now = bindparam("b_now", type_=Float)

    def lease_free(table):
        return or_(table.c.lease_until.is_(None), table.c.lease_until < now)

    blocked = exists().where(
        earlier.c.dossier_id == candidate.c.dossier_id, earlier.c.partner == candidate.c.partner,
        earlier.c.id < candidate.c.id,
        or_(earlier.c.status.in_(PENDING), earlier.c.lease_until > now),
    )
    # GDPR art. 18: a restricted dossier's push or update waits; its delete does not.
    restricted = exists().where(_states.c.dossier_id == candidate.c.dossier_id,
                                _states.c.restricted.is_(True))
    heads = select(candidate.c.id).where(
        candidate.c.partner == bindparam("b_partner"), candidate.c.status == QUEUED,
        candidate.c.next_attempt_at <= now, lease_free(candidate),
        ~blocked, or_(candidate.c.kind == DELETE, ~restricted),
    ).order_by(candidate.c.id).limit(bindparam("b_limit", type_=Integer))
    return (update(_transfers)
            .where(_transfers.c.id.in_(heads.scalar_subquery()), _transfers.c.status == QUEUED,
                   lease_free(_transfers))
            .values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until"),
                    attempts=_transfers.c.attempts + 1)
            .returning(_transfers.c.id, _transfers.c.idempotency_key, _transfers.c.dossier_id,
                       _transfers.c.kind, _transfers.c.payload, _transfers.c.field_names,
                       _transfers.c.consent_id))


_CLAIM = _claim_statement()


def claim_heads(session: Session, partner: str, owner: str, now: float, lease_seconds: float,
                limit: int) -> list[tuple[int, Transfer]]:
    """Lease up to `limit` sendable transfers of `partner` to `owner`; each lease is one attempt."""
    rows = session.execute(_CLAIM, {"b_partner": partner, "b_now": now, "b_limit": limit,
                                    "b_owner": owner, "b_until": now + lease_seconds}).all()
    return sorted((row.id, Transfer(
        idempotency_key=row.idempotency_key, partner=partner, dossier_id=row.dossier_id,
        kind=row.kind, payload=row.payload, field_names=tuple(row.field_names),
        consent_id=row.consent_id, payload_hash=None,
    )) for row in rows)


def next_due(session: Session, partner: str, now: float) -> float | None:
    """When the earliest retry of `partner` falls due (None: no retry is waiting)."""
    return session.execute(select(func.min(QueuedTransfer.next_attempt_at)).where(
        QueuedTransfer.partner == partner, QueuedTransfer.status == QUEUED,
        QueuedTransfer.next_attempt_at > now)).scalar_one()


def retry_now(session: Session, partner: str, now: float) -> int:
    """Make every retry of `partner` still waiting for its backoff due now; returns how many."""
    return session.execute(
        update(QueuedTransfer)
        .where(QueuedTransfer.partner == partner, QueuedTransfer.status == QUEUED,
               QueuedTransfer.next_attempt_at > now)
        .values(next_attempt_at=now).execution_options(synchronize_session=False)).rowcount


def record_outcome(session: Session, transfer_id: int, owner: str, outcome, *, now: float,
                   logged_at: datetime, policy: RetryPolicy, rng: random.Random) -> str | None:
    """Apply one attempt's outcome (a Delivery or a PartnerError). Returns the transfer's status,
    or None when the lease was lost (expired and taken over, or the dossier erased meanwhile)."""
    [status] = record_outcomes(session, owner, [(transfer_id, outcome)], now=now, logged_at=logged_at,
                               policy=policy, rng=rng)
    return status


def record_outcomes(session: Session, owner: str, outcomes: list[tuple[int, object]], *, now: float,
                    logged_at: datetime, policy: RetryPolicy, rng: random.Random) -> list[str | None]:
    """`record_outcome` for the attempts of several transfers (each once): the deliveries with the
    same answer in three statements together, a failure on its own. Returns the statuses in order."""
    statuses: dict[int, str | None] = {}
    delivered: dict[tuple[int | None, str], list[int]] = {}
    for transfer_id, outcome in outcomes:
        if isinstance(outcome, Delivery):
            delivered.setdefault(_answer(outcome), []).append(transfer_id)
        else:
            statuses[transfer_id] = _record_failure(session, transfer_id, owner, outcome, now, policy, rng)
    for (partner_status, answer), transfer_ids in delivered.items():
        rows = session.execute(_RELEASE_DELIVERED, {"b_ids": transfer_ids, "b_owner": owner,
                                                    "b_status": partner_status, "b_answer": answer}).all()
        if not rows:
            continue
        session.execute(_LOG_DELIVERED, {"b_keys": [row.idempotency_key for row in rows],
                                         "b_status": partner_status, "b_answer": answer,
                                         "b_sent": logged_at})
        if deletes := [row.id for row in rows if row.kind == DELETE]:
            session.execute(_DROP_ERASED_DELETES, {"b_ids": deletes})
        statuses.update((row.id, row.status) for row in rows)
    return [statuses.get(transfer_id) for transfer_id, _ in outcomes]


def _record_failure(session: Session, transfer_id: int, owner: str, outcome, now: float,
                    policy: RetryPolicy, rng: random.Random) -> str | None:
    partner_status, answer = _answer(outcome)
    row = session.execute(_RELEASE_FAILED, {"b_id": transfer_id, "b_owner": owner,
                                            "b_status": partner_status, "b_answer": answer}).first()
    if row is None:
        return None
    status = row.status
    if status == QUEUED:
        retry_at = None
        if isinstance(outcome, TransientPartnerError):
            retry_at = policy.next_attempt_at(row.attempts, now, rng, outcome.retry_after)
        status = QUEUED if retry_at is not None else PARKED
        session.execute(_RESCHEDULE, {"b_id": transfer_id, "b_next_status": status,
                                      "b_at": retry_at if retry_at is not None else now})
    session.execute(_LOG_FAILED, {"b_key": row.idempotency_key, "b_attempts": row.attempts,
                                  "b_status": partner_status, "b_answer": answer, "b_log_status": status})
    return status


def _answer(outcome) -> tuple[int | None, str]:
    if isinstance(outcome, Delivery):
        return outcome.status, outcome.answer
    if isinstance(outcome, RejectedByPartner):
        return outcome.status, outcome.answer
    if isinstance(outcome, TransientPartnerError):
        return outcome.status, outcome.answer or outcome.reason
    return None, type(outcome).__name__


# -- operators and the parent ---------------------------------------------------------------------

def waiting(session: Session) -> dict[tuple[str, str], int]:
    """{(partner, status): count} of the transfers still to be sent (queued or parked)."""
    rows = session.execute(select(QueuedTransfer.partner, QueuedTransfer.status, func.count())
                           .where(QueuedTransfer.status.in_(PENDING))
                           .group_by(QueuedTransfer.partner, QueuedTransfer.status))
    return {(partner, status): count for partner, status, count in rows}


def parked_transfers(session: Session) -> list[dict]:
    rows = session.scalars(select(QueuedTransfer).where(QueuedTransfer.status == PARKED)
                           .order_by(QueuedTransfer.id))
    return [_summary(row) for row in rows]


def replay_transfer(session: Session, transfer_id: int, now: float) -> dict:
    """Give a parked transfer a fresh set of attempts; it keeps its place in the order."""
    row = session.get(QueuedTransfer, transfer_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no transfer {transfer_id}")
    if row.status != PARKED:
        raise Conflict(f"transfer {transfer_id} is {row.status}, not parked")
    row.status, row.attempts, row.next_attempt_at = QUEUED, 0, now
    session.execute(update(TransferLogEntry)
                    .where(TransferLogEntry.idempotency_key == row.idempotency_key)
                    .values(status=QUEUED))
    return _summary(row)


def transfer_log(session: Session, dossier_refs: tuple[str, ...]) -> list[dict]:
    rows = session.scalars(select(TransferLogEntry).where(TransferLogEntry.dossier_ref.in_(dossier_refs))
                           .order_by(TransferLogEntry.id))
    return [{
        "transfer": row.idempotency_key, "partner": row.partner, "kind": row.kind,
        "field_names": list(row.field_names), "consent_id": row.consent_id,
        "queued_at": _iso(row.queued_at), "sent_at": _iso(row.sent_at), "attempts": row.attempts,
        "status": row.status, "partner_status": row.partner_status,
        "partner_answer": row.partner_answer, "pseudonymised": row.pseudonymised,
    } for row in rows]


def personal_data(session: Session, dossier_id: str) -> dict:
    """Everything held about the dossier (GDPR art. 15, 20), payloads of unsent transfers included."""
    state = session.get(DossierState, dossier_id)
    exported = session.scalars(select(ExportedData).where(ExportedData.dossier_id == dossier_id)
                               .order_by(ExportedData.partner))
    transfers = session.scalars(select(QueuedTransfer).where(QueuedTransfer.dossier_id == dossier_id)
                                .order_by(QueuedTransfer.id))
    return {
        "dossier_id": dossier_id,
        "restricted": state.restricted if state else None,
        "exported": [{"partner": row.partner, "consent_id": row.consent_id} for row in exported],
        "transfers": [{**_summary(row), "payload": row.payload} for row in transfers],
        "transfer_log": transfer_log(session, (dossier_id,)),
    }


def _summary(row: QueuedTransfer) -> dict:
    return {
        "id": row.id, "dossier_id": row.dossier_id, "partner": row.partner, "kind": row.kind,
        "field_names": list(row.field_names), "consent_id": row.consent_id, "status": row.status,
        "attempts": row.attempts, "partner_status": row.partner_status,
        "partner_answer": row.partner_answer,
    }


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None
