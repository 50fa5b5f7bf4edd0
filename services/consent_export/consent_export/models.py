"""Tables of the consent-export service, on its own `metadata` (Alembic targets it).

- `dossier_states`: per dossier, the last event sequence applied and whether processing is
  restricted (GDPR art. 18); ids and flags only.
- `exported`: per dossier and partner, what the partner holds once every queued transfer is
  delivered (hash of the payload, consent record id). Written when a transfer is queued.
- `transfers`: the outbound queue, delivered strictly in id order per (dossier, partner). The
  payload is kept only while the transfer can still be sent (queued or parked).
- `transfer_log`: accountability (GDPR art. 5(2), 7(1), 30): which fields (names, never values)
  went to which partner under which consent record, when, and the partner's answer.
- `erased_dossiers`: keyed hashes of erased dossiers, so a late event cannot bring one back.

Delivery times (`next_attempt_at`, `lease_until`) are wall-clock epoch seconds, as the outbox
relay's lease: a frozen test clock must not stop retries.
"""
from datetime import UTC, datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, MetaData, String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loket.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

DOSSIER_ID = String(64)
PARTNER = String(20)
KEY = String(120)
ANSWER = String(500)  # consent_export.transport.ANSWER_LIMIT

QUEUED = "queued"
DELIVERED = "delivered"
PARKED = "parked"
SUPERSEDED = "superseded"
# Still to be sent: a parked transfer waits for an operator and keeps its place in the order.
PENDING = (QUEUED, PARKED)


class Base(DeclarativeBase):
    metadata = metadata


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DossierState(Base):
    __tablename__ = "dossier_states"

    dossier_id: Mapped[str] = mapped_column(DOSSIER_ID, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)


class ExportedData(Base):
    __tablename__ = "exported"

    dossier_id: Mapped[str] = mapped_column(DOSSIER_ID, primary_key=True)
    partner: Mapped[str] = mapped_column(PARTNER, primary_key=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str | None] = mapped_column(String(64))


class QueuedTransfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        # The head of each (dossier, partner) queue, and what blocks it.
        Index("ix_transfers_dossier_partner", "dossier_id", "partner", "id"),
        # The sender's claim walks one partner's queued transfers in id order and stops at its
        # limit; ordered by next_attempt_at instead, it would sort the whole backlog every turn.
        Index("ix_transfers_sendable", "partner", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(KEY, unique=True)
    dossier_id: Mapped[str] = mapped_column(DOSSIER_ID)
    partner: Mapped[str] = mapped_column(PARTNER)
    kind: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict | None] = mapped_column(JSON)
    field_names: Mapped[list] = mapped_column(JSON)
    consent_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(KEY)
    lease_until: Mapped[float | None] = mapped_column(Float)
    partner_status: Mapped[int | None] = mapped_column(Integer)
    partner_answer: Mapped[str | None] = mapped_column(ANSWER)


class TransferLogEntry(Base):
    __tablename__ = "transfer_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(KEY, unique=True)
    # The dossier id, or its keyed hash once the dossier is erased (`pseudonymised`).
    dossier_ref: Mapped[str] = mapped_column(String(64), index=True)
    pseudonymised: Mapped[bool] = mapped_column(Boolean, default=False)
    partner: Mapped[str] = mapped_column(PARTNER)
    kind: Mapped[str] = mapped_column(String(10))
    field_names: Mapped[list] = mapped_column(JSON)
    consent_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))
    partner_status: Mapped[int | None] = mapped_column(Integer)
    partner_answer: Mapped[str | None] = mapped_column(ANSWER)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class ErasedDossier(Base):
    __tablename__ = "erased_dossiers"

    dossier_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
