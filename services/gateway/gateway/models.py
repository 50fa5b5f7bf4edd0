"""The gateway's tables, on their own MetaData: accounts, login sessions, login attempts, email confirmations,
failed claim codes."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loket.db import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s",
    })


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: trimmed, lower case
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    facility_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    organisation_id: Mapped[str | None] = mapped_column(String(64))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginSession(Base):
    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """One login attempt. No email is stored: an unknown one may be a mistyped password."""
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_address: Mapped[str] = mapped_column(String(64))  # the throttling key: IPv4, or IPv6 /64
    outcome: Mapped[str] = mapped_column(String(16))  # success | failure | locked | unconfirmed
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_login_attempts_account", "account_id", "attempted_at"),
        Index("ix_login_attempts_address", "client_address", "attempted_at"),
    )


class EmailConfirmation(Base):
    __tablename__ = "email_confirmation_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ClaimFailure(Base):
    """A claim code a parent's account tried that registration did not accept: throttles guessing
    (gateway.claims). The code itself is not stored."""
    __tablename__ = "claim_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_claim_failures_account", "account_id", "attempted_at"),)
