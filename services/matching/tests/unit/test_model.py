from datetime import date, datetime, timezone

import pytest

from matching.model import Occupancy, Priority, candidate_from_snapshot


def _snapshot():
    return {
        "id": "d-7", "registered_at": "2026-01-10T09:00:00Z", "last_activity_at": "2026-01-10T09:00:00Z",
        "registered_by": {"role": "parent", "actor_id": None}, "preferred_language": "nl", "restricted": False,
        "applicant": {"last_name": "Peeters", "first_name": "An", "birth_date": "1990-02-03", "gender": "f",
                      "email": "an@example.org", "phone": None,
                      "address": {"street": "Dansaertstraat", "house_number": "1", "postal_code": "1000",
                                  "municipality": "Brussel"}},
        "partner": None,
        "children": [
            {"id": "c-1", "last_name": "Peeters", "first_name": "Mila", "birth_date": "2025-06-15", "gender": "f",
             "foster_child": False, "sibling_facility_ids": []},
            {"id": "c-2", "last_name": "Peeters", "first_name": None, "birth_date": "2026-11-02", "gender": None,
             "foster_child": True, "sibling_facility_ids": ["fac-0003"]},
        ],
        "requests": [
            {"id": "r-1", "child_id": "c-1", "desired_start_date": "2026-09-01", "care_plan": {"mon": "full"},
             "facility_ids": ["fac-0001"], "status": "enrolled", "urgent": False, "enrolled_facility_id": "fac-0001",
             "registered_at": "2026-01-10T09:00:00Z"},
            {"id": "r-2", "child_id": "c-2", "desired_start_date": "2027-05-03",
             "care_plan": {"tue": "morning", "thu": "full"}, "facility_ids": ["fac-0003", "fac-0009"],
             "status": "active", "urgent": True, "enrolled_facility_id": None,
             "registered_at": "2026-03-01T14:30:00+00:00"},
        ],
        "priority": {"dutch_proficiency": True, "dutch_proof_declared": False, "single_parent": True,
                     "income_below_threshold": False, "health_or_care_situation": True,
                     "no_secondary_diploma": False, "work_or_training_need": True, "work_regime_fraction": 0.9,
                     "integration_course_complete": False},
        "consents": {"kind_en_gezin": None, "lop": None},
    }


def test_candidate_from_snapshot_maps_the_request_its_child_and_the_family_flags():
    dossier = _snapshot()
    candidate = candidate_from_snapshot(dossier, dossier["requests"][1])
    assert candidate.request_id == "r-2" and candidate.dossier_id == "d-7"
    assert candidate.child_birth_date == date(2026, 11, 2)
    assert candidate.desired_start_date == date(2027, 5, 3)
    assert dict(candidate.care_plan) == {"tue": "morning", "thu": "full"}
    assert candidate.facility_ids == ("fac-0003", "fac-0009")
    assert candidate.urgent and candidate.status == "active"
    assert candidate.registered_at == datetime(2026, 3, 1, 14, 30, tzinfo=timezone.utc)
    assert candidate.foster_child and candidate.sibling_facility_ids == {"fac-0003"}
    assert candidate.priority == Priority(dutch_proficiency=True, single_parent=True, health_or_care_situation=True,
                                          work_or_training_need=True, work_regime_fraction=0.9)


def test_candidate_from_snapshot_accepts_schema_loaded_dates():
    dossier = _snapshot()
    request = dict(dossier["requests"][0], desired_start_date=date(2026, 9, 1),
                   registered_at=datetime(2026, 1, 10, 9, tzinfo=timezone.utc))
    dossier["children"][0]["birth_date"] = date(2025, 6, 15)
    candidate = candidate_from_snapshot(dossier, request)
    assert candidate.status == "enrolled" and candidate.child_birth_date == date(2025, 6, 15)


def test_candidate_from_snapshot_refuses_a_request_for_an_unknown_child():
    dossier = _snapshot()
    with pytest.raises(ValueError, match="child c-9 is not in dossier d-7"):
        candidate_from_snapshot(dossier, dict(dossier["requests"][0], child_id="c-9"))


def test_candidate_from_snapshot_refuses_a_timestamp_without_timezone():
    dossier = _snapshot()
    with pytest.raises(ValueError, match="without a timezone"):
        candidate_from_snapshot(dossier, dict(dossier["requests"][0], registered_at="2026-01-10T09:00:00"))


@pytest.mark.parametrize("overrides, problem", [
    ({"licensed_capacity": 0}, "licensed_capacity"),
    ({"opening_days": {"mon", "sat"}}, "opening_days"),
    ({"min_age_months": 18, "max_age_months": 12}, "age range"),
    ({"dutch_share": 0}, "dutch_share"),
    ({"answer_window_days": 7}, "answer_window_days"),
    ({"extra_rules": ["friends_of_the_director"]}, "unknown extra_rules"),
    ({"extra_rules": ["sibling", "sibling"]}, "repeat"),
    ({"kg2024_group_order": ["foster_child", "sibling_attending"]}, "kg2024_group_order"),
])
def test_facility_refuses_impossible_configuration(make_facility, overrides, problem):
    with pytest.raises(ValueError, match=f"facility fac-0001: .*{problem}"):
        make_facility(**overrides)


def test_free_place_refuses_unknown_days_and_parts(make_place):
    with pytest.raises(ValueError, match="unknown weekday 'sat'"):
        make_place(weekdays={"sat": "full"})
    with pytest.raises(ValueError, match="unknown day part 'evening'"):
        make_place(weekdays={"mon": "evening"})
    with pytest.raises(ValueError, match="at least one weekday"):
        make_place(weekdays={})


def test_candidate_refuses_more_than_five_facilities(make_candidate):
    with pytest.raises(ValueError, match="at most 5 facilities"):
        make_candidate(facility_ids=[f"fac-{i}" for i in range(6)])


def test_occupancy_counts_cannot_exceed_enrolled():
    with pytest.raises(ValueError, match="enrolled_dutch_priority cannot exceed enrolled"):
        Occupancy(enrolled=2, enrolled_dutch_priority=3, enrolled_vulnerable=0)
    with pytest.raises(ValueError, match="must not be negative"):
        Occupancy(enrolled=2, enrolled_dutch_priority=0, enrolled_vulnerable=-1)
