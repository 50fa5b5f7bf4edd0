"""Tables of the registration service, on its own `metadata` (Alembic targets it).

A dossier's `version` is the sequence of its events: bumped on every change, and used as the
optimistic-lock column, so two concurrent changes of one dossier cannot both commit the same
sequence (the loser gets StaleDataError and is retried or rejected by the caller).
"""
import unicodedata
from datetime import date, datetime

from sqlalchemy import (
    JSON, Boolean, Date, Float, ForeignKey, Index, Integer, MetaData, String, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from loket.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(36)
ACTOR_ID = String(64)
NAME_KEY_LENGTH = 100


def name_key(name: str) -> str:
    """A name as the helpdesk searches it: case-folded, accents dropped ("Özdemir" -> "ozdemir").

    Computed here rather than with the database's lower(), which SQLite applies to ASCII only and
    PostgreSQL by its locale, so both find the same dossiers. Cut to the column's length (folding can
    lengthen a name: "ß" -> "ss"); a search key is cut the same way, so prefixes still match."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:NAME_KEY_LENGTH]


class Base(DeclarativeBase):
    metadata = metadata


def _owned(**kwargs):
    return relationship(back_populates="dossier", cascade="all, delete-orphan", **kwargs)


def _dossier_fk(**kwargs):
    return mapped_column(ID, ForeignKey("dossiers.id", ondelete="CASCADE"), **kwargs)


class Dossier(Base):
    __tablename__ = "dossiers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by_role: Mapped[str] = mapped_column(String(20))
    registered_by_actor_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    # The parent's account (the gateway's account id); None while an intermediary's dossier is unclaimed.
    owner_account_id: Mapped[str | None] = mapped_column(ACTOR_ID, index=True)
    preferred_language: Mapped[str] = mapped_column(String(2))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag: Mapped[str | None] = mapped_column(String(20))
    flag_message: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    applicant: Mapped["Applicant"] = _owned(uselist=False)
    partner: Mapped["Partner | None"] = _owned(uselist=False)
    children: Mapped[list["Child"]] = _owned(order_by="Child.position")
    requests: Mapped[list["Request"]] = _owned(order_by="Request.position")
    priority: Mapped["PriorityData"] = _owned(uselist=False)
    consents: Mapped[list["Consent"]] = _owned(order_by="Consent.dossier_version")
    access_grants: Mapped[list["AccessGrant"]] = _owned()

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class SearchableName:
    """Keeps `last_name_key` = name_key(last_name) whenever the last name is set (registration, changes)."""

    @validates("last_name")
    def _keep_name_key(self, _, last_name):
        self.last_name_key = name_key(last_name)
        return last_name


class Applicant(SearchableName, Base):
    __tablename__ = "applicants"

    dossier_id: Mapped[str] = _dossier_fk(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    street: Mapped[str] = mapped_column(String(100))
    house_number: Mapped[str] = mapped_column(String(10))
    postal_code: Mapped[str] = mapped_column(String(4))
    municipality: Mapped[str] = mapped_column(String(100))
    last_name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))  # kept by SearchableName

    dossier: Mapped[Dossier] = relationship(back_populates="applicant")


class Partner(SearchableName, Base):
    __tablename__ = "partners"

    dossier_id: Mapped[str] = _dossier_fk(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    last_name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))  # kept by SearchableName

    dossier: Mapped[Dossier] = relationship(back_populates="partner")


class Child(Base):
    __tablename__ = "children"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dossier_id: Mapped[str] = _dossier_fk(index=True)
    position: Mapped[int] = mapped_column(Integer)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))
    foster_child: Mapped[bool] = mapped_column(Boolean, default=False)
    sibling_facility_ids: Mapped[list] = mapped_column(JSON, default=list)

    dossier: Mapped[Dossier] = relationship(back_populates="children")


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        # expire_requests scans active requests by start date
        Index("ix_requests_status_desired_start_date", "status", "desired_start_date"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dossier_id: Mapped[str] = _dossier_fk(index=True)
    child_id: Mapped[str] = mapped_column(ID, ForeignKey("children.id", ondelete="CASCADE"),
                                          unique=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    desired_start_date: Mapped[date] = mapped_column(Date)
    care_plan: Mapped[dict] = mapped_column(JSON)
    facility_ids: Mapped[list] = mapped_column(JSON)
    enrolled_facility_id: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    dossier: Mapped[Dossier] = relationship(back_populates="requests")
    # also tells the unit of work to delete a request before its child
    child: Mapped[Child] = relationship()


class PriorityData(Base):
    """Priority data as given; the snapshot derives its flags from these columns.

    The health situation detail (GDPR art. 9) exists only encrypted with loket.crypto.Keyring.
    """

    __tablename__ = "priority_data"

    dossier_id: Mapped[str] = _dossier_fk(primary_key=True)
    single_parent: Mapped[bool] = mapped_column(Boolean)
    income_below_threshold: Mapped[bool] = mapped_column(Boolean)
    income_band: Mapped[str | None] = mapped_column(String(40))
    applicant_work_regime: Mapped[float] = mapped_column(Float)
    applicant_employer: Mapped[str | None] = mapped_column(String(200))
    applicant_in_training: Mapped[bool] = mapped_column(Boolean)
    applicant_job_seeking: Mapped[bool] = mapped_column(Boolean)
    applicant_education_level: Mapped[str] = mapped_column(String(20))
    partner_work_regime: Mapped[float | None] = mapped_column(Float)
    partner_employer: Mapped[str | None] = mapped_column(String(200))
    partner_in_training: Mapped[bool | None] = mapped_column(Boolean)
    partner_job_seeking: Mapped[bool | None] = mapped_column(Boolean)
    partner_education_level: Mapped[str | None] = mapped_column(String(20))
    integration_course_complete: Mapped[bool] = mapped_column(Boolean)
    health_or_care_situation: Mapped[bool] = mapped_column(Boolean)
    health_situation_encrypted: Mapped[str | None] = mapped_column(Text)
    dutch_proficiency: Mapped[bool] = mapped_column(Boolean)
    dutch_proof_declared: Mapped[bool] = mapped_column(Boolean)

    dossier: Mapped[Dossier] = relationship(back_populates="priority")


class Consent(Base):
    """Consent history: one row per give or withdraw; the newest row per partner is in force."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dossier_id: Mapped[str] = _dossier_fk(index=True)
    # the dossier version that recorded it orders the history without relying on clock ties
    dossier_version: Mapped[int] = mapped_column(Integer)
    partner: Mapped[str] = mapped_column(String(20))
    given: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    policy_version: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(20))
    by_role: Mapped[str] = mapped_column(String(20))
    by_actor_id: Mapped[str | None] = mapped_column(ACTOR_ID)

    dossier: Mapped[Dossier] = relationship(back_populates="consents")


class AccessGrant(Base):
    """Access of an intermediary or facility manager who registered the dossier with the parent.

    An intermediary's access ends a fixed term after `last_change_at` (P19); a facility manager's
    grant is revoked when the dossier no longer involves their facility (P21).
    """

    __tablename__ = "access_grants"
    __table_args__ = (UniqueConstraint("dossier_id", "role", "actor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = _dossier_fk(index=True)
    role: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(ACTOR_ID)
    facility_id: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_change_at: Mapped[datetime] = mapped_column(UtcDateTime)

    dossier: Mapped[Dossier] = relationship(back_populates="access_grants")


class ClaimCode(Base):
    """A one-time code with which a parent's account claims a dossier an intermediary or a facility
    manager registered for them (it has no owner yet). Only its SHA-256 hash is stored: the code is
    shown once, to the registrant, who hands it to the parent. Deleted with its dossier."""

    __tablename__ = "claim_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dossier_id: Mapped[str] = _dossier_fk(index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by_account_id: Mapped[str | None] = mapped_column(ACTOR_ID)

    # no collection on Dossier (nothing reads a dossier's codes through it); this tells the unit of work
    # to insert a new dossier before its code
    dossier: Mapped[Dossier] = relationship()


class AuditEntry(Base):
    """Who did what to which dossier (P18, P22). Ids only; no foreign key, so a refused call on an
    unknown dossier can be audited too. No dossier for a refused call on no dossier in particular (a
    search by someone other than the helpdesk): no parent's access log shows it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str | None] = mapped_column(ID, index=True)
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    operation: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
