"""Tables of the retention service, on its own `metadata` (Alembic targets it).

Nothing here holds personal data beyond a dossier id: the clock keeps when the dossier was last
active, the erasure runs keep which services confirmed, the tombstones keep the ids of erased
dossiers, and the statistics keep counts per category with no id at all (P9).
"""
from sqlalchemy import (
    Boolean, Column, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table,
)

from loket.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(64)  # the contracts allow ids up to 64 characters


# One row per dossier still held somewhere. `erased` turns true when its erasure run starts: the
# clock stops (no event moves it again) and the due query skips it; the row itself is deleted when
# the last receipt arrives.
retention_clocks = Table(
    "retention_clocks", metadata,
    Column("dossier_id", ID, primary_key=True),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("has_active_request", Boolean, nullable=False),
    Column("erased", Boolean, nullable=False),
    Column("sequence", Integer, nullable=False),
    # the due query: NOT has_active_request AND NOT erased AND last_activity_at <= cutoff, oldest first
    Index("ix_retention_clocks_due", "has_active_request", "erased", "last_activity_at"),
)

# One run per dossier (a completed run leaves a tombstone, so no second one starts). Kept after
# completion, ids and times only, as proof of the erasure.
erasure_runs = Table(
    "erasure_runs", metadata,
    Column("run_id", ID, primary_key=True),
    Column("dossier_id", ID, nullable=False, unique=True),
    Column("reason", String(20), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", UtcDateTime, nullable=False),  # = started_at until the first retry
    Column("completed_at", UtcDateTime, nullable=True),
    # open runs whose services must be asked again: completed_at IS NULL AND last_attempt_at <= ...
    Index("ix_erasure_runs_open", "completed_at", "last_attempt_at"),
)

erasure_receipts = Table(
    "erasure_receipts", metadata,
    Column("run_id", ID, ForeignKey("erasure_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("service", String(40), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "service"),
)

# Erased dossiers, id only: an event that arrives late (redelivered, replayed from parking) must
# not start a new clock for a dossier whose data is gone everywhere.
tombstones = Table(
    "tombstones", metadata,
    Column("dossier_id", ID, primary_key=True),
)

# How many closed requests share the same five categories (retention.facts.RequestFact). No id,
# no date finer than a month: the counts survive the erasure of the dossiers they came from.
request_counts = Table(
    "request_counts", metadata,
    Column("municipality", String(40), nullable=False),
    Column("age_band", String(10), nullable=False),
    Column("start_month", String(7), nullable=False),
    Column("priority_group", String(20), nullable=False),
    Column("waiting_band", String(10), nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("municipality", "age_band", "start_month", "priority_group", "waiting_band"),
)
