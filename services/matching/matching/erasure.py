"""Erasing a dossier (P14, P23), on registration's dossier_erased and on retention's erasure request.

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

Nothing here commits.
"""
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from matching.models import DossierRow, EnrollmentRow, FacilityRow, FreePlaceRow, OfferRow, RequestRow
from matching.revisions import DossierChange, bump


def erase_dossier(session: Session, dossier_id: str, sequence: int | None = None) -> tuple[int, DossierChange]:
    """Erase what matching holds about the dossier; returns (rows erased, the change for the index).
    `sequence`: of registration's dossier_erased, when that is the cause."""
    erased = 0
    # Locked first, as a batch of registration events locks it: the two cannot interleave.
    dossier = session.get(DossierRow, dossier_id, with_for_update=True)
    for offer in session.scalars(select(OfferRow).where(OfferRow.dossier_id == dossier_id)):
        if offer.status == "open":
            offer.status = "lapsed"
            session.get(FreePlaceRow, offer.place_id).status = "open"
        offer.request_id = offer.dossier_id = offer.reasons = None
        erased += 1
    for facility in session.scalars(select(FacilityRow)):
        if dossier_id in facility.staff_dossier_ids:
            facility.staff_dossier_ids = [staff for staff in facility.staff_dossier_ids if staff != dossier_id]
            erased += 1
    if dossier is None:
        session.add(DossierRow(dossier_id=dossier_id, applied_sequence=sequence or 0, restricted=False, erased=True,
                               offer_sequence=0, revision=0))
    elif not dossier.erased:
        dossier.erased, dossier.restricted = True, False
        dossier.applied_sequence = max(dossier.applied_sequence, sequence or 0)
        erased += 1
    session.flush()
    connection = session.connection()
    erased += connection.execute(update(EnrollmentRow).where(EnrollmentRow.dossier_id == dossier_id)
                                 .values(request_id=None, dossier_id=None)).rowcount
    erased += connection.execute(delete(RequestRow).where(RequestRow.dossier_id == dossier_id)).rowcount
    return erased, DossierChange(dossier_id, bump(session, [dossier_id]), False, ())
