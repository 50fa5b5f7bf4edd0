"""Batches end exactly as their parts one by one, whatever the mix.

Events: outbound.apply_events (one transaction) against apply_event per event (a transaction
each), with several dossiers, several events of one dossier, stale and repeated sequences,
withdrawals, restrictions, erasures. Outcomes: outbound.record_outcomes of a sender's turn against
record_outcome per attempt, with deliveries of different answers, retries and rejections."""
import copy
import random

import pytest
from sqlalchemy import select

from consent_export import erasure, outbound
from consent_export.fields import KIND_EN_GEZIN, LOP, PARTNERS
from consent_export.models import DossierState, ExportedData, QueuedTransfer, TransferLogEntry
from consent_export.transport import Delivery, RejectedByPartner, TransientPartnerError

from .conftest import QueueDriver, _consent, _envelope, _snapshot

DOSSIERS = ("dos-a", "dos-b", "dos-c")
OUTCOMES = (Delivery(201, "ok"), Delivery(201, "ok"), Delivery(200, "fine"), Delivery(201, "ok"),
            TransientPartnerError("ReadTimeout"), RejectedByPartner(422, "no"))
TABLES = (DossierState, ExportedData, QueuedTransfer, TransferLogEntry)


class World:
    """One database, fed the same events either one by one or in batches."""

    def __init__(self, transaction):
        self.queue = QueueDriver(transaction)

    def apply(self, events, batched):
        queued = []
        for part in ([events] if batched else [[event] for event in events]):
            with self.queue.transaction() as session:
                queued += outbound.apply_events(session, copy.deepcopy(part), self.queue.now,
                                                self.queue.pseudonym)
        return [(transfer.partner, transfer.kind, transfer.idempotency_key) for transfer in queued]

    def deliver(self, answers, now, batched):
        """Claim every sendable head of each partner once and record the outcome `answers` gives
        for its key, one by one or all in one transaction (outbound.record_outcomes)."""
        for partner in PARTNERS:
            outcomes = [(transfer_id, answers(transfer.idempotency_key))
                        for transfer_id, transfer in self.queue.claim(partner, now=now, limit=100)]
            if not batched:
                for transfer_id, outcome in outcomes:
                    self.queue.record(transfer_id, outcome, now=now)
                continue
            with self.queue.transaction() as session:
                outbound.record_outcomes(session, "instance-a", outcomes, now=now,
                                         logged_at=self.queue.now, policy=self.queue.policy,
                                         rng=random.Random(1))

    def erase(self, request_id, dossier_id):
        with self.queue.transaction() as session:
            erasure.erase_dossier(session, request_id, dossier_id, self.queue.now,
                                  self.queue.pseudonym(dossier_id))

    def tables(self):
        with self.queue.transaction() as session:
            return {model.__tablename__: [
                {column.key: getattr(row, column.key) for column in model.__table__.columns}
                for row in session.scalars(select(model).order_by(*model.__table__.primary_key.columns))
            ] for model in TABLES}


class Registration:
    """Random registration events of a few dossiers, as registration would publish them."""

    def __init__(self, rng):
        self.rng = rng
        self.dossiers = {dossier_id: _snapshot(id=dossier_id, consents={KIND_EN_GEZIN: None, LOP: None})
                         for dossier_id in DOSSIERS}
        self.sequences = dict.fromkeys(DOSSIERS, 0)
        self.counter = 0

    def event(self):
        rng = self.rng
        dossier_id = rng.choice(DOSSIERS)
        dossier = self.dossiers[dossier_id]
        partner = rng.choice(PARTNERS)
        self.counter += 1
        choice = rng.random()
        if choice < 0.3:
            dossier["consents"][partner] = _consent(record_id=f"con-{self.counter}")
            event_type, data = "registration.consent_given", {"partner": partner}
        elif choice < 0.45:
            dossier["consents"][partner] = _consent(given=False, record_id=f"con-{self.counter}")
            event_type, data = "registration.consent_withdrawn", {"partner": partner}
        elif choice < 0.7:
            dossier["applicant"]["phone"] = f"+32 2 000 {self.counter:04d}"
            dossier["partner"]["email"] = f"p{rng.randrange(3)}@example.org"
            event_type, data = "registration.dossier_updated", {"changed_sections": ["contact"]}
        elif choice < 0.8:
            dossier["restricted"] = not dossier["restricted"]
            event_type, data = "registration.dossier_updated", {"changed_sections": ["restriction"]}
        elif choice < 0.85:
            event_type, data = "registration.dossier_erased", {"dossier_id": dossier_id}
        else:  # registration's own erasure receipt: no dossier event, nothing to do
            event_type, data = "registration.erasure_receipt", {}
        self.sequences[dossier_id] += 1
        sequence = self.sequences[dossier_id]
        if rng.random() < 0.1:
            sequence = rng.randrange(1, sequence + 1)  # late or repeated
        if event_type != "registration.dossier_erased" and event_type != "registration.erasure_receipt":
            data = {"dossier": copy.deepcopy(dossier), **data}
        event = _envelope(event_type, data, dossier_id)
        event["id"] = f"evt-{self.counter}"
        event["sequence"] = sequence
        return event


@pytest.mark.parametrize("seed", range(12))
def test_a_batch_ends_as_its_events_one_by_one(tmp_path, seed):
    from sqlalchemy.orm import sessionmaker

    from consent_export.models import metadata
    from loket.db import create_db_engine

    worlds = []
    for name in ("one_by_one", "batched"):
        engine = create_db_engine(f"sqlite:///{tmp_path / name}.sqlite")
        metadata.create_all(engine)
        worlds.append(World(sessionmaker(engine, expire_on_commit=False).begin))
    one_by_one, batched = worlds
    rng = random.Random(seed)
    registration = Registration(rng)
    kinds, statuses = set(), set()
    for step in range(16):
        events = [registration.event() for _ in range(rng.randrange(1, 15))]
        transfers = one_by_one.apply(events, batched=False)
        assert batched.apply(events, batched=True) == transfers
        kinds.update(kind for _, kind, _ in transfers)
        statuses.update(row["status"] for row in one_by_one.tables()["transfer_log"])
        assert one_by_one.tables() == batched.tables(), f"step {step}"
        what = rng.random()
        if what < 0.6:
            answers = {row["idempotency_key"]: rng.choice(OUTCOMES)
                       for row in one_by_one.tables()["transfers"]}
            now = QueueDriver.t0 + 60 * step  # retries of earlier steps are due (cap 4 s)
            one_by_one.deliver(answers.get, now, batched=False)
            batched.deliver(answers.get, now, batched=True)
        elif what < 0.7:
            dossier_id = rng.choice(DOSSIERS)
            for world in worlds:
                world.erase(f"req-{step}", dossier_id)
        assert one_by_one.tables() == batched.tables(), f"step {step}"
    # The mix did exercise what a batch must get right (every seed here reaches deletes and
    # updates too, but one: tests of each rule one by one are in test_outbound.py).
    assert "push" in kinds and {"delivered", "superseded"} <= statuses
    assert max(row["attempts"] for row in one_by_one.tables()["transfer_log"]) > 1
