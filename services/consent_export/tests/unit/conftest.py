import copy
import uuid

import pytest


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
