"""Erasing a dossier here (P14, P23), and what is kept on purpose.

Gone: what each partner holds (hashes), every transfer with a payload, the dossier's state.

Kept, because the law asks for it:
- A delete not yet delivered (it carries the dossier id only): the partner must still be told
  (GDPR art. 17(2), 19). The row goes once the partner accepted it.
- The transfer log, with the dossier id replaced by a keyed hash (HMAC-SHA256; the key is
  configuration, not in the database) and the partner's free-text answer dropped. What is left
  holds no personal value: partner, kind, field names, consent record id, times, HTTP status. It
  lets the Loket show a supervisory authority, or a parent who still has the dossier id, that
  every transfer had a consent record behind it (art. 5(2), 7(1)) and that the delete reached the
  partner (art. 19), which deleting the log would make impossible. Kept LOG_KEEP_DAYS (default
  five years, the usual limitation period for a claim), then purged by `purge_expired`.
- The same hash in `erased_dossiers`, so that an event arriving late cannot recreate the dossier
  or push it to a partner again; purged with the log.
"""
import hashlib
import hmac
from datetime import datetime

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.orm import Session

from consent_export.models import PENDING, ErasedDossier, QueuedTransfer, TransferLogEntry
from consent_export.outbound import exported_for, forget_dossier_state, lock_dossier, queue_transfers
from consent_export.transfers import DELETE, transfers_for_erasure


def pseudonym(key: str, dossier_id: str) -> str:
    return hmac.new(key.encode("utf-8"), dossier_id.encode("utf-8"), hashlib.sha256).hexdigest()


def erase_dossier(session: Session, request_id: str, dossier_id: str, now: datetime,
                  dossier_ref: str) -> int:
    """Erase the dossier; partners holding data get a delete first. Returns the rows erased.

    `dossier_ref` is the dossier's pseudonym. A repeated request erases nothing more.
    """
    last_sequence = lock_dossier(session, dossier_id)
    held = exported_for(session, dossier_id)
    queue_transfers(session, transfers_for_erasure(request_id, dossier_id, held), now, held)
    erased = len(held)  # queue_transfers dropped these rows: a partner told to delete holds nothing
    undelivered_delete = and_(QueuedTransfer.kind == DELETE, QueuedTransfer.status.in_(PENDING))
    erased += session.execute(
        delete(QueuedTransfer).where(QueuedTransfer.dossier_id == dossier_id, ~undelivered_delete)
        .execution_options(synchronize_session=False)).rowcount
    erased += session.execute(
        update(TransferLogEntry).where(TransferLogEntry.dossier_ref == dossier_id)
        .values(dossier_ref=dossier_ref, pseudonymised=True, partner_answer=None, erased_at=now)
        .execution_options(synchronize_session=False)).rowcount
    forget_dossier_state(session, dossier_id)
    erased += 0 if last_sequence is None else 1  # a state row made just now for the lock is not data
    if not session.execute(select(exists().where(ErasedDossier.dossier_ref == dossier_ref))).scalar_one():
        session.add(ErasedDossier(dossier_ref=dossier_ref, erased_at=now))
    return erased


def purge_expired(session: Session, cutoff: datetime) -> int:
    """Drop pseudonymised log rows and erasure markers older than `cutoff`."""
    purged = session.execute(delete(TransferLogEntry).where(
        TransferLogEntry.pseudonymised.is_(True), TransferLogEntry.erased_at < cutoff)).rowcount
    purged += session.execute(delete(ErasedDossier).where(ErasedDossier.erased_at < cutoff)).rowcount
    return purged
