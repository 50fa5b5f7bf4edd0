"""The email log, which is also the outgoing-mail queue.

    queued --send--> sent
       |  \\--transient failure--> queued again, later (bounded exponential backoff)
       \\--permanent failure, attempts used up, undeliverable address--> parked --replay--> queued

Exactly once: an email is inserted once per idempotency key, in the transaction that applies
its cause (the inbox claim of its event, or the reminder flag of its request). Around the SMTP
conversation the row is claimed (attempts + 1, `next_attempt_at` pushed a lease ahead) in one
committed transaction and marked sent in the next (`settle`, with the rest of its delivery
round). A crash in between leaves the row queued; it
is sent again once the lease has run out, with the same Message-ID (derived from the key), so
the worst case is a duplicate the parent's mail client can recognise, never a lost email.

Every function takes the caller's session; nothing here commits.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Callable, Iterable

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from loket.errors import Conflict, NotFound
from notification.delivery import Failure, describe
from notification.emails import (
    Email, Kind, Site, UndeliverableEmail, deliverable_address, readdressed,
)
from notification.models import EmailLogEntry, on_conflict_insert

RETENTION_YEARS = 5  # P15


_table = EmailLogEntry.__table__


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int  # including the one now being made
    email: Email


def queue(session: Session, emails: list[Email], *, event_id: str | None, now: datetime,
          wall_now: datetime) -> list[str]:
    """Log each email as queued, or as parked at once when its address cannot be sent to;
    one that was logged before (same idempotency key) is left as it is. Returns the statuses
    of the emails logged now."""
    if not emails:
        return []
    rows = []
    for email in emails:
        row = {
            "idempotency_key": email.idempotency_key, "dossier_id": email.dossier_id,
            "event_id": event_id, "kind": str(email.kind), "language": email.language,
            "recipient": email.recipient, "status": "queued", "attempts": 0,
            "next_attempt_at": wall_now, "last_error": None, "context": dict(email.context),
            "created_at": now, "sent_at": None, "message_id": None,
        }
        try:
            row["recipient"] = deliverable_address(email.recipient)
        except UndeliverableEmail as problem:
            row.update(status="parked", next_attempt_at=None, last_error=describe(problem))
        rows.append(row)
    connection = session.connection()
    if len(rows) == 1:  # an event's email: the hot path
        inserted = connection.execute(_INSERT_ONE, rows[0]).rowcount
        return [rows[0]["status"]] if inserted else []
    return list(connection.execute(_insert_many(connection.dialect.name), rows).scalars())


# The same SQL on SQLite and PostgreSQL, compiled once: SQLAlchemy does not cache the dialects'
# insert() constructs, and compiling one cost more than running it.
_INSERT_ONE = text("""
    INSERT INTO email_log (idempotency_key, dossier_id, event_id, kind, language, recipient,
        status, attempts, next_attempt_at, last_error, context, created_at, sent_at, message_id)
    VALUES (:idempotency_key, :dossier_id, :event_id, :kind, :language, :recipient, :status,
        :attempts, :next_attempt_at, :last_error, :context, :created_at, :sent_at, :message_id)
    ON CONFLICT (idempotency_key) DO NOTHING
""").bindparams(*(bindparam(column.name, type_=column.type) for column in _table.columns
                  if column.name not in ("id",)))


@cache
def _insert_many(dialect_name: str):
    # A batch of reminders: RETURNING names what was inserted and lets SQLAlchemy send the rows
    # as multi-row INSERTs (one compilation per batch).
    insert = on_conflict_insert(dialect_name)(_table)
    return insert.on_conflict_do_nothing(index_elements=[_table.c.idempotency_key]) \
        .returning(_table.c.status)


def claim_due(session: Session, wall_now: datetime, lease_seconds: float,
              limit: int) -> list[Claimed]:
    """Take up to `limit` queued emails whose time has come, for one delivery attempt each.
    Other senders skip them until the lease runs out (PostgreSQL: SKIP LOCKED; SQLite
    serialises writers anyway)."""
    rows = session.execute(
        select(*_EMAIL_COLUMNS, EmailLogEntry.id, EmailLogEntry.attempts)
        .where(EmailLogEntry.status == "queued", EmailLogEntry.next_attempt_at <= wall_now)
        .order_by(EmailLogEntry.next_attempt_at, EmailLogEntry.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        session.execute(
            update(EmailLogEntry).where(EmailLogEntry.id.in_([row.id for row in rows]))
            .values(attempts=EmailLogEntry.attempts + 1,
                    next_attempt_at=wall_now + timedelta(seconds=lease_seconds)))
    return [Claimed(row.id, row.attempts + 1, _email(row)) for row in rows]


@dataclass(frozen=True)
class Sent:
    id: int
    message_id: str
    at: datetime  # the service clock


@dataclass(frozen=True)
class Failed:
    id: int
    failure: Failure
    wall_now: datetime
    message_id: str | None


def settle(session: Session, sent: list[Sent], failed: list[Failed]) -> None:
    """Record the outcomes of a delivery round."""
    if sent:
        session.connection().execute(_MARK_SENT, [
            {"id": outcome.id, "message_id": outcome.message_id, "sent_at": outcome.at}
            for outcome in sent])
    for outcome in failed:
        mark_failed(session, outcome.id, outcome.failure, outcome.wall_now, outcome.message_id)


def mark_sent(session: Session, email_id: int, message_id: str, now: datetime) -> None:
    settle(session, [Sent(email_id, message_id, now)], [])


# The context is what rendering needed; once sent, the log keeps only who, what and when.
# One statement compiled once, executed for all of a round's sent emails at a time.
_MARK_SENT = text("""
    UPDATE email_log SET status = 'sent', sent_at = :sent_at, next_attempt_at = NULL,
        last_error = NULL, context = NULL, message_id = :message_id
    WHERE id = :id
""").bindparams(bindparam("sent_at", type_=_table.c.sent_at.type),
                bindparam("message_id", type_=_table.c.message_id.type),
                bindparam("id", type_=_table.c.id.type))


def mark_failed(session: Session, email_id: int, failure: Failure, wall_now: datetime,
                message_id: str | None) -> str:
    """Schedule the next attempt or park; returns the new status."""
    if failure.retry_in is None:
        status, next_attempt_at = "parked", None
    else:
        status, next_attempt_at = "queued", wall_now + timedelta(seconds=failure.retry_in)
    session.execute(update(EmailLogEntry).where(EmailLogEntry.id == email_id).values(
        status=status, next_attempt_at=next_attempt_at, last_error=failure.reason,
        message_id=message_id))
    return status


def waiting(session: Session) -> dict[str, int]:
    """How many emails are queued and parked (for the metrics)."""
    rows = session.execute(select(EmailLogEntry.status, func.count())
                           .where(EmailLogEntry.status.in_(("queued", "parked")))
                           .group_by(EmailLogEntry.status))
    return dict(rows.all())


def parked(session: Session) -> list[dict]:
    """Parked emails for operators: ids, kind and reason; no addresses, no content."""
    entries = session.scalars(select(EmailLogEntry).where(EmailLogEntry.status == "parked")
                              .order_by(EmailLogEntry.created_at, EmailLogEntry.id))
    return [_summary(entry) for entry in entries]


def replay(session: Session, idempotency_key: str, *,
           current_recipient: Callable[[str], str | None], site: Site, wall_now: datetime) -> dict:
    """Queue a parked email again with a fresh attempt budget, addressed to the dossier's
    current address (`current_recipient(dossier_id)`, None when unknown): an operator fixes a
    bouncing or invalid address by having the dossier corrected, then replays."""
    entry = session.scalar(select(EmailLogEntry)
                           .where(EmailLogEntry.idempotency_key == idempotency_key))
    if entry is None:
        raise NotFound(f"no email {idempotency_key}")
    if entry.status != "parked":
        raise Conflict(f"email {idempotency_key} is {entry.status}, not parked")
    email = _email(entry)
    recipient = current_recipient(entry.dossier_id) or entry.recipient
    try:
        recipient = deliverable_address(recipient)
    except UndeliverableEmail as problem:
        raise Conflict(f"email {idempotency_key}: {problem.reason}; correct the dossier first")
    if recipient != email.recipient:
        email = readdressed(email, recipient, site=site)
    entry.recipient, entry.context = email.recipient, dict(email.context)
    entry.status, entry.attempts, entry.next_attempt_at = "queued", 0, wall_now
    return _summary(entry)


def for_dossier(session: Session, dossier_id: str) -> list[dict]:
    """The dossier's email log for the parent's GDPR export: everything the row holds."""
    entries = session.scalars(select(EmailLogEntry).where(EmailLogEntry.dossier_id == dossier_id)
                              .order_by(EmailLogEntry.created_at, EmailLogEntry.id))
    return [{**_summary(entry), "recipient": entry.recipient, "message_id": entry.message_id,
             "sent_at": _iso(entry.sent_at), "content": entry.context} for entry in entries]


def erase(session: Session, dossier_id: str) -> int:
    return erase_all(session, [dossier_id]).get(dossier_id, 0)


def erase_all(session: Session, dossier_ids: Iterable[str]) -> Counter:
    """`erase` for many dossiers in one statement: {dossier id: entries deleted} (only those that
    had any)."""
    dossier_ids = sorted(set(dossier_ids))
    if not dossier_ids:
        return Counter()
    return Counter(session.scalars(delete(EmailLogEntry)
                                   .where(EmailLogEntry.dossier_id.in_(dossier_ids))
                                   .returning(EmailLogEntry.dossier_id)))


def retention_cutoff(now: datetime) -> datetime:
    """Entries created before this instant are past their 5 years (29 February: 1 March)."""
    try:
        return now.replace(year=now.year - RETENTION_YEARS)
    except ValueError:
        return now.replace(year=now.year - RETENTION_YEARS, month=3, day=1)


def purge_expired(session: Session, now: datetime) -> int:
    return session.execute(delete(EmailLogEntry)
                           .where(EmailLogEntry.created_at < retention_cutoff(now))).rowcount


_EMAIL_COLUMNS = (EmailLogEntry.kind, EmailLogEntry.recipient, EmailLogEntry.language,
                  EmailLogEntry.context, EmailLogEntry.idempotency_key, EmailLogEntry.dossier_id)


def _email(entry) -> Email:  # an EmailLogEntry or a row with _EMAIL_COLUMNS
    return Email(kind=Kind(entry.kind), recipient=entry.recipient, language=entry.language,
                 context=entry.context, idempotency_key=entry.idempotency_key,
                 dossier_id=entry.dossier_id)


def _summary(entry: EmailLogEntry) -> dict:
    return {
        "idempotency_key": entry.idempotency_key, "dossier_id": entry.dossier_id,
        "event_id": entry.event_id, "kind": entry.kind, "language": entry.language,
        "status": entry.status, "attempts": entry.attempts, "last_error": entry.last_error,
        "created_at": _iso(entry.created_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
