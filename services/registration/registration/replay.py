"""Replay: every dossier's current SNAPSHOT published again, for matching to rebuild its read model.

    python -m registration.replay --config services/registration/config.yaml
    python -m registration.replay <database url>

Registration keeps no event log, so a consumer that lost its read model cannot read the history
back; what it needs is each dossier as it is now. The replay records one
`registration_replay.dossier_snapshot` per dossier through the outbox (in the dossiers' id order,
a batch per transaction); the running service's outbox relay publishes them. Only matching is
bound to them (loket.contracts.registration_replay), so notification, consent-export and retention
receive nothing. The sequence is the dossier's current version, the one its last event carried:
matching applies a replay only over something older. Restricted dossiers are replayed as they are
(matching keeps them out of its rankings); erased ones are gone, and matching keeps their tombstones.

A replay changes no dossier: no version, no activity, no audit entry. Each batch's dossiers are
read under a share lock (PostgreSQL), so a snapshot is the dossier of its version; a change or an
erasure of one of them waits for the batch and then follows it with a higher sequence.
"""
import argparse
import logging
import sys
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from loket.config import load_config
from loket.contracts.registration_replay import DOSSIER_SNAPSHOT, PRODUCER
from loket.db import DatabaseAccess, create_db_engine
from loket.outbox import EventRecorder

from .models import Dossier
from .snapshots import snapshot

log = logging.getLogger(__name__)

BATCH = 500
# What a snapshot reads, for a whole batch: one query per relationship, none joined (a share lock
# cannot take the nullable side of an outer join).
_SNAPSHOT_PARTS = (selectinload(Dossier.applicant), selectinload(Dossier.partner), selectinload(Dossier.priority),
                   selectinload(Dossier.children), selectinload(Dossier.requests), selectinload(Dossier.consents))


def replay_snapshots(db: DatabaseAccess, recorder, batch: int = BATCH) -> int:
    """Record a replay event for every dossier, `batch` dossiers per transaction; returns how many."""
    replayed, after = 0, None
    while True:
        with db.transaction() as session:
            query = select(Dossier).options(*_SNAPSHOT_PARTS).order_by(Dossier.id).limit(batch)
            if after is not None:
                query = query.where(Dossier.id > after)
            dossiers = session.scalars(query.with_for_update(read=True, of=Dossier)).all()
            recorder.record_many(session, [(DOSSIER_SNAPSHOT, dossier.id, dossier.version,
                                            {"dossier": snapshot(dossier)}) for dossier in dossiers])
        replayed += len(dossiers)
        if dossiers:
            log.info("replay: %d dossiers recorded so far", replayed)
        if len(dossiers) < batch:
            return replayed
        after = dossiers[-1].id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registration.replay",
                                     description="Publish every dossier's current snapshot to matching again.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="the service's config.yaml (its DATABASE_URL)")
    source.add_argument("database_url", nargs="?", help="registration's database")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"dossiers per transaction (default {BATCH})")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    url = load_config(args.config)["DATABASE_URL"] if args.config else args.database_url
    engine = create_db_engine(url)
    try:
        db = DatabaseAccess(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))
        recorder = EventRecorder(PRODUCER, correlation_id=f"replay-{uuid.uuid4()}")
        replayed = replay_snapshots(db, recorder, args.batch)
    finally:
        engine.dispose()
    print(f"replay: {replayed} dossier snapshots recorded in the outbox; the running service publishes them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
