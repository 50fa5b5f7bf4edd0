"""The service's own projection of dossiers and requests, kept from registration's snapshots.

Every function takes the caller's session; nothing here commits.
"""
from datetime import datetime
from typing import Mapping

from sqlalchemy import Date, bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from notification.models import DossierProjection, ErasedDossier, RequestProjectionRow
from notification.reminders import (
    DueReminder, Reminder, RequestProjection, projections_from_snapshot, reminder_sql,
)


def apply_snapshot(session: Session, sequence: int, snapshot: Mapping) -> bool:
    """Bring the dossier's projection up to this snapshot. False, changing nothing, when the
    event is not newer than the last one applied (redelivered or overtaken)."""
    dossier = session.get(DossierProjection, snapshot["id"])
    if dossier is not None and sequence <= dossier.sequence:
        return False
    if dossier is None:
        dossier = DossierProjection(dossier_id=snapshot["id"])
        session.add(dossier)
    dossier.sequence = sequence
    dossier.recipient = snapshot["applicant"]["email"]
    dossier.language = snapshot["preferred_language"]
    dossier.applicant_first_name = snapshot["applicant"]["first_name"]
    dossier.restricted = snapshot["restricted"]

    rows = {row.request_id: row for row in session.scalars(
        select(RequestProjectionRow).where(RequestProjectionRow.dossier_id == snapshot["id"]))}
    for projection in projections_from_snapshot(snapshot, previous=rows):
        row = rows.get(projection.request_id)
        if row is None:
            row = RequestProjectionRow(request_id=projection.request_id,
                                       dossier_id=projection.dossier_id)
            session.add(row)
        row.child_first_name = projection.child_first_name
        row.desired_start_date = projection.desired_start_date
        row.status = projection.status
        row.near_sent = projection.near_sent
        row.passed_sent = projection.passed_sent
    session.flush()
    return True


_COLUMNS = (
    RequestProjectionRow.request_id, RequestProjectionRow.dossier_id,
    RequestProjectionRow.desired_start_date, RequestProjectionRow.status,
    DossierProjection.language, DossierProjection.recipient, RequestProjectionRow.near_sent,
    RequestProjectionRow.passed_sent, DossierProjection.applicant_first_name,
    RequestProjectionRow.child_first_name,
)


def _projection(row) -> RequestProjection:
    return RequestProjection(*row)


def _joined():
    return select(*_COLUMNS).join(
        DossierProjection, DossierProjection.dossier_id == RequestProjectionRow.dossier_id)


def request(session: Session, request_id: str) -> RequestProjection | None:
    row = session.execute(_joined().where(RequestProjectionRow.request_id == request_id)).first()
    return _projection(row) if row else None


def due_reminders(session: Session, now: datetime, weeks_before: int,
                  limit: int) -> list[DueReminder]:
    """Up to `limit` reminders due now, through the indexed predicate of reminders.reminder_sql."""
    due = []
    for kind, (where, params) in reminder_sql(now, weeks_before).items():
        # Typed, so that SQLite compares dates as it stores them (ISO text).
        predicate = text(where).bindparams(
            *(bindparam(name, value, type_=Date) for name, value in params.items()
              if f":{name}" in where))
        rows = session.execute(
            _joined().where(predicate).order_by(RequestProjectionRow.desired_start_date)
            .limit(limit - len(due))).all()
        due += [DueReminder(kind, _projection(row)) for row in rows]
        if len(due) >= limit:
            break
    return due


def mark_reminder_sent(session: Session, due: DueReminder) -> None:
    flag = "near_sent" if due.kind is Reminder.START_DATE_NEAR else "passed_sent"
    session.execute(update(RequestProjectionRow)
                    .where(RequestProjectionRow.request_id == due.projection.request_id)
                    .values({flag: True}))


def current_recipient(session: Session, dossier_id: str) -> str | None:
    return session.scalar(select(DossierProjection.recipient)
                          .where(DossierProjection.dossier_id == dossier_id))


def is_erased(session: Session, dossier_id: str) -> bool:
    return session.get(ErasedDossier, dossier_id) is not None


def erase(session: Session, dossier_id: str, now: datetime) -> int:
    """Delete the dossier's projection and remember (by id only) that it was erased."""
    erased = session.execute(delete(RequestProjectionRow)
                             .where(RequestProjectionRow.dossier_id == dossier_id)).rowcount
    erased += session.execute(delete(DossierProjection)
                              .where(DossierProjection.dossier_id == dossier_id)).rowcount
    if not is_erased(session, dossier_id):
        session.add(ErasedDossier(dossier_id=dossier_id, erased_at=now))
    return erased


def export(session: Session, dossier_id: str) -> dict | None:
    """What the projection holds about a dossier, for the parent's GDPR export."""
    dossier = session.get(DossierProjection, dossier_id)
    if dossier is None:
        return None
    requests = session.scalars(select(RequestProjectionRow)
                               .where(RequestProjectionRow.dossier_id == dossier_id)
                               .order_by(RequestProjectionRow.request_id))
    return {
        "recipient": dossier.recipient,
        "language": dossier.language,
        "applicant_first_name": dossier.applicant_first_name,
        "restricted": dossier.restricted,
        "requests": [{
            "request_id": row.request_id, "child_first_name": row.child_first_name,
            "desired_start_date": row.desired_start_date.isoformat(), "status": row.status,
            "start_date_near_sent": row.near_sent, "start_date_passed_sent": row.passed_sent,
        } for row in requests],
    }
