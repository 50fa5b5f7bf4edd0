"""The facility registry: rows to ranking.Facility and back, registration and updates.

Every function takes the caller's session; nothing here commits. Input arrives validated
(schemas.FacilityInput); Facility's own checks run once more on what is stored.
"""
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.errors import Conflict, InvalidInput, NotFound
from matching.model import Facility
from matching.models import FacilityRow

FIELDS = ("name", "municipality", "licensed_capacity", "opening_days", "min_age_months", "max_age_months",
          "income_related_tariff", "dutch_share", "answer_window_days", "extra_rules", "rule_set",
          "kg2024_group_order", "staff_dossier_ids")
_NUMBER = re.compile(r"^fac-(\d+)$")


def facility_from_row(row: FacilityRow) -> Facility:
    return Facility(
        id=row.id, name=row.name, municipality=row.municipality, licensed_capacity=row.licensed_capacity,
        opening_days=frozenset(row.opening_days), min_age_months=row.min_age_months,
        max_age_months=row.max_age_months, income_related_tariff=row.income_related_tariff,
        dutch_share=row.dutch_share, answer_window_days=row.answer_window_days,
        extra_rules=tuple(row.extra_rules), rule_set=row.rule_set,
        kg2024_group_order=tuple(row.kg2024_group_order) if row.kg2024_group_order else None,
        staff_dossier_ids=frozenset(row.staff_dossier_ids))


def view(row: FacilityRow, with_staff: bool) -> dict:
    """The facility as RPC callers see it; the staff's dossiers only for its manager and the helpdesk."""
    result = {"id": row.id, **{name: getattr(row, name) for name in FIELDS if name != "staff_dossier_ids"},
              "updated_at": row.updated_at.isoformat()}
    result["opening_days"] = sorted(row.opening_days, key=("mon", "tue", "wed", "thu", "fri").index)
    if with_staff:
        result["staff_dossier_ids"] = list(row.staff_dossier_ids)
    return result


def as_input(row: FacilityRow) -> dict:
    """The stored facility in the shape of FacilityInput, so an update can be validated as a whole."""
    return {name: getattr(row, name) for name in FIELDS}


def checked(facility_id: str, data: dict) -> dict:
    """Run Facility's own checks on validated input; a failure is a field-less input error."""
    try:
        Facility(id=facility_id, **data)
    except ValueError as problem:
        raise InvalidInput({"_schema": [str(problem)]}) from None
    return data


def get_row(session: Session, facility_id: str, for_update: bool = False) -> FacilityRow:
    row = session.get(FacilityRow, facility_id, with_for_update=for_update)
    if row is None:
        raise NotFound(f"facility {facility_id} not found")
    return row


def get(session: Session, facility_id: str) -> Facility:
    return facility_from_row(get_row(session, facility_id))


def _next_id(session: Session) -> str:
    numbers = [int(match.group(1)) for match in map(_NUMBER.match, session.scalars(select(FacilityRow.id))) if match]
    return f"fac-{max(numbers, default=0) + 1:04d}"


def register(session: Session, now: datetime, data: dict) -> FacilityRow:
    data = dict(data)
    facility_id = data.pop("id", None) or _next_id(session)
    if session.get(FacilityRow, facility_id) is not None:
        raise Conflict(f"facility {facility_id} already exists")
    row = FacilityRow(id=facility_id, updated_at=now, **checked(facility_id, data))
    session.add(row)
    session.flush()
    return row


def update(session: Session, now: datetime, row: FacilityRow, data: dict) -> FacilityRow:
    for name, value in checked(row.id, data).items():
        setattr(row, name, value)
    row.updated_at = now
    return row


def listing(session: Session) -> list[FacilityRow]:
    return list(session.scalars(select(FacilityRow).order_by(FacilityRow.id)))
