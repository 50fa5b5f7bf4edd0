"""The service's own projection of dossiers and requests, kept from registration's snapshots.

Every function takes the caller's session; nothing here commits.
"""
from collections import Counter
from datetime import datetime
from functools import cache
from typing import Iterable, Mapping

from sqlalchemy import Boolean, Date, bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from notification.models import (
    DossierProjection, ErasedDossier, RequestProjectionRow, on_conflict_insert,
)
from notification.reminders import (
    DueReminder, Reminder, RequestProjection, projections_from_snapshot, reminder_sql,
)


# One SQL text for SQLite and PostgreSQL alike (both have ON CONFLICT ... DO UPDATE ... WHERE):
# unlike the dialects' insert() constructs, a text() statement is compiled once and cached,
# and this runs for every registration event.
_UPSERT_DOSSIER = text("""
    INSERT INTO dossier_projections
        (dossier_id, sequence, recipient, language, applicant_first_name, restricted)
    VALUES (:dossier_id, :sequence, :recipient, :language, :applicant_first_name, :restricted)
    ON CONFLICT (dossier_id) DO UPDATE SET
        sequence = excluded.sequence, recipient = excluded.recipient,
        language = excluded.language, applicant_first_name = excluded.applicant_first_name,
        restricted = excluded.restricted
    WHERE dossier_projections.sequence < excluded.sequence
""").bindparams(bindparam("restricted", type_=Boolean))  # never rolled back by an older event
_UPSERT_REQUEST = text("""
    INSERT INTO request_projections (request_id, dossier_id, child_first_name,
        desired_start_date, status, near_sent, passed_sent)
    VALUES (:request_id, :dossier_id, :child_first_name, :desired_start_date, :status,
        :unsent, :unsent)
    ON CONFLICT (request_id) DO UPDATE SET
        child_first_name = excluded.child_first_name,
        desired_start_date = excluded.desired_start_date, status = excluded.status
""").bindparams(bindparam("desired_start_date", type_=Date),
                bindparam("unsent", type_=Boolean))  # a known request keeps its sent flags


def apply_snapshot(session: Session, sequence: int, snapshot: Mapping) -> bool:
    """Bring the dossier's projection up to this snapshot. False, changing nothing, when the
    event is not newer than the last one applied (redelivered or overtaken)."""
    connection = session.connection()  # Core statements: no ORM execution around them
    applied = connection.execute(_UPSERT_DOSSIER, {
        "dossier_id": snapshot["id"], "sequence": sequence,
        "recipient": snapshot["applicant"]["email"], "language": snapshot["preferred_language"],
        "applicant_first_name": snapshot["applicant"]["first_name"],
        "restricted": snapshot["restricted"],
    }).rowcount
    if not applied:
        return False
    requests = [{
        "request_id": projection.request_id, "dossier_id": projection.dossier_id,
        "child_first_name": projection.child_first_name,
        "desired_start_date": projection.desired_start_date, "status": projection.status,
        "unsent": False,
    } for projection in projections_from_snapshot(snapshot, previous={})]
    if requests:
        connection.execute(_UPSERT_REQUEST, requests)
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


def mark_reminders_sent(session: Session, due: list[DueReminder]) -> None:
    for kind, flag in ((Reminder.START_DATE_NEAR, "near_sent"),
                       (Reminder.START_DATE_PASSED, "passed_sent")):
        request_ids = [item.projection.request_id for item in due if item.kind is kind]
        if request_ids:
            session.execute(update(RequestProjectionRow)
                            .where(RequestProjectionRow.request_id.in_(request_ids))
                            .values({flag: True}))


def current_recipient(session: Session, dossier_id: str) -> str | None:
    return session.scalar(select(DossierProjection.recipient)
                          .where(DossierProjection.dossier_id == dossier_id))


_erased = ErasedDossier.__table__
_ERASED_AMONG = select(_erased.c.dossier_id).where(
    _erased.c.dossier_id.in_(bindparam("dossiers", expanding=True)))


def is_erased(session: Session, dossier_id: str) -> bool:
    return bool(erased_among(session, {dossier_id}))


def erased_among(session: Session, dossier_ids: Iterable[str]) -> set[str]:
    """Those of these dossiers that were erased."""
    dossier_ids = list(dossier_ids)
    if not dossier_ids:
        return set()
    return set(session.connection().execute(_ERASED_AMONG, {"dossiers": dossier_ids}).scalars())


def erase(session: Session, dossier_id: str, now: datetime) -> int:
    """Delete the dossier's projection and remember (by id only) that it was erased."""
    return erase_all(session, [dossier_id], now).get(dossier_id, 0)


def erase_all(session: Session, dossier_ids: Iterable[str], now: datetime) -> Counter:
    """`erase` for many dossiers in three statements: {dossier id: projection rows deleted}
    (only those that had any). A dossier erased before keeps its first `erased_at`."""
    dossier_ids = sorted(set(dossier_ids))
    if not dossier_ids:
        return Counter()
    erased = Counter()
    for model in (RequestProjectionRow, DossierProjection):  # ORM deletes: the session forgets them
        erased.update(session.scalars(delete(model).where(model.dossier_id.in_(dossier_ids))
                                      .returning(model.dossier_id)))
    connection = session.connection()
    connection.execute(_remember_erased(connection.dialect.name),
                       [{"dossier_id": dossier_id, "erased_at": now} for dossier_id in dossier_ids])
    return erased


@cache
def _remember_erased(dialect_name: str):
    return on_conflict_insert(dialect_name)(_erased).on_conflict_do_nothing(
        index_elements=[_erased.c.dossier_id])


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
