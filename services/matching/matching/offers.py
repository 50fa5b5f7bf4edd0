"""Offers: a facility proposes a free place to a candidate of its ranking; the parent accepts or
declines within the facility's answer window, or the offer lapses and the place is open again.

Every step is an event in the outbox, in the transaction of the change. Offer events are about one
request of one dossier: their aggregate is the dossier and their sequence matching's own counter
per dossier (sequences.py), so a consumer keeps their order per dossier.

An open offer also lapses, at once, when its request can no longer take it: the request was
cancelled, expired or enrolled elsewhere, or no longer chose the facility and is not urgent.
Every function takes the caller's session; nothing here commits.
"""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loket.contracts import matching as contract
from loket.errors import Conflict, NotFound
from matching.model import Candidate, Facility
from matching.models import FacilityRow, FreePlaceRow, OfferRow
from matching.ranking import RankedCandidate
from matching.sequences import next_event_sequence

_places = FreePlaceRow.__table__
_CLAIM_PLACE = (update(_places).where(_places.c.place_id == bindparam("place"), _places.c.status == "open")
                .values(status="offered"))


def new_offer_id() -> str:
    return f"offer-{uuid.uuid4().hex}"


def still_offerable(candidate: Candidate | None, facility_id: str) -> bool:
    """May the request still take an offer of this facility? (An open offer lapses when it may not.)"""
    return (candidate is not None and candidate.status == "active"
            and (candidate.urgent or facility_id in candidate.facility_ids))


def _record(session: Session, events, event_type: str, offer: OfferRow, **extra) -> None:
    place = session.get(FreePlaceRow, offer.place_id)
    facility = session.get(FacilityRow, offer.facility_id)
    events.record(session, event_type, offer.dossier_id, next_event_sequence(session, offer.dossier_id), {
        "offer_id": offer.offer_id, "place_id": offer.place_id, "dossier_id": offer.dossier_id,
        "request_id": offer.request_id, "facility_id": offer.facility_id, "facility_name": facility.name,
        "start_date": place.start_date.isoformat(), **extra})


def make(session: Session, now: datetime, offer_id: str, facility: Facility, place: FreePlaceRow,
         ranked: RankedCandidate, rule_set_version: str, made_by: str, events) -> OfferRow:
    """Offer the place to `ranked`, a candidate of its current ranking already checked by the caller."""
    open_offer = session.scalar(select(OfferRow.offer_id).where(OfferRow.request_id == ranked.request_id,
                                                                OfferRow.status == "open"))
    if open_offer is not None:
        raise Conflict(f"request {ranked.request_id} already holds open offer {open_offer}")
    if session.connection().execute(_CLAIM_PLACE, {"place": place.place_id}).rowcount != 1:
        raise Conflict(f"place {place.place_id} is no longer open")
    offer = OfferRow(
        offer_id=offer_id, place_id=place.place_id, facility_id=facility.id, request_id=ranked.request_id,
        dossier_id=ranked.dossier_id, status="open", answer_deadline=now + timedelta(days=facility.answer_window_days),
        rule_set_version=rule_set_version, position=ranked.position, reasons=list(ranked.reasons),
        dutch_priority=ranked.dutch_priority, made_at=now, made_by=made_by)
    session.add(offer)
    try:
        session.flush()
    except IntegrityError:  # another instance offered to the same request meanwhile
        raise Conflict(f"request {ranked.request_id} already holds an open offer") from None
    _record(session, events, contract.OFFER_MADE, offer, answer_deadline=offer.answer_deadline.isoformat(),
            rule_set_version=rule_set_version)
    return offer


def dossier_of(session: Session, offer_id: str) -> str:
    offer = session.get(OfferRow, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer.dossier_id


def answer(session: Session, now: datetime, offer_id: str, accept: bool, role: str, events) -> OfferRow:
    offer = session.get(OfferRow, offer_id, with_for_update=True)
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    if offer.status != "open":
        raise Conflict(f"offer {offer_id} is already {offer.status}")
    if now > offer.answer_deadline:
        raise Conflict(f"the answer window of offer {offer_id} closed at {offer.answer_deadline.isoformat()}")
    offer.status, offer.answered_at, offer.answered_by_role = ("accepted" if accept else "declined"), now, role
    session.get(FreePlaceRow, offer.place_id).status = "filled" if accept else "open"
    _record(session, events, contract.OFFER_ACCEPTED if accept else contract.OFFER_DECLINED, offer)
    return offer


def _lapse(session: Session, offer: OfferRow, events) -> None:
    offer.status = "lapsed"
    session.get(FreePlaceRow, offer.place_id).status = "open"
    _record(session, events, contract.OFFER_LAPSED, offer, answer_deadline=offer.answer_deadline.isoformat())


def lapse_due(session: Session, now: datetime, events, limit: int) -> int:
    """Lapse up to `limit` open offers whose answer window has closed; returns how many."""
    due = session.scalars(
        select(OfferRow).where(OfferRow.status == "open", OfferRow.answer_deadline < now)
        .order_by(OfferRow.answer_deadline).limit(limit).with_for_update(skip_locked=True)).all()
    for offer in due:
        _lapse(session, offer, events)
    return len(due)


def lapse_invalid_offers(session: Session, dossiers: dict[str, tuple[dict[str, Candidate], object]]) -> int:
    """Lapse the open offers whose request can no longer take them. `dossiers`: dossier id ->
    (its candidates by request id, the recorder for the events). Returns how many lapsed."""
    lapsed = 0
    for offer in session.scalars(select(OfferRow).where(OfferRow.dossier_id.in_(list(dossiers)),
                                                        OfferRow.status == "open")):
        candidates, events = dossiers[offer.dossier_id]
        if not still_offerable(candidates.get(offer.request_id), offer.facility_id):
            _lapse(session, offer, events)
            lapsed += 1
    return lapsed


def view(offer: OfferRow) -> dict:
    return {
        "offer_id": offer.offer_id, "place_id": offer.place_id, "facility_id": offer.facility_id,
        "request_id": offer.request_id, "dossier_id": offer.dossier_id, "status": offer.status,
        "answer_deadline": offer.answer_deadline.isoformat(), "rule_set_version": offer.rule_set_version,
        "position": offer.position, "reasons": offer.reasons, "dutch_priority": offer.dutch_priority,
        "made_at": offer.made_at.isoformat(),
        "answered_at": offer.answered_at.isoformat() if offer.answered_at else None,
    }
