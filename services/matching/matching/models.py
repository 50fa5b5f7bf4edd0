"""Tables of the matching service, on its own `metadata` (Alembic targets it).

- `facilities`: the registry (every field of ranking.Facility, and the rule set it follows).
- `dossiers` / `requests` / `request_facilities`: the read model of requests, built only from
  registration events. A dossier row keeps the last registration sequence applied (an older event
  never rolls it back), whether processing is restricted (GDPR art. 18: not ranked), matching's
  own sequence for its events about the dossier (offers, departures), and the read-model `revision` at which it last
  changed; after an erasure it stays as a tombstone (id only) so that an event still in a retry
  queue cannot bring the dossier back.
- `read_model_revision`: one row, bumped by every change of the read model. Each process keeps
  its own in-memory CandidateIndex and catches up on the dossiers whose revision is above what it
  has seen (see candidates.py), so several instances stay correct although each event reaches one.
- `enrollments`: one row per enrolled request, with what it counts for (Dutch share, vulnerable
  families, other families) judged on the dossier at the moment of enrollment, and the day the
  child left, once its facility recorded the departure: the occupancy.
- `free_places` and `offers`: places declared by facilities and the offers made for them.

Datetimes are aware UTC in and out (UtcDateTime), on SQLite as on PostgreSQL.
"""
from datetime import date, datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, MetaData, String,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loket.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(64)
FACILITY_ID = String(20)
PLACE_STATUSES = ("open", "offered", "filled")
OFFER_STATUSES = ("open", "accepted", "declined", "lapsed")
_OPEN = text("status = 'open'")


class Base(DeclarativeBase):
    metadata = metadata


class FacilityRow(Base):
    __tablename__ = "facilities"

    id: Mapped[str] = mapped_column(FACILITY_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    municipality: Mapped[str] = mapped_column(String(100))
    licensed_capacity: Mapped[int] = mapped_column(Integer)
    opening_days: Mapped[list] = mapped_column(JSON)
    min_age_months: Mapped[int] = mapped_column(Integer)
    max_age_months: Mapped[int] = mapped_column(Integer)
    income_related_tariff: Mapped[bool] = mapped_column(Boolean)
    dutch_share: Mapped[float] = mapped_column(Float)
    answer_window_days: Mapped[int] = mapped_column(Integer)
    extra_rules: Mapped[list] = mapped_column(JSON)
    rule_set: Mapped[str] = mapped_column(String(40))
    kg2024_group_order: Mapped[list | None] = mapped_column(JSON, nullable=True)
    staff_dossier_ids: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DossierRow(Base):
    __tablename__ = "dossiers"

    dossier_id: Mapped[str] = mapped_column(ID, primary_key=True)
    applied_sequence: Mapped[int] = mapped_column(Integer)
    restricted: Mapped[bool] = mapped_column(Boolean)
    erased: Mapped[bool] = mapped_column(Boolean)
    offer_sequence: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)


class RequestRow(Base):
    __tablename__ = "requests"

    request_id: Mapped[str] = mapped_column(ID, primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ID, ForeignKey("dossiers.dossier_id", ondelete="CASCADE"), index=True)
    child_birth_date: Mapped[date] = mapped_column(Date)
    desired_start_date: Mapped[date] = mapped_column(Date)
    care_plan: Mapped[dict] = mapped_column(JSON)
    facility_ids: Mapped[list] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    enrolled_facility_id: Mapped[str | None] = mapped_column(FACILITY_ID, nullable=True, index=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    priority: Mapped[dict] = mapped_column(JSON)  # the snapshot's priority flags (no health detail)
    foster_child: Mapped[bool] = mapped_column(Boolean)
    sibling_facility_ids: Mapped[list] = mapped_column(JSON)

    __table_args__ = (
        # candidates_dossier_ids: the urgent requests every facility may see (P2).
        Index("ix_requests_urgent_active", "dossier_id",
              sqlite_where=text("urgent AND status = 'active'"),
              postgresql_where=text("urgent AND status = 'active'")),
    )


class RequestFacilityRow(Base):
    """Which facilities a request chose, so "dossiers that chose me" is one indexed query."""
    __tablename__ = "request_facilities"

    request_id: Mapped[str] = mapped_column(ID, ForeignKey("requests.request_id", ondelete="CASCADE"),
                                            primary_key=True)
    facility_id: Mapped[str] = mapped_column(FACILITY_ID, primary_key=True, index=True)


class ReadModelRevision(Base):
    __tablename__ = "read_model_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class EnrollmentRow(Base):
    """An enrolled child. After an erasure the row stays without request and dossier: the facility
    still cares for the child, so its occupancy does not change. A departure (the child leaves)
    sets `left_on`, the first day the child no longer takes its place; from that day it no longer
    counts (occupancy.py). The row stays: the accepted offer it came from must not count again."""
    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(ID, nullable=True, unique=True)
    dossier_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    facility_id: Mapped[str] = mapped_column(FACILITY_ID, index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    counts_dutch_priority: Mapped[bool] = mapped_column(Boolean)
    counts_vulnerable: Mapped[bool] = mapped_column(Boolean)
    counts_other_families: Mapped[bool] = mapped_column(Boolean)
    left_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    departure_recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    departure_recorded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FreePlaceRow(Base):
    __tablename__ = "free_places"

    place_id: Mapped[str] = mapped_column(ID, primary_key=True)
    facility_id: Mapped[str] = mapped_column(FACILITY_ID, ForeignKey("facilities.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    weekdays: Mapped[dict] = mapped_column(JSON)
    min_age_months: Mapped[int] = mapped_column(Integer)
    max_age_months: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    declared_at: Mapped[datetime] = mapped_column(UtcDateTime)
    declared_by: Mapped[str] = mapped_column(String(64))


class OfferRow(Base):
    """An offer. After an erasure it keeps its place, facility and outcome, but no request,
    dossier or reasons (the reasons quote the registration time and the child's birth date)."""
    __tablename__ = "offers"

    offer_id: Mapped[str] = mapped_column(ID, primary_key=True)
    place_id: Mapped[str] = mapped_column(ID, ForeignKey("free_places.place_id"), index=True)
    facility_id: Mapped[str] = mapped_column(FACILITY_ID, index=True)
    request_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    dossier_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(10))
    answer_deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    rule_set_version: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list | None] = mapped_column(JSON, nullable=True)
    dutch_priority: Mapped[bool] = mapped_column(Boolean)  # uses a seat of the Dutch-language share
    made_at: Mapped[datetime] = mapped_column(UtcDateTime)
    made_by: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_by_role: Mapped[str | None] = mapped_column(String(20), nullable=True)

    __table_args__ = (
        # At most one open offer per request, enforced by the database against concurrent offers.
        Index("uq_offers_open_request", "request_id", unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN),
        # The lapse timer scans only open offers, by deadline.
        Index("ix_offers_open_deadline", "answer_deadline", sqlite_where=_OPEN, postgresql_where=_OPEN),
    )
