import copy
import json
import warnings
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Session

from loket.contracts.registration import SCHEMAS
from loket.crypto import Keyring
from registration import dossiers, schemas
from registration.models import metadata

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
PARENT = {"role": "parent", "actor_id": "account-1"}
HELPDESK = {"role": "helpdesk", "actor_id": "staff-7"}
HEALTH_TEXT = "Our eldest has a motor disability and needs daily care"

REGISTRATION = {
    "preferred_language": "nl",
    "applicant": {
        "last_name": "Peeters", "first_name": "An", "birth_date": "1990-01-02", "gender": "f",
        "email": "an.peeters@example.org", "phone": "+32 470 12 34 56",
        "address": {"street": "Hoogstraat", "house_number": "12B", "postal_code": "1000",
                    "municipality": "Brussel"},
    },
    "partner": {"last_name": "Janssens", "first_name": "Bart", "birth_date": "1988-06-30",
                "gender": "m", "email": "bart@example.org"},
    "children": [{
        "last_name": "Janssens", "first_name": "Mila", "birth_date": "2025-01-15", "gender": "f",
        "request": {"desired_start_date": "2025-09-01",
                    "care_plan": {"mon": "full", "tue": "full", "thu": "morning"},
                    "facility_ids": ["fac-0001", "fac-0002"]},
    }],
    "situation": {
        "family": {"single_parent": False},
        "financial": {"income_below_threshold": True, "income_band": "band-2"},
        "work": {"applicant": {"regime": "4/5", "employer": "Stad Brussel"},
                 "partner": {"regime": "none", "training": True},
                 "integration_course_complete": False},
        "education": {"applicant": "higher", "partner": "secondary"},
        "health": {"care_situation": True, "detail": HEALTH_TEXT},
        "dutch": {"proficiency": True, "proof_declared": True},
    },
    "consents": {"kind_en_gezin": {"given": True, "policy_version": "2024-05",
                                   "method": "web"}},
    "registered_by": {"role": "parent"},
}


def registration(**changes):
    """A valid registration payload, with top-level keys replaced."""
    payload = copy.deepcopy(REGISTRATION)
    payload.update(copy.deepcopy(changes))
    return payload


class RecordedEvents:
    """Stands in for the outbox recorder: keeps each call and enforces what the outbox will
    (contract-valid, JSON-serialisable data, strictly increasing sequence per dossier)."""

    def __init__(self):
        self.calls = []

    def record(self, session, event_type, aggregate_id, sequence, data):
        assert isinstance(session, Session)
        errors = SCHEMAS[(event_type, 1)]().validate(data)
        assert errors == {}, errors
        json.dumps(data)
        previous = [c["sequence"] for c in self.calls if c["aggregate_id"] == aggregate_id]
        assert all(sequence > p for p in previous), (sequence, previous)
        self.calls.append({"type": event_type, "aggregate_id": aggregate_id,
                           "sequence": sequence, "data": data})

    def record_many(self, session, events):
        for event_type, aggregate_id, sequence, data in events:
            self.record(session, event_type, aggregate_id, sequence, data)

    @property
    def last(self):
        return self.calls[-1]

    def types(self):
        return [c["type"] for c in self.calls]


def sqlite_engine():
    """In-memory SQLite enforcing foreign keys as PostgreSQL does, so delete order bugs show."""
    engine = create_engine("sqlite://")
    event.listen(engine, "connect",
                 lambda connection, _record: connection.execute("PRAGMA foreign_keys=ON"))
    metadata.create_all(engine)
    return engine


@pytest.fixture
def session():
    engine = sqlite_engine()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)
        with Session(engine) as session:
            yield session
    engine.dispose()


@pytest.fixture
def key():
    return Keyring.generate_key()


@pytest.fixture
def keyring(key):
    return Keyring([key])


@pytest.fixture
def events():
    return RecordedEvents()


@pytest.fixture
def register(session, events, keyring):
    """Register a dossier (valid payload with `changes`) and return its snapshot."""

    def _register(actor=PARENT, **changes):
        data = schemas.validate(schemas.RegisterDossierInput, registration(**changes), TODAY)
        result = dossiers.register_dossier(session, NOW, data, actor, events, keyring)
        session.commit()
        return result["dossier"]

    return _register


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def today():
    return TODAY


@pytest.fixture
def parent():
    return dict(PARENT)


@pytest.fixture
def helpdesk():
    return dict(HELPDESK)


@pytest.fixture
def health_text():
    return HEALTH_TEXT


@pytest.fixture
def payload():
    """Factory of valid registration payloads: payload(partner=None, ...)."""
    return registration


@pytest.fixture
def state(session):
    """state() -> every row of every table, for "nothing changed" comparisons. Querying flushes
    pending changes, so an in-memory change a refused call left behind shows up too."""

    def _state():
        return {table.name: sorted(map(repr, session.execute(select(table)).all()))
                for table in metadata.sorted_tables}

    return _state
