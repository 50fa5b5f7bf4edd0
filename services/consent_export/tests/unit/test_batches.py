"""Batches end exactly as their parts one by one, whatever the mix.

Events: outbound.apply_events (one transaction) against apply_event per event (a transaction
each), with several dossiers, several events of one dossier, stale and repeated sequences,
withdrawals, restrictions, registration's dossier_erased, between erasure requests; and one batch
whose later events depend on what its earlier ones queued, on SQLite and PostgreSQL. Erasures:
erasure.erase_dossiers of several dossiers at once against erase_dossier per dossier. Outcomes:
outbound.record_outcomes of a sender's turn against record_outcome per attempt, with deliveries of different answers, retries and rejections."""
import copy
import random

import pytest
from sqlalchemy import select

from consent_export import erasure, outbound
from consent_export.fields import KIND_EN_GEZIN, LOP, PARTNERS
from consent_export.models import (
    DELIVERED, QUEUED, SUPERSEDED, DossierState, ExportedData, QueuedTransfer, TransferLogEntry,
)
from consent_export.transfers import DELETE, PUSH, UPDATE
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

    def erase(self, requests, batched):
        """Erase the dossiers of `requests` ({dossier id: request id}), one by one in id order (a batch
        queues its deletes in that order too); returns the rows erased of each."""
        if batched:
            with self.queue.transaction() as session:
                return erasure.erase_dossiers(session, requests, self.queue.now, self.queue.pseudonym)
        erased = {}
        for dossier_id, request_id in sorted(requests.items()):
            with self.queue.transaction() as session:
                erased[dossier_id] = erasure.erase_dossier(session, request_id, dossier_id, self.queue.now,
                                                           self.queue.pseudonym(dossier_id))
        return erased

    def tables(self, ids=True):
        """Every row of the service's tables, in key order; `ids=False` leaves out the ids a
        database gives (SQLite hands out a deleted highest id again, so that erasing one by one
        numbers a later delete lower than a batch does), not their order."""
        with self.queue.transaction() as session:
            return {model.__tablename__: [
                {column.key: getattr(row, column.key) for column in model.__table__.columns
                 if ids or column.key != "id"}
                for row in session.scalars(select(model).order_by(*model.__table__.primary_key.columns))
            ] for model in TABLES}


class Registration:
    """Random registration events of a few dossiers, as registration would publish them."""

    def __init__(self, rng, dossier_ids=DOSSIERS):
        self.rng = rng
        self.dossier_ids = dossier_ids
        self.dossiers = {dossier_id: _snapshot(id=dossier_id, consents={KIND_EN_GEZIN: None, LOP: None})
                         for dossier_id in dossier_ids}
        self.sequences = dict.fromkeys(dossier_ids, 0)
        self.counter = 0

    def event(self):
        rng = self.rng
        dossier_id = rng.choice(self.dossier_ids)
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


def worlds_in(tmp_path):
    """(one by one, batched): two Worlds on fresh SQLite databases."""
    from sqlalchemy.orm import sessionmaker

    from consent_export.models import metadata
    from loket.db import create_db_engine

    worlds = []
    for name in ("one_by_one", "batched"):
        engine = create_db_engine(f"sqlite:///{tmp_path / name}.sqlite")
        metadata.create_all(engine)
        worlds.append(World(sessionmaker(engine, expire_on_commit=False).begin))
    return worlds


@pytest.mark.parametrize("seed", range(12))
def test_a_batch_ends_as_its_events_one_by_one(tmp_path, seed):
    worlds = worlds_in(tmp_path)
    one_by_one, batched = worlds
    rng = random.Random(seed)
    registration = Registration(rng)
    kinds, statuses, batched_types = set(), set(), set()
    for step in range(16):
        events = [registration.event() for _ in range(rng.randrange(1, 15))]
        if len(events) > 1:
            batched_types.update(_what(event) for event in events)
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
            requests = {rng.choice(DOSSIERS): f"req-{step}"}
            assert batched.erase(requests, batched=True) == one_by_one.erase(requests, batched=False)
        assert one_by_one.tables() == batched.tables(), f"step {step}"
    # The mix did exercise what a batch must get right (every seed here reaches deletes and
    # updates too, but one: tests of each rule one by one are in test_outbound.py).
    assert "push" in kinds and {"delivered", "superseded"} <= statuses
    assert max(row["attempts"] for row in one_by_one.tables()["transfer_log"]) > 1
    assert {"consent_withdrawn", "restriction", "dossier_erased"} <= batched_types


def _what(event):
    """What a Registration event does: its type, or "restriction" for a change of restriction."""
    if event["data"].get("changed_sections") == ["restriction"]:
        return "restriction"
    return event["type"].split(".", 1)[1]


@pytest.mark.parametrize("seed", range(12))
def test_dossiers_erased_at_once_end_as_erased_one_by_one(tmp_path, seed):
    """Whatever each dossier's queues hold (pushes waiting, retried, parked, in flight, deletes not
    yet accepted), erasure.erase_dossiers of several dossiers ends as erase_dossier of each in id
    order, rows erased included; with a dossier never seen, and dossiers erased before."""
    worlds = worlds_in(tmp_path)
    one_by_one, batched = worlds
    rng = random.Random(seed)
    dossier_ids = tuple(f"dos-{n}" for n in range(6))
    registration = Registration(rng, dossier_ids)
    for rounds in range(3):
        for step in range(4):
            events = [registration.event() for _ in range(rng.randrange(1, 15))]
            for world in worlds:
                world.apply(events, batched=False)
            answers = {row["idempotency_key"]: rng.choice(OUTCOMES) for row in one_by_one.tables()["transfers"]}
            now = QueueDriver.t0 + 60 * (4 * rounds + step)
            for world in worlds:
                world.deliver(answers.get, now, batched=False)
        # Some heads in flight while their dossiers are erased; their outcomes come in afterwards.
        limit = rng.randrange(0, 3)
        in_flight = [[(transfer_id, transfer.idempotency_key) for partner in PARTNERS
                      for transfer_id, transfer in world.queue.claim(partner, now=now, limit=limit)]
                     for world in worlds]
        assert [key for _, key in in_flight[0]] == [key for _, key in in_flight[1]]
        requests = {dossier_id: f"req-{rounds}-{dossier_id}"
                    for dossier_id in rng.sample(dossier_ids + ("dos-unknown",), rng.randrange(2, 6))}

        assert batched.erase(requests, batched=True) == one_by_one.erase(requests, batched=False)
        assert one_by_one.tables(ids=False) == batched.tables(ids=False), f"round {rounds}"
        for world, flights in zip(worlds, in_flight):
            for transfer_id, _ in flights:
                world.queue.record(transfer_id, Delivery(204, ""), now=now)
        assert one_by_one.tables(ids=False) == batched.tables(ids=False), f"round {rounds}, after the flights"


@pytest.fixture
def store_url(database_url):
    """The tests on one `queue` below run on SQLite and on PostgreSQL (the property tests above
    make their own SQLite databases)."""
    return database_url


def _event(event_type, aggregate_id, sequence, **data):
    event = _envelope(event_type, copy.deepcopy(data), aggregate_id)
    event["id"], event["sequence"] = f"{aggregate_id}-{sequence}-{event_type.split('.')[1]}", sequence
    return event


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one_by_one"])
def test_later_events_of_a_batch_see_what_the_earlier_ones_queued(queue, batched):
    """One batch where a later event of a dossier depends on what an earlier one of the batch
    queued: a delete supersedes pushes and updates of the batch and of the table; only the first
    delete of a queue goes, and only when something was attempted since the last delete; a stale
    dossier_erased, a restriction, a dossier erased by request before. The batch ends exactly as
    the same events one by one."""
    given = {KIND_EN_GEZIN: _consent(record_id="con-kg"), LOP: _consent(record_id="con-lop")}
    withdrawn = {**given, KIND_EN_GEZIN: _consent(given=False, record_id="con-kg-w")}
    regiven = {**given, KIND_EN_GEZIN: _consent(record_id="con-kg-2")}
    both = _snapshot(id="dos-1", consents=given)
    moved = _snapshot(id="dos-1", consents=given)
    moved["applicant"]["email"] = "an@example.net"  # sent to both partners
    restricted = _snapshot(id="dos-1", consents=regiven, restricted=True)
    restricted["applicant"]["email"] = "an@example.net"
    before = [
        _event("registration.consent_given", "dos-1", 1, dossier=both, partner=KIND_EN_GEZIN),
        _event("registration.consent_given", "dos-2", 1, dossier=_snapshot(id="dos-2", consents=given),
               partner=KIND_EN_GEZIN),
        _event("registration.consent_given", "dos-3", 1, dossier=_snapshot(id="dos-3", consents=given),
               partner=KIND_EN_GEZIN),
    ]
    batch = [
        _event("registration.dossier_updated", "dos-1", 2, dossier=moved, changed_sections=["contact"]),
        _event("registration.consent_withdrawn", "dos-2", 2,
               dossier=_snapshot(id="dos-2", consents=withdrawn), partner=KIND_EN_GEZIN),
        _event("registration.consent_withdrawn", "dos-1", 3,
               dossier={**moved, "consents": withdrawn}, partner=KIND_EN_GEZIN),
        _event("registration.dossier_updated", "dos-3", 2, dossier=_snapshot(id="dos-3", consents={}),
               changed_sections=["contact"]),
        _event("registration.consent_given", "dos-1", 4, dossier={**moved, "consents": regiven},
               partner=KIND_EN_GEZIN),
        _event("registration.dossier_updated", "dos-1", 5, dossier=restricted, changed_sections=["restriction"]),
        _event("registration.dossier_erased", "dos-1", 5, dossier_id="dos-1"),  # stale
        _event("registration.dossier_erased", "dos-1", 6, dossier_id="dos-1"),
        _event("registration.dossier_erased", "dos-2", 3, dossier_id="dos-2"),
    ]
    world = World(queue.transaction)
    assert world.apply(before, batched=False) == [
        (partner, PUSH, f"{dossier_id}-1-consent_given:{partner}")
        for dossier_id in ("dos-1", "dos-2", "dos-3") for partner in (KIND_EN_GEZIN, LOP)]
    queue.deliver_all(KIND_EN_GEZIN)  # LOP's pushes wait, never attempted
    world.erase({"dos-3": "req-3"}, batched=True)

    assert world.apply(batch, batched=batched) == [
        (KIND_EN_GEZIN, UPDATE, "dos-1-2-dossier_updated:kind_en_gezin"),
        (LOP, UPDATE, "dos-1-2-dossier_updated:lop"),
        (KIND_EN_GEZIN, DELETE, "dos-2-2-consent_withdrawn:kind_en_gezin"),
        (KIND_EN_GEZIN, DELETE, "dos-1-3-consent_withdrawn:kind_en_gezin"),
        (KIND_EN_GEZIN, PUSH, "dos-1-4-consent_given:kind_en_gezin"),
    ]
    tables = world.tables()
    assert [(row["idempotency_key"], row["status"], row["payload"] is None) for row in tables["transfers"]] == [
        ("dos-1-1-consent_given:kind_en_gezin", DELIVERED, True),
        ("dos-1-1-consent_given:lop", SUPERSEDED, True),
        ("dos-2-1-consent_given:kind_en_gezin", DELIVERED, True),
        ("dos-2-1-consent_given:lop", SUPERSEDED, True),
        ("req-3:kind_en_gezin", QUEUED, False),
        ("dos-1-2-dossier_updated:kind_en_gezin", SUPERSEDED, True),
        ("dos-1-2-dossier_updated:lop", SUPERSEDED, True),
        ("dos-2-2-consent_withdrawn:kind_en_gezin", QUEUED, False),
        ("dos-1-3-consent_withdrawn:kind_en_gezin", QUEUED, False),
        ("dos-1-4-consent_given:kind_en_gezin", SUPERSEDED, True),
    ]
    assert {row["idempotency_key"]: row["status"] for row in tables["transfer_log"]} == {
        row["idempotency_key"]: row["status"] for row in tables["transfers"]} | {
        "dos-3-1-consent_given:kind_en_gezin": DELIVERED, "dos-3-1-consent_given:lop": SUPERSEDED}
    assert tables["exported"] == []
    assert [(row["dossier_id"], row["last_sequence"], row["restricted"]) for row in tables["dossier_states"]] == [
        ("dos-1", 6, True), ("dos-2", 3, False)]
    assert [(transfer.dossier_id, transfer.kind) for _, transfer in queue.claim(KIND_EN_GEZIN)] == [
        ("dos-3", DELETE), ("dos-2", DELETE), ("dos-1", DELETE)]
    assert queue.claim(LOP) == []
