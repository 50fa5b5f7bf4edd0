"""Tables every service has beside its own: the outbox, the inbox and the relay lease.

They live on their own MetaData; each service's first migration creates them
(`loket.migrations.create_platform_tables`).
"""
from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

platform_metadata = MetaData()

# Rows wait here until the broker confirmed them; then they are deleted. Ordered by id.
outbox = Table(
    "outbox", platform_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(120), nullable=False),
    Column("aggregate_id", String(120), nullable=False, index=True),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per event a consumer has applied, written in the same transaction as its effect.
inbox = Table(
    "inbox", platform_metadata,
    Column("consumer", String(120), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("aggregate_id", String(120), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    Index("ix_inbox_aggregate", "aggregate_id"),
)

# Only the holder of the lease relays, so several instances of a service keep per-dossier order.
relay_lease = Table(
    "relay_lease", platform_metadata,
    Column("name", String(60), primary_key=True),
    Column("owner", String(120), nullable=False),
    Column("expires_at", Float, nullable=False),  # wall-clock epoch seconds, never the test clock
)
