"""Erasing dossiers (P14, P23), on registration's dossier_erased and on retention's erasure requests.

- The dossier's requests (the read model) are deleted.
- Offers keep their place, facility and outcome, but lose request, dossier and reasons (the
  reasons quote the registration time and the child's birth date). An open offer is closed as
  lapsed and its place opened again, without an event: the event would carry the erased
  dossier's ids to the consumers that are erasing it.
- Enrollments lose request and dossier but stay: the facility still cares for the child, so its
  occupancy stands (a later departure names the enrollment by its id). A departure already
  recorded keeps its day and who recorded it (facility staff), which name no family.
- A facility's list of staff dossiers (for its "children of staff" rule) forgets the dossier.
- The dossier row stays as a tombstone (its id, erased), so that a registration event still in a
  retry queue cannot bring the dossier back.

Retention erases thousands of dossiers at once, so dossiers are erased in batches (a few hundred):
a few bulk statements per batch (IN (...)) and one pass over the facilities' staff lists, not one
per dossier. Nothing here commits.
"""
from collections import Counter

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from matching.models import DossierRow, EnrollmentRow, FacilityRow, FreePlaceRow, OfferRow, RequestRow
from matching.revisions import DossierChange, bump

_dossiers, _offers, _places = DossierRow.__table__, OfferRow.__table__, FreePlaceRow.__table__
_enrollments, _requests, _facilities = EnrollmentRow.__table__, RequestRow.__table__, FacilityRow.__table__
_DOSSIERS = bindparam("dossiers", expanding=True)

# Built once, as in readmodel.py: a statement costs more to build than SQLite takes to run it.
# Dossier rows are locked in id order, as a batch of registration events locks them: the two cannot
# interleave, and two batches cannot deadlock.
_LOCK_DOSSIERS = (select(_dossiers.c.dossier_id, _dossiers.c.applied_sequence, _dossiers.c.erased)
                  .where(_dossiers.c.dossier_id.in_(_DOSSIERS)).order_by(_dossiers.c.dossier_id).with_for_update())
_INSERT_TOMBSTONE = insert(_dossiers)
_MARK_ERASED = (update(_dossiers).where(_dossiers.c.dossier_id == bindparam("dossier"))
                .values(erased=True, restricted=False, applied_sequence=bindparam("sequence")))
# The usual case (retention's requests carry no sequence): one statement for the batch, not an
# executemany that PostgreSQL's driver runs one row (and one round trip) at a time.
_MARK_ERASED_AS_APPLIED = (update(_dossiers).where(_dossiers.c.dossier_id.in_(_DOSSIERS))
                           .values(erased=True, restricted=False))
_OFFERS = select(_offers.c.dossier_id, _offers.c.status, _offers.c.place_id).where(_offers.c.dossier_id.in_(_DOSSIERS))
_REOPEN_PLACES = (update(_places).where(_places.c.place_id.in_(bindparam("places", expanding=True)))
                  .values(status="open"))
_LAPSE_OFFERS = (update(_offers).where(_offers.c.dossier_id.in_(_DOSSIERS), _offers.c.status == "open")
                 .values(status="lapsed"))
_STRIP_OFFERS = (update(_offers).where(_offers.c.dossier_id.in_(_DOSSIERS))
                 .values(request_id=None, dossier_id=None, reasons=None))
_STAFF_LISTS = select(_facilities.c.id, _facilities.c.staff_dossier_ids)
_ENROLLMENTS = (select(_enrollments.c.dossier_id, func.count()).where(_enrollments.c.dossier_id.in_(_DOSSIERS))
                .group_by(_enrollments.c.dossier_id))
_UNLINK_ENROLLMENTS = (update(_enrollments).where(_enrollments.c.dossier_id.in_(_DOSSIERS))
                       .values(request_id=None, dossier_id=None))
_REQUESTS = (select(_requests.c.dossier_id, func.count()).where(_requests.c.dossier_id.in_(_DOSSIERS))
             .group_by(_requests.c.dossier_id))
_DELETE_REQUESTS = delete(_requests).where(_requests.c.dossier_id.in_(_DOSSIERS))


def erase_dossier(session: Session, dossier_id: str, sequence: int | None = None) -> tuple[int, DossierChange]:
    """Erase what matching holds about the dossier; returns (rows erased, the change for the index).
    `sequence`: of registration's dossier_erased, when that is the cause."""
    erased, [change] = erase_dossiers(session, [dossier_id], {dossier_id: sequence or 0})
    return erased[dossier_id], change


def erase_dossiers(session: Session, dossier_ids: list[str],
                   sequences: dict[str, int] | None = None) -> tuple[dict[str, int], list[DossierChange]]:
    """Erase what matching holds about the dossiers (a batch; one named twice is erased once);
    returns ({dossier id: rows erased}, the changes for the index, one per dossier, at one revision).
    `sequences`: {dossier id: sequence of registration's dossier_erased}, when that is the cause."""
    ids = list(dict.fromkeys(dossier_ids))
    if not ids:
        return {}, []
    sequences = sequences or {}
    erased = Counter({dossier_id: 0 for dossier_id in ids})
    session.flush()  # the ORM's pending rows first: what follows are bulk statements
    connection = session.connection()
    known = {row.dossier_id: row for row in connection.execute(_LOCK_DOSSIERS, {"dossiers": sorted(ids)})}
    _strip_offers(connection, ids, erased)
    _forget_staff(session, connection, set(ids), erased)
    _mark_erased(connection, ids, known, sequences, erased)
    erased.update(dict(connection.execute(_ENROLLMENTS, {"dossiers": ids}).all()))
    connection.execute(_UNLINK_ENROLLMENTS, {"dossiers": ids})
    erased.update(dict(connection.execute(_REQUESTS, {"dossiers": ids}).all()))
    connection.execute(_DELETE_REQUESTS, {"dossiers": ids})
    revision = bump(session, ids)
    return dict(erased), [DossierChange(dossier_id, revision, False, ()) for dossier_id in ids]


def _strip_offers(connection, ids: list[str], erased: Counter) -> None:
    """Offers lose request, dossier and reasons; open ones lapse and their places open again."""
    offers = connection.execute(_OFFERS, {"dossiers": ids}).all()
    if not offers:
        return
    erased.update(offer.dossier_id for offer in offers)
    open_places = sorted({offer.place_id for offer in offers if offer.status == "open"})
    if open_places:
        connection.execute(_REOPEN_PLACES, {"places": open_places})
        connection.execute(_LAPSE_OFFERS, {"dossiers": ids})
    connection.execute(_STRIP_OFFERS, {"dossiers": ids})


def _forget_staff(session: Session, connection, ids: set[str], erased: Counter) -> None:
    """Every facility's staff list forgets the dossiers: the facilities are read once per batch."""
    for facility_id, staff in connection.execute(_STAFF_LISTS).all():
        named = ids.intersection(staff)
        if named:
            erased.update(named)
            # Through the ORM: a facility this session already holds must not keep the old list.
            session.get(FacilityRow, facility_id).staff_dossier_ids = [s for s in staff if s not in ids]
    session.flush()


def _mark_erased(connection, ids: list[str], known: dict, sequences: dict[str, int], erased: Counter) -> None:
    """Known dossiers become tombstones; unknown ones get a tombstone row."""
    tombstones = [{"dossier_id": dossier_id, "applied_sequence": sequences.get(dossier_id, 0), "restricted": False,
                   "erased": True, "offer_sequence": 0, "revision": 0} for dossier_id in ids if dossier_id not in known]
    if tombstones:
        connection.execute(_INSERT_TOMBSTONE, tombstones)
    marked = [row for row in known.values() if not row.erased]
    moved = [{"dossier": row.dossier_id, "sequence": sequences[row.dossier_id]} for row in marked
             if sequences.get(row.dossier_id, 0) > row.applied_sequence]
    as_applied = [row.dossier_id for row in marked if sequences.get(row.dossier_id, 0) <= row.applied_sequence]
    if moved:
        connection.execute(_MARK_ERASED, moved)
    if as_applied:
        connection.execute(_MARK_ERASED_AS_APPLIED, {"dossiers": as_applied})
    erased.update(row.dossier_id for row in marked)
