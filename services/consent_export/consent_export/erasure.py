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
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import and_, bindparam, case, delete, insert, update
from sqlalchemy.orm import Session

from consent_export.models import PENDING, ErasedDossier, ExportedData, QueuedTransfer, TransferLogEntry
from consent_export.outbound import (
    erased_among, exported_among, forget_dossier_states, lock_dossiers, queue_deletes,
)
from consent_export.transfers import DELETE, transfers_for_erasure
from loket.contracts.retention import requested_erasures

_transfers = QueuedTransfer.__table__
_log = TransferLogEntry.__table__
_DOSSIERS = bindparam("b_dossiers", expanding=True)

_exported = ExportedData.__table__
_FORGET_EXPORTED = delete(_exported).where(_exported.c.dossier_id.in_(_DOSSIERS))
# Every transfer of the dossiers goes, but a delete the partner has not accepted yet.
_FORGET_TRANSFERS = delete(_transfers).where(
    _transfers.c.dossier_id.in_(_DOSSIERS),
    ~and_(_transfers.c.kind == DELETE, _transfers.c.status.in_(PENDING)),
).returning(_transfers.c.dossier_id)
_INSERT_ERASED = insert(ErasedDossier.__table__)


def pseudonym(key: str, dossier_id: str) -> str:
    return hmac.new(key.encode("utf-8"), dossier_id.encode("utf-8"), hashlib.sha256).hexdigest()


def request_ids(events) -> dict[str, str]:
    """{dossier id: id of the erasure run that erases it} for retention's requests (either
    version): a partner's delete is keyed by it, unique per dossier and the same when retention asks
    again."""
    requests: dict[str, str] = {}
    for event in events:
        for request in requested_erasures(event):
            requests.setdefault(request["dossier_id"], request["run_id"])
    return requests


def erase_dossier(session: Session, request_id: str, dossier_id: str, now: datetime,
                  dossier_ref: str) -> int:
    """Erase the dossier; partners holding data get a delete first. Returns the rows erased.

    `dossier_ref` is the dossier's pseudonym. A repeated request erases nothing more.
    """
    return erase_dossiers(session, {dossier_id: request_id}, now, lambda _: dossier_ref)[dossier_id]


def erase_dossiers(session: Session, requests: Mapping[str, str], now: datetime,
                   pseudonym: Callable[[str], str]) -> dict[str, int]:
    """`erase_dossier` for many dossiers, with a few bulk statements (IN (...)) for all of them.

    `requests`: {dossier id: id of its erasure run (`request_ids`)}; a partner's delete is keyed by
    that id (its Idempotency-Key). `pseudonym(dossier id)` gives the dossier's keyed hash. Returns
    {dossier id: rows erased}, each dossier ending as if erased on its own.

    On PostgreSQL, the batch can wait crosswise with a sender's turn that records outcomes of two
    of its dossiers; PostgreSQL then aborts one transaction (a deadlock) and it is done again: the
    requests one by one (loket.consumer), the turn's outcomes at the next turn.
    """
    dossier_ids = sorted(requests)
    if not dossier_ids:
        return {}
    had_state = lock_dossiers(session, dossier_ids)
    held = exported_among(session, dossier_ids)
    deletes = [transfer for dossier_id in sorted(held)
               for transfer in transfers_for_erasure(requests[dossier_id], dossier_id, held[dossier_id])]
    queue_deletes(session, deletes, now)
    # A partner told to delete holds nothing; a state row made just now for the lock is not data.
    erased = Counter({dossier_id: len(held.get(dossier_id, ())) + (dossier_id in had_state)
                      for dossier_id in dossier_ids})
    if held:
        session.execute(_FORGET_EXPORTED, {"b_dossiers": sorted(held)})
    erased.update(session.execute(_FORGET_TRANSFERS, {"b_dossiers": dossier_ids}).scalars())
    refs = {dossier_id: pseudonym(dossier_id) for dossier_id in dossier_ids}
    dossier_of = {ref: dossier_id for dossier_id, ref in refs.items()}
    erased.update(dossier_of[ref] for ref in session.execute(
        update(_log).where(_log.c.dossier_ref.in_(dossier_ids))
        .values(dossier_ref=case(refs, value=_log.c.dossier_ref), pseudonymised=True, partner_answer=None,
                erased_at=now)
        .returning(_log.c.dossier_ref)).scalars())
    forget_dossier_states(session, dossier_ids)
    marked = erased_among(session, dossier_ids, refs.__getitem__)
    if unmarked := [dossier_id for dossier_id in dossier_ids if dossier_id not in marked]:
        session.execute(_INSERT_ERASED, [{"dossier_ref": refs[dossier_id], "erased_at": now}
                                         for dossier_id in unmarked])
    return dict(erased)


def purge_expired(session: Session, cutoff: datetime) -> int:
    """Drop pseudonymised log rows and erasure markers older than `cutoff`."""
    purged = session.execute(delete(TransferLogEntry).where(
        TransferLogEntry.pseudonymised.is_(True), TransferLogEntry.erased_at < cutoff)).rowcount
    purged += session.execute(delete(ErasedDossier).where(ErasedDossier.erased_at < cutoff)).rowcount
    return purged
