"""Builders for the matching tests: a plausible facility, place and candidate, overridable per test."""
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from matching.model import Candidate, Facility, FreePlace, Priority
from matching.rulesets import load_rule_sets

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
WEEK = {"mon": "full", "tue": "full", "wed": "full", "thu": "full", "fri": "full"}


@pytest.fixture(scope="session")
def rule_sets():
    return load_rule_sets()


@pytest.fixture(scope="session")
def kg2013(rule_sets):
    return rule_sets["kg-2013"]


@pytest.fixture(scope="session")
def kg2024(rule_sets):
    return rule_sets["kg-2024"]


@pytest.fixture(scope="session")
def make_facility():
    def make(**overrides) -> Facility:
        values = dict(id="fac-0001", name="De Speelboom", municipality="Brussel", licensed_capacity=20,
                      opening_days=set(WEEK), min_age_months=0, max_age_months=36, income_related_tariff=True,
                      dutch_share=0.55, answer_window_days=14)
        values.update(overrides)
        return Facility(**values)
    return make


@pytest.fixture(scope="session")
def make_place():
    def make(**overrides) -> FreePlace:
        values = dict(facility_id="fac-0001", start_date=date(2026, 9, 1), weekdays=WEEK,
                      min_age_months=0, max_age_months=36)
        values.update(overrides)
        return FreePlace(**values)
    return make


@pytest.fixture(scope="session")
def make_candidate():
    """make("r-1", dutch_proficiency=True, ...): priority flags go into Priority, other keywords into Candidate."""
    priority_fields = set(Priority.__dataclass_fields__)

    def make(request_id: str = "r-1", **overrides) -> Candidate:
        flags = {k: overrides.pop(k) for k in list(overrides) if k in priority_fields}
        values = dict(request_id=request_id, dossier_id=f"d-{request_id}", child_birth_date=date(2025, 6, 15),
                      desired_start_date=date(2026, 9, 1), care_plan={"mon": "full", "tue": "full"},
                      facility_ids=("fac-0001",), urgent=False, status="active",
                      registered_at=datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc), priority=Priority(**flags))
        values.update(overrides)
        return Candidate(**values)
    return make


@pytest.fixture(scope="session")
def dutch():
    return dict(dutch_proficiency=True, dutch_proof_declared=True)


@pytest.fixture(scope="session")
def vulnerable():
    """Two characteristics, one of them among the first three: the smallest vulnerable family."""
    return dict(income_below_threshold=True, single_parent=True)


@pytest.fixture(scope="session")
def ids():
    """The request ids of a ranking, in order."""
    return lambda ranking: [c.request_id for c in ranking.candidates]



# -- the service's tables (unit tests of the modules that read and write them) ----------------------
@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A SQLite file migrated by Alembic once per session; each test gets a copy (a migration costs more
    than most of these tests)."""
    from loket.migrations import upgrade

    path = tmp_path_factory.mktemp("migrated") / "matching.sqlite"
    upgrade(ALEMBIC_INI, f"sqlite:///{path}")
    return path


@pytest.fixture
def db(request, tmp_path, migrated_database):
    """The service's tables on a SQLite file configured as loket.db does: a DatabaseAccess. On PostgreSQL
    too, for a test marked `@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)`."""
    import shutil

    from sqlalchemy.orm import Session, sessionmaker

    from loket.db import DatabaseAccess, create_db_engine
    from loket.migrations import upgrade

    if getattr(request, "param", "sqlite") == "postgresql":
        url = request.getfixturevalue("postgres_url")
        upgrade(ALEMBIC_INI, url)
    else:
        path = tmp_path / "matching.sqlite"
        shutil.copy(migrated_database, path)
        url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    yield DatabaseAccess(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))
    engine.dispose()


@pytest.fixture
def recorder():
    """The outbox's recorder, as a worker of the matching service gets it (events validated by their contract)."""
    from loket.outbox import EventRecorder
    return EventRecorder("matching", correlation_id="corr-test")


@pytest.fixture(scope="session")
def registration_event():
    """registration_event(type, candidates, sequence, dossier_id=..., restricted=..., **data) -> a contract-valid
    registration event whose snapshot holds the candidates' requests (matching.samples)."""
    from loket.contracts import envelope
    from matching.samples import sample_snapshot

    def make(event_type, candidates, sequence, dossier_id=None, restricted=False, enrolled=None, **data):
        dossier_id = dossier_id or candidates[0].dossier_id
        snapshot = sample_snapshot(dossier_id, candidates, restricted=restricted, enrolled_facility_ids=enrolled)
        return envelope(f"registration.{event_type}", {"dossier": snapshot, **data}, aggregate_id=dossier_id,
                        sequence=sequence, producer="registration")
    return make


@pytest.fixture
def offer_to(db, recorder):
    """offer_to(facility, candidate) -> an open offer (position 1, made by m-1) of a fresh place of the
    facility, starting on the candidate's desired day, to the candidate, as the service makes it."""
    from matching import offers
    from matching.models import FreePlaceRow
    from matching.ranking import RankedCandidate

    def make(facility, candidate, now=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)):
        with db.transaction() as session:
            place = FreePlaceRow(place_id=f"place-{candidate.request_id}", facility_id=facility.id,
                                 start_date=candidate.desired_start_date, weekdays={"mon": "full", "tue": "full"},
                                 min_age_months=0, max_age_months=36, status="open", declared_at=now,
                                 declared_by="m-1")
            session.add(place)
            session.flush()
            ranked = RankedCandidate(candidate.request_id, candidate.dossier_id, 1, ["Fits"], dutch_priority=True)
            return offers.make(session, now, offers.new_offer_id(), facility, place, ranked, "kg-2013", "m-1",
                               recorder)
    return make
