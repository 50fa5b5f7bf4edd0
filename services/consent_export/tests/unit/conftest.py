import copy
import random
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from consent_export import outbound
from consent_export.erasure import pseudonym
from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.models import QueuedTransfer
from consent_export.retry import RetryPolicy
from consent_export.transport import Delivery


def _snapshot(**changes):
    snapshot = {
        "id": "dos-1",
        "registered_at": "2025-01-02T09:00:00+00:00",
        "last_activity_at": "2025-01-02T09:00:00+00:00",
        "registered_by": {"role": "parent", "actor_id": None},
        "preferred_language": "nl",
        "restricted": False,
        "applicant": {
            "last_name": "Peeters", "first_name": "An", "birth_date": "1990-04-01", "gender": "f",
            "email": "an@example.org", "phone": "+32470000000",
            "address": {"street": "Kerkstraat", "house_number": "1", "postal_code": "1000",
                        "municipality": "Brussel"},
        },
        "partner": {"last_name": "Janssens", "first_name": "Bart", "birth_date": "1989-02-03",
                    "gender": "m", "email": "bart@example.org", "phone": "+32470000001"},
        "children": [{"id": "chi-1", "last_name": "Janssens", "first_name": None,
                      "birth_date": "2025-09-01", "gender": None, "foster_child": False,
                      "sibling_facility_ids": []}],
        "requests": [{"id": "req-1", "child_id": "chi-1", "desired_start_date": "2026-03-01",
                      "care_plan": {"mon": "full"}, "facility_ids": ["fac-0001"],
                      "status": "active", "urgent": False, "enrolled_facility_id": None,
                      "registered_at": "2025-01-02T09:00:00+00:00"}],
        "priority": {"dutch_proficiency": True, "dutch_proof_declared": True,
                     "single_parent": False, "income_below_threshold": False,
                     "health_or_care_situation": False, "no_secondary_diploma": False,
                     "work_or_training_need": True, "work_regime_fraction": 1.0,
                     "integration_course_complete": False},
        "consents": {"kind_en_gezin": None, "lop": None},
    }
    for key, value in changes.items():
        snapshot[key] = value
    return copy.deepcopy(snapshot)


def _consent(given=True, record_id="con-1"):
    return {"id": record_id, "given": given, "at": "2025-01-02T09:00:00+00:00",
            "policy_version": "2024-1", "method": "web"}


def _envelope(event_type, data, dossier_id="dos-1"):
    return {"id": str(uuid.uuid4()), "type": event_type, "version": 1,
            "occurred_at": "2025-01-03T10:00:00+00:00", "correlation_id": "cor-1",
            "producer": event_type.split(".")[0], "aggregate_id": dossier_id, "sequence": 1,
            "data": data}


@pytest.fixture(scope="session")
def snapshot():
    """Factory: a contract-shaped SNAPSHOT without consents; keyword arguments replace sections."""
    return _snapshot


@pytest.fixture(scope="session")
def consent():
    """Factory: a CONSENT record."""
    return _consent


@pytest.fixture(scope="session")
def envelope():
    """Factory: an event envelope around `data`."""
    return _envelope


@pytest.fixture
def store_url(sqlite_url):
    """The database of the unit tests: SQLite. A module overrides it with loket.testing's
    `database_url` to run on PostgreSQL too."""
    return sqlite_url


@pytest.fixture
def transaction(store_url):
    """Factory of transactions on a fresh database with the service's tables:
    `with transaction() as session:` commits at the end of the block."""
    from sqlalchemy.orm import sessionmaker

    from consent_export.models import metadata
    from loket.db import create_db_engine

    engine = create_db_engine(store_url)
    metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    yield factory.begin
    engine.dispose()


class QueueDriver:
    """The sender's side of the outbound queue, driven by hand: claim, record an outcome, look."""

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the service clock
    t0 = 1_000_000.0  # wall-clock epoch seconds, as the sender uses for delivery times
    lease = 30.0
    policy = RetryPolicy(max_attempts=3, base=1.0, cap=4.0)
    pseudonym_key = "test-key"

    def __init__(self, transaction):
        self.transaction = transaction

    def pseudonym(self, dossier_id):
        return pseudonym(self.pseudonym_key, dossier_id)

    def claim(self, partner=KIND_EN_GEZIN, now=None, owner="instance-a", limit=10):
        with self.transaction() as session:
            return outbound.claim_heads(session, partner, owner, now or self.t0, self.lease, limit)

    def record(self, transfer_id, outcome, now=None, owner="instance-a"):
        with self.transaction() as session:
            return outbound.record_outcome(session, transfer_id, owner, outcome, now=now or self.t0,
                                           logged_at=self.now, policy=self.policy,
                                           rng=random.Random(1))

    def rows(self, model=QueuedTransfer):
        with self.transaction() as session:
            return session.scalars(select(model).order_by(*model.__table__.primary_key.columns)).all()

    def deliver_all(self, partner=KIND_EN_GEZIN, now=None):
        """Claim and deliver until nothing is sendable; returns the kinds sent, in order."""
        kinds = []
        while claimed := self.claim(partner, now):
            for transfer_id, transfer in claimed:
                self.record(transfer_id, Delivery(201, "ok"), now)
                kinds.append(transfer.kind)
        return kinds


class DossierEvents:
    """Feeds one dossier's registration events, with increasing sequence numbers, to the queue.
    Each method returns [(partner, kind)] of the transfers queued."""

    def __init__(self, queue, dossier_id):
        self.queue = queue
        self.dossier_id = dossier_id
        self.dossier = _snapshot(id=dossier_id, consents={KIND_EN_GEZIN: None, LOP: None})
        self.sequence = 0

    def give(self, partner):
        self.dossier["consents"][partner] = _consent(record_id=f"con-{partner}")
        return self.send("registration.consent_given", partner=partner)

    def withdraw(self, partner):
        self.dossier["consents"][partner] = _consent(given=False, record_id=f"con-{partner}-w")
        return self.send("registration.consent_withdrawn", partner=partner)

    def change_phone(self, phone):
        self.dossier["applicant"]["phone"] = phone
        return self.send("registration.dossier_updated", changed_sections=["contact"])

    def restrict(self, restricted):
        self.dossier["restricted"] = restricted
        return self.send("registration.dossier_updated", changed_sections=["restriction"])

    def send(self, event_type, sequence=None, **data):
        self.sequence = sequence if sequence is not None else self.sequence + 1
        event = _envelope(event_type, {"dossier": self.dossier, **data}, self.dossier_id)
        event["sequence"] = self.sequence
        with self.queue.transaction() as session:
            queued = outbound.apply_event(session, event, self.queue.now, self.queue.pseudonym)
        return [(transfer.partner, transfer.kind) for transfer in queued]


@pytest.fixture
def queue(transaction):
    return QueueDriver(transaction)


@pytest.fixture
def dossier_events(queue):
    """Factory: DossierEvents for a dossier id."""
    return lambda dossier_id="dos-1": DossierEvents(queue, dossier_id)


@pytest.fixture
def dossier(dossier_events):
    return dossier_events("dos-1")
