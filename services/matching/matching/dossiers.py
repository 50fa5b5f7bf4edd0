"""Questions about dossiers that read the tables: which dossiers a facility may see, and what
matching holds about one dossier (GDPR export). Nothing here commits."""
from sqlalchemy import select, union
from sqlalchemy.orm import Session

from matching import offers
from matching.models import DossierRow, EnrollmentRow, FacilityRow, OfferRow, RequestFacilityRow, RequestRow


def visible_to_facility(session: Session, facility_id: str) -> list[str]:
    """Dossiers with an active request that chose the facility (P1, P20) or is urgent (P2), or with a
    request enrolled there; a request enrolled elsewhere shows nothing (P21). Restricted dossiers are
    listed too: restriction stops matching's processing (ranking), not the facility's access, which
    registration decides on every read."""
    chose = (select(RequestRow.dossier_id).join(RequestFacilityRow, RequestFacilityRow.request_id == RequestRow.request_id)
             .where(RequestFacilityRow.facility_id == facility_id, RequestRow.status == "active"))
    urgent = select(RequestRow.dossier_id).where(RequestRow.urgent, RequestRow.status == "active")
    enrolled = select(RequestRow.dossier_id).where(RequestRow.status == "enrolled",
                                                   RequestRow.enrolled_facility_id == facility_id)
    return sorted(session.scalars(union(chose, urgent, enrolled)))


def _request(row: RequestRow) -> dict:
    return {
        "request_id": row.request_id, "child_birth_date": row.child_birth_date.isoformat(),
        "desired_start_date": row.desired_start_date.isoformat(), "care_plan": row.care_plan,
        "facility_ids": row.facility_ids, "urgent": row.urgent, "status": row.status,
        "enrolled_facility_id": row.enrolled_facility_id, "registered_at": row.registered_at.isoformat(),
        "priority": row.priority, "foster_child": row.foster_child, "sibling_facility_ids": row.sibling_facility_ids,
    }


def _enrollment(row: EnrollmentRow) -> dict:
    return {"request_id": row.request_id, "facility_id": row.facility_id, "enrolled_at": row.enrolled_at.isoformat(),
            "counts_dutch_priority": row.counts_dutch_priority, "counts_vulnerable": row.counts_vulnerable,
            "counts_other_families": row.counts_other_families,
            "left_on": row.left_on.isoformat() if row.left_on else None}


def personal_data(session: Session, dossier_id: str) -> dict:
    dossier = session.get(DossierRow, dossier_id)
    requests = session.scalars(select(RequestRow).where(RequestRow.dossier_id == dossier_id)
                               .order_by(RequestRow.registered_at, RequestRow.request_id))
    offer_rows = session.scalars(select(OfferRow).where(OfferRow.dossier_id == dossier_id).order_by(OfferRow.made_at))
    enrollments = session.scalars(select(EnrollmentRow).where(EnrollmentRow.dossier_id == dossier_id)
                                  .order_by(EnrollmentRow.enrolled_at))
    staff_of = [row.id for row in session.scalars(select(FacilityRow).order_by(FacilityRow.id))
                if dossier_id in row.staff_dossier_ids]
    return {
        "dossier_id": dossier_id,
        "restricted": dossier.restricted if dossier is not None and not dossier.erased else None,
        "requests": [_request(row) for row in requests],
        "offers": [offers.view(row) for row in offer_rows],
        "enrollments": [_enrollment(row) for row in enrollments],
        "staff_of_facilities": staff_of,
    }
