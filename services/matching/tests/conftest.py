"""Builders for the matching tests: a plausible facility, place and candidate, overridable per test."""
from datetime import date, datetime, timezone

import pytest

from matching.model import Candidate, Facility, FreePlace, Priority
from matching.rulesets import load_rule_sets

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

