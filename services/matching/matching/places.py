"""Free places: declared by a facility, ranked, offered, filled. Nothing here commits."""
import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket.contracts import matching as contract
from loket.errors import NotFound
from matching import occupancy
from matching.model import Facility, FreePlace, Occupancy
from matching.models import FreePlaceRow, OfferRow
from matching.ranking import Ranking


def declare(session: Session, now: datetime, facility: Facility, data: dict, declared_by: str, events) -> FreePlaceRow:
    row = FreePlaceRow(place_id=f"place-{uuid.uuid4().hex}", facility_id=facility.id, start_date=data["start_date"],
                       weekdays=dict(data["weekdays"]), min_age_months=data["min_age_months"],
                       max_age_months=data["max_age_months"], status="open", declared_at=now, declared_by=declared_by)
    session.add(row)
    session.flush()
    # A place is declared once: it is its own aggregate, at sequence 1.
    events.record(session, contract.PLACE_DECLARED, row.place_id, 1, {
        "place_id": row.place_id, "facility_id": facility.id, "start_date": row.start_date.isoformat()})
    return row


def get_row(session: Session, place_id: str, for_update: bool = False) -> FreePlaceRow:
    row = session.get(FreePlaceRow, place_id, with_for_update=for_update)
    if row is None:
        raise NotFound(f"place {place_id} not found")
    return row


def free_place(row: FreePlaceRow) -> FreePlace:
    return FreePlace(facility_id=row.facility_id, start_date=row.start_date, weekdays=row.weekdays,
                     min_age_months=row.min_age_months, max_age_months=row.max_age_months)


def request_ids_with_open_offers(session: Session) -> set[str]:
    return set(session.scalars(select(OfferRow.request_id).where(OfferRow.status == "open")))


def open_counts(session: Session) -> dict[str, int]:
    """Places open for ranking, and offers waiting for an answer (for the operators' metrics)."""
    return {"places": session.scalar(select(func.count()).select_from(FreePlaceRow).where(FreePlaceRow.status == "open")),
            "offers": session.scalar(select(func.count()).select_from(OfferRow).where(OfferRow.status == "open"))}


def offers_of(session: Session, place_id: str) -> list[OfferRow]:
    return list(session.scalars(select(OfferRow).where(OfferRow.place_id == place_id).order_by(OfferRow.made_at)))


def view(row: FreePlaceRow) -> dict:
    return {"place_id": row.place_id, "facility_id": row.facility_id, "start_date": row.start_date.isoformat(),
            "weekdays": dict(row.weekdays), "min_age_months": row.min_age_months,
            "max_age_months": row.max_age_months, "status": row.status, "declared_at": row.declared_at.isoformat()}


def ranking_view(ranking: Ranking, row: FreePlaceRow, current: Occupancy, holders: set[str], ranked_at: datetime,
                 limit: int | None) -> dict:
    """The ranking as a facility manager reads it: every candidate in order with the rules that put it
    there; `holders`: requests holding an open offer (of any facility), who cannot take another."""
    shown = ranking.candidates if limit is None else ranking.candidates[:limit]
    return {
        "place": view(row), "rule_set_version": ranking.rule_set_version, "ranked_at": ranked_at.isoformat(),
        "notes": list(ranking.notes), "occupancy": occupancy.view(current), "total": len(ranking.candidates),
        "candidates": [{"position": c.position, "request_id": c.request_id, "dossier_id": c.dossier_id,
                        "reasons": c.reasons, "dutch_priority": c.dutch_priority,
                        "holds_open_offer": c.request_id in holders} for c in shown],
    }
