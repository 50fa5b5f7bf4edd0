"""Departures: an enrolled child leaves its facility. The facility's manager (or the helpdesk) records
the day it left, `left_on`: the first day the child no longer takes its place. From that day the
child no longer counts in the facility's occupancy (occupancy.py), so its seats of the Dutch-language
and vulnerable-families quotas are free again for the rankings of places starting then.

A departure is recorded once per enrollment, on the enrollment row, with the event
`matching.departure_recorded` in the same transaction. The row stays: the accepted offer it came
from would otherwise count as a Dutch-language seat again (occupancy._DUTCH_OFFERS).

Every function takes the caller's session; nothing here commits.
"""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.contracts import matching as contract
from loket.errors import Conflict, InvalidInput, NotFound
from matching.models import DossierRow, EnrollmentRow
from matching.sequences import next_event_sequence


def _find(session: Session, facility_id: str, data: dict) -> EnrollmentRow:
    if data.get("request_id") is not None:
        row = session.scalar(select(EnrollmentRow).where(EnrollmentRow.request_id == data["request_id"]))
        what = f"request {data['request_id']}"
    else:
        row = session.get(EnrollmentRow, data["enrollment_id"])
        what = f"enrollment {data['enrollment_id']}"
    if row is None or row.facility_id != facility_id:
        raise NotFound(f"no enrollment of {what} in {facility_id}")
    return row


def _locked(session: Session, facility_id: str, data: dict) -> EnrollmentRow:
    """The enrollment, locked after its dossier: the order an erasure locks them in, so the two
    cannot deadlock. Read again once locked (an erasure may have unlinked it meanwhile)."""
    row = _find(session, facility_id, data)
    if row.dossier_id is not None:
        session.get(DossierRow, row.dossier_id, with_for_update=True)
    session.refresh(row, with_for_update=True)
    return row


def record(session: Session, now: datetime, facility_id: str, data: dict, recorded_by: str, events) -> EnrollmentRow:
    """Record that the child of an enrollment of `facility_id` left on data["left_on"]; `data` is
    validated (schemas.DepartureInput) and names the enrollment by request_id or enrollment_id."""
    row = _locked(session, facility_id, data)
    if row.left_on is not None:
        raise Conflict(f"the departure of enrollment {row.id} is already recorded (left on {row.left_on.isoformat()})")
    enrolled_on = row.enrolled_at.date()
    if data["left_on"] < enrolled_on:
        raise InvalidInput({"left_on": [f"The child cannot leave before its enrollment ({enrolled_on.isoformat()})."]})
    row.left_on, row.departure_recorded_at, row.departure_recorded_by = data["left_on"], now, recorded_by
    if row.dossier_id is None:  # erased: no dossier to order the event by, and none to name
        aggregate_id, sequence = f"enrollment-{row.id}", 1
    else:
        aggregate_id, sequence = row.dossier_id, next_event_sequence(session, row.dossier_id)
    events.record(session, contract.DEPARTURE_RECORDED, aggregate_id, sequence, {
        "enrollment_id": row.id, "facility_id": facility_id, "dossier_id": row.dossier_id,
        "request_id": row.request_id, "left_on": row.left_on.isoformat()})
    return row


def view(row: EnrollmentRow) -> dict:
    """An enrollment as its facility's manager and the helpdesk see it."""
    return {"enrollment_id": row.id, "facility_id": row.facility_id, "request_id": row.request_id,
            "dossier_id": row.dossier_id, "enrolled_at": row.enrolled_at.isoformat(),
            "left_on": row.left_on.isoformat() if row.left_on else None,
            "departure_recorded_at": row.departure_recorded_at.isoformat() if row.departure_recorded_at else None}
