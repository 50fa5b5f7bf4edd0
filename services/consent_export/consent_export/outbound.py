"""The outbound queue in the database: what an event queues, which transfer the sender may send
next, what an attempt's outcome does, and the views for operators and for the parent.

Order: transfers of one (dossier, partner) go out strictly in id order. A transfer is sendable
only when no earlier one of its (dossier, partner) is still queued, parked or in flight, so the
head of a dossier's queue holds back that dossier alone, and each partner has its own sender.

A withdrawal (or an erasure) queues a delete and supersedes every push or update of that
(dossier, partner) still waiting: those are never sent. One already in flight finishes (its
lease keeps the delete behind it) and the delete follows.
"""
import random
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

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


def apply_event(session: Session, event: Mapping, now: datetime,
                pseudonym: Callable[[str], str]) -> list[Transfer]:
    """Queue the transfers a registration event causes; returns them (an older event: none)."""
    if event["type"] not in DOSSIER_EVENT_TYPES:
        return []
    dossier_id = event["aggregate_id"]
    state, created = lock_dossier(session, dossier_id, event["sequence"])
    # Checked under the dossier's lock: an erasure that committed meanwhile is seen here.
    if session.get(ErasedDossier, pseudonym(dossier_id)) is not None:
        if created:
            session.delete(state)
        return []
    if not created and event["sequence"] <= state.last_sequence:
        return []
    state.last_sequence = event["sequence"]
    snapshot = event["data"].get("dossier")
    if snapshot is not None:
        state.restricted = snapshot["restricted"] is True
    transfers = transfers_for_event(event, exported_for(session, dossier_id))
    return [transfer for transfer in transfers if queue_transfer(session, transfer, now)]


def lock_dossier(session: Session, dossier_id: str, sequence: int = 0) -> tuple[DossierState, bool]:
    """The dossier's state row, locked for this transaction (created if new: the insert locks it,
    and a concurrent creator fails on the key and is retried)."""
    state = session.get(DossierState, dossier_id, with_for_update=True)
    if state is not None:
        return state, False
    state = DossierState(dossier_id=dossier_id, last_sequence=sequence, restricted=False)
    session.add(state)
    session.flush()
    return state, True


def exported_for(session: Session, dossier_id: str) -> dict[str, Exported]:
    rows = session.scalars(select(ExportedData).where(ExportedData.dossier_id == dossier_id))
    return {row.partner: Exported(row.payload_hash, row.consent_id) for row in rows}


def queue_transfer(session: Session, transfer: Transfer, now: datetime) -> bool:
    """Add `transfer` to its (dossier, partner) queue and to the log; record what the partner will
    hold. A delete first supersedes what is still waiting; it is not queued at all when nothing
    ever left for that partner since the last delete (there is nothing to delete there)."""
    _set_exported(session, transfer)
    if transfer.kind == DELETE:
        _supersede_waiting(session, transfer.dossier_id, transfer.partner)
        if not _partner_may_hold_data(session, transfer.dossier_id, transfer.partner):
            return False
    session.add(QueuedTransfer(
        idempotency_key=transfer.idempotency_key, dossier_id=transfer.dossier_id,
        partner=transfer.partner, kind=transfer.kind, payload=transfer.payload,
        field_names=list(transfer.field_names), consent_id=transfer.consent_id, status=QUEUED,
        attempts=0, next_attempt_at=0.0,
    ))
    session.add(TransferLogEntry(
        idempotency_key=transfer.idempotency_key, dossier_ref=transfer.dossier_id,
        pseudonymised=False, partner=transfer.partner, kind=transfer.kind,
        field_names=list(transfer.field_names), consent_id=transfer.consent_id, queued_at=now,
        attempts=0, status=QUEUED,
    ))
    return True


def _set_exported(session: Session, transfer: Transfer) -> None:
    key = (transfer.dossier_id, transfer.partner)
    row = session.get(ExportedData, key)
    held = transfer.exported
    if held is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(ExportedData(dossier_id=transfer.dossier_id, partner=transfer.partner,
                                 payload_hash=held.payload_hash, consent_id=held.consent_id))
    else:
        row.payload_hash, row.consent_id = held.payload_hash, held.consent_id


def _same_queue(dossier_id: str, partner: str):
    return and_(QueuedTransfer.dossier_id == dossier_id, QueuedTransfer.partner == partner)


def _supersede_waiting(session: Session, dossier_id: str, partner: str) -> None:
    waiting = and_(_same_queue(dossier_id, partner), QueuedTransfer.kind != DELETE,
                   QueuedTransfer.status.in_(PENDING))
    keys = session.scalars(select(QueuedTransfer.idempotency_key).where(waiting)).all()
    if not keys:
        return
    session.execute(update(QueuedTransfer).where(waiting)
                    .values(status=SUPERSEDED, payload=None).execution_options(synchronize_session=False))
    session.execute(update(TransferLogEntry).where(TransferLogEntry.idempotency_key.in_(keys))
                    .values(status=SUPERSEDED))


def _partner_may_hold_data(session: Session, dossier_id: str, partner: str) -> bool:
    # An attempt counts from the moment it starts: a timed-out push may well have arrived.
    last_delete = select(func.coalesce(func.max(QueuedTransfer.id), 0)).where(
        _same_queue(dossier_id, partner), QueuedTransfer.kind == DELETE).scalar_subquery()
    return session.execute(select(exists().where(
        _same_queue(dossier_id, partner), QueuedTransfer.kind != DELETE,
        QueuedTransfer.id > last_delete, QueuedTransfer.attempts > 0,
    ))).scalar_one()


# -- the sender's side ----------------------------------------------------------------------------

def _sendable(partner: str, now: float):
    earlier = aliased(QueuedTransfer)
    blocked = exists().where(
        earlier.dossier_id == QueuedTransfer.dossier_id, earlier.partner == QueuedTransfer.partner,
        earlier.id < QueuedTransfer.id,
        or_(earlier.status.in_(PENDING), earlier.lease_until > now),
    )
    # GDPR art. 18: a restricted dossier's push or update waits; its delete does not.
    restricted = exists().where(DossierState.dossier_id == QueuedTransfer.dossier_id,
                                DossierState.restricted.is_(True))
    return and_(
        QueuedTransfer.partner == partner, QueuedTransfer.status == QUEUED,
        QueuedTransfer.next_attempt_at <= now,
        or_(QueuedTransfer.lease_until.is_(None), QueuedTransfer.lease_until < now),
        ~blocked, or_(QueuedTransfer.kind == DELETE, ~restricted),
    )


def claim_heads(session: Session, partner: str, owner: str, now: float, lease_seconds: float,
                limit: int) -> list[tuple[int, Transfer]]:
    """Lease up to `limit` sendable transfers of `partner` to `owner`; each lease is one attempt."""
    ids = session.scalars(select(QueuedTransfer.id).where(_sendable(partner, now))
                          .order_by(QueuedTransfer.id).limit(limit)).all()
    if not ids:
        return []
    # Another instance may have leased some since: the condition is checked again, row by row.
    session.execute(
        update(QueuedTransfer)
        .where(QueuedTransfer.id.in_(ids), QueuedTransfer.status == QUEUED,
               or_(QueuedTransfer.lease_until.is_(None), QueuedTransfer.lease_until < now))
        .values(lease_owner=owner, lease_until=now + lease_seconds,
                attempts=QueuedTransfer.attempts + 1)
        .execution_options(synchronize_session=False))
    rows = session.scalars(select(QueuedTransfer).where(
        QueuedTransfer.id.in_(ids), QueuedTransfer.lease_owner == owner,
        QueuedTransfer.lease_until == now + lease_seconds).order_by(QueuedTransfer.id)).all()
    return [(row.id, Transfer(
        idempotency_key=row.idempotency_key, partner=row.partner, dossier_id=row.dossier_id,
        kind=row.kind, payload=row.payload, field_names=tuple(row.field_names),
        consent_id=row.consent_id, payload_hash=None,
    )) for row in rows]


def next_due(session: Session, partner: str, now: float) -> float | None:
    """When the earliest retry of `partner` falls due (None: no retry is waiting)."""
    return session.execute(select(func.min(QueuedTransfer.next_attempt_at)).where(
        QueuedTransfer.partner == partner, QueuedTransfer.status == QUEUED,
        QueuedTransfer.next_attempt_at > now)).scalar_one()


def record_outcome(session: Session, transfer_id: int, owner: str, outcome, *, now: float,
                   logged_at: datetime, policy: RetryPolicy, rng: random.Random) -> str | None:
    """Apply one attempt's outcome (a Delivery or a PartnerError). Returns the transfer's status,
    or None when the lease was lost (expired and taken over, or the dossier erased meanwhile)."""
    row = session.get(QueuedTransfer, transfer_id, with_for_update=True)
    if row is None or row.lease_owner != owner:
        return None
    row.lease_owner = row.lease_until = None
    entry = session.scalars(select(TransferLogEntry).where(
        TransferLogEntry.idempotency_key == row.idempotency_key)).one_or_none()
    status, answer = _answer(outcome)
    row.partner_status, row.partner_answer = status, answer
    if entry is not None:
        entry.attempts, entry.partner_status = row.attempts, status
        entry.partner_answer = None if entry.pseudonymised else answer
    if isinstance(outcome, Delivery):
        if entry is not None:
            # A transfer superseded while in flight did reach the partner: the log says so.
            entry.status, entry.sent_at = DELIVERED, logged_at
        if row.status == QUEUED:
            row.status, row.payload = DELIVERED, None
        if row.kind == DELETE and session.get(DossierState, row.dossier_id) is None:
            # The dossier is erased; this delete was kept only until the partner had it.
            session.delete(row)
            return DELIVERED
        return row.status
    if row.status != QUEUED:
        return row.status
    retry_at = None
    if isinstance(outcome, TransientPartnerError):
        retry_at = policy.next_attempt_at(row.attempts, now, rng, outcome.retry_after)
    if retry_at is None:
        row.status = PARKED
        if entry is not None:
            entry.status = PARKED
    else:
        row.next_attempt_at = retry_at
    return row.status


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
