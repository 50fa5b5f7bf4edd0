import copy
import uuid

import numpy
import pytest

SNAPSHOT = {
    "id": "dos-1",
    "registered_at": "2020-01-06T09:00:00+00:00",
    "last_activity_at": "2020-01-06T09:00:00+00:00",
    "registered_by": {"role": "parent", "actor_id": None},
    "preferred_language": "nl",
    "restricted": False,
    "applicant": {
        "last_name": "Peeters", "first_name": "An", "birth_date": "1990-04-01", "gender": "f",
        "email": "an@example.org", "phone": "+32470000000",
        "address": {"street": "Kerkstraat", "house_number": "1", "postal_code": "1070",
                    "municipality": "Anderlecht"},
    },
    "partner": None,
    "children": [{"id": "chi-1", "last_name": "Peeters", "first_name": None, "birth_date": "2020-03-15",
                  "gender": None, "foster_child": False, "sibling_facility_ids": []}],
    "requests": [{"id": "req-1", "child_id": "chi-1", "desired_start_date": "2020-11-02",
                  "care_plan": {"mon": "full", "tue": "morning"}, "facility_ids": ["fac-0001"],
                  "status": "active", "urgent": False, "enrolled_facility_id": None,
                  "registered_at": "2020-01-06T09:00:00+00:00"}],
    "priority": {"dutch_proficiency": False, "dutch_proof_declared": False, "single_parent": False,
                 "income_below_threshold": False, "health_or_care_situation": False,
                 "no_secondary_diploma": False, "work_or_training_need": False,
                 "work_regime_fraction": 0.0, "integration_course_complete": False},
    "consents": {"kind_en_gezin": None, "lop": None},
}


@pytest.fixture
def snapshot():
    """A dossier SNAPSHOT as events.md defines it; `statuses` sets the requests' statuses in order."""

    def build(last_activity_at="2020-01-06T09:00:00+00:00", statuses=("active",), **changes):
        dossier = copy.deepcopy(SNAPSHOT)
        dossier["last_activity_at"] = last_activity_at
        template = dossier["requests"][0]
        dossier["requests"] = [dict(template, id=f"req-{index + 1}", status=status)
                               for index, status in enumerate(statuses)]
        dossier.update(copy.deepcopy(changes))
        return dossier

    return build


@pytest.fixture
def envelope():
    def build(event_type, sequence, occurred_at, data, aggregate_id="dos-1"):
        return {"id": str(uuid.uuid4()), "type": event_type, "version": 1, "occurred_at": occurred_at,
                "correlation_id": "corr-1", "producer": "registration", "aggregate_id": aggregate_id,
                "sequence": sequence, "data": data}

    return build


def recomputable(grids, hidden) -> set:
    """The hidden keys whose value the published numbers fix through the tables' line equations.

    Each line says: its cells sum to its total. A hidden key is fixed exactly when every solution of
    the homogeneous system (the null space) is zero in its coordinate.
    """
    unknown = sorted(hidden, key=repr)
    column = {key: index for index, key in enumerate(unknown)}
    equations = []
    for grid in grids:
        for line in grid.lines():
            coefficients = numpy.zeros(len(unknown))
            for position in line[:-1]:
                if grid.keys[position] in column:
                    coefficients[column[grid.keys[position]]] += 1
            if grid.keys[line[-1]] in column:
                coefficients[column[grid.keys[line[-1]]]] -= 1
            if coefficients.any():
                equations.append(coefficients)
    if not equations:
        return set()
    _, singular, vt = numpy.linalg.svd(numpy.array(equations))
    null_space = vt[int((singular > 1e-9).sum()):]
    return {key for key, index in column.items() if numpy.all(numpy.abs(null_space[:, index]) < 1e-9)}


@pytest.fixture(scope="session")
def recomputable_keys():
    return recomputable
