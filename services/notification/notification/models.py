"""Tables of the notification service, on its own `metadata` (Alembic targets it).

- `dossier_projections` / `request_projections`: the little of each dossier an email needs
  (recipient, language, names, start dates, statuses) and the reminder bookkeeping. `sequence`
  is the last registration event applied, so an older event never rolls the projection back.
- `email_log`: one row per email, keyed by its idempotency key, from queued to sent or parked;
  it is also the outgoing-mail queue (`status = 'queued'`, `next_attempt_at`). The template
  context is kept only until the email is sent. Kept 5 years (P15), erased with the dossier.
- `erased_dossiers`: ids of erased dossiers (no personal data), so that an event still in a
  retry queue cannot bring an erased dossier back.
"""
from datetime import date, datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, MetaData,
    String, text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loket.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(64)
STATUSES = ("queued", "sent", "parked")


def on_conflict_insert(dialect_name: str):
    """The dialect's INSERT construct, which has ON CONFLICT (SQLite and PostgreSQL alike)."""
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect_name]


class Base(DeclarativeBase):
    metadata = metadata


class DossierProjection(Base):
    __tablename__ = "dossier_projections"

    dossier_id: Mapped[str] = mapped_column(ID, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str | None] = mapped_column(String(320))  # as given, even if invalid
    language: Mapped[str] = mapped_column(String(2))
    applicant_first_name: Mapped[str] = mapped_column(String(100))
    restricted: Mapped[bool] = mapped_column(Boolean)


class RequestProjectionRow(Base):
    __tablename__ = "request_projections"

    request_id: Mapped[str] = mapped_column(ID, primary_key=True)
    dossier_id: Mapped[str] = mapped_column(
        ID, ForeignKey("dossier_projections.dossier_id", ondelete="CASCADE"), index=True)
    child_first_name: Mapped[str | None] = mapped_column(String(100))
    desired_start_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    near_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    passed_sent: Mapped[bool] = mapped_column(Boolean, default=False)

    # reminders.reminder_sql, one index per reminder: only active requests still waiting for
    # it, by start date. A request leaves the index once reminded, so neither a daily scan nor
    # the batches of a catch-up walk over the requests already done.
    __table_args__ = (
        Index("ix_request_projections_near_due", "desired_start_date",
              sqlite_where=text("status = 'active' AND NOT near_sent"),
              postgresql_where=text("status = 'active' AND NOT near_sent")),
        Index("ix_request_projections_passed_due", "desired_start_date",
              sqlite_where=text("status = 'active' AND NOT passed_sent"),
              postgresql_where=text("status = 'active' AND NOT passed_sent")),
    )


class EmailLogEntry(Base):
    __tablename__ = "email_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(120))  # as the mail server logs show it
    dossier_id: Mapped[str] = mapped_column(ID, index=True)
    event_id: Mapped[str | None] = mapped_column(ID)  # None for reminders (caused by the clock)
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    recipient: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Wall-clock time of the next delivery attempt while queued (also the lease of a send in
    # progress); None once sent or parked. Delivery mechanics never read the test clock.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))  # class and reason, no server text
    context: Mapped[dict | None] = mapped_column(JSON)  # until sent: what rendering needs
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'parked')", name="status"),
        Index("ix_email_log_status_next_attempt", "status", "next_attempt_at"),
    )


class ErasedDossier(Base):
    __tablename__ = "erased_dossiers"

    dossier_id: Mapped[str] = mapped_column(ID, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime())
