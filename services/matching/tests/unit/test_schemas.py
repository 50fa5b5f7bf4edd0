"""Input validation at the edge: field-level messages a facility manager or the helpdesk can act on."""
from datetime import date

import pytest

from loket.errors import InvalidInput
from matching.demo import demo_facility
from matching.schemas import DepartureInput, FacilityInput, FreePlaceInput, validate

TODAY = date(2026, 3, 2)


def facility_errors(rule_sets, **changes):
    with pytest.raises(InvalidInput) as refused:
        validate(FacilityInput(rule_sets), {**demo_facility(1), **changes})
    return refused.value.errors


def test_a_valid_facility_gets_the_defaults(rule_sets):
    payload = {key: value for key, value in demo_facility(1).items()
               if key not in ("extra_rules", "rule_set", "id")}
    data = validate(FacilityInput(rule_sets), payload)
    assert data["rule_set"] == "kg-2013" and data["extra_rules"] == [] and data["staff_dossier_ids"] == []
    assert data["kg2024_group_order"] is None and "id" not in data


@pytest.mark.parametrize("rule_set", ["kg-2013", "kg-2024"])
def test_the_dutch_share_is_at_most_55_percent_of_the_licensed_places(rule_sets, rule_set):
    assert validate(FacilityInput(rule_sets), {**demo_facility(1), "dutch_share": 0.55, "rule_set": rule_set})
    assert facility_errors(rule_sets, dutch_share=0.551, rule_set=rule_set) == {"dutch_share": [
        f"The Dutch-language share is at most 55 % of the licensed places (rule set {rule_set})."]}
    assert "dutch_share" in facility_errors(rule_sets, dutch_share=0)


def test_every_field_error_shows_at_once(rule_sets):
    errors = facility_errors(rule_sets, rule_set="kg-1999", answer_window_days=12, min_age_months=30,
                             max_age_months=12, opening_days=["mon", "sat"], surprise=True)
    assert errors == {
        "rule_set": ["Unknown rule set; known: kg-2013, kg-2024."],
        "answer_window_days": ["The answer window is one of 10, 14 days."],
        "max_age_months": ["The oldest age cannot be below the youngest."],
        "opening_days": {1: ["Must be one of: mon, tue, wed, thu, fri."]},
        "surprise": ["Unknown field."],
    }


def test_facility_rules_and_group_order_are_checked(rule_sets):
    assert facility_errors(rule_sets, extra_rules=["sibling", "sibling"]) == {"extra_rules": ["Give each value once."]}
    assert "extra_rules" in facility_errors(rule_sets, extra_rules=["friends_of_the_director"])
    assert facility_errors(rule_sets, kg2024_group_order=["foster_child"]) == {"kg2024_group_order": [
        "Order exactly these groups: work_or_training, sibling_attending, foster_child."]}
    assert "licensed_capacity" in facility_errors(rule_sets, licensed_capacity=0)
    assert "id" in facility_errors(rule_sets, id="facility-1")


def place_errors(facility, **payload):
    with pytest.raises(InvalidInput) as refused:
        validate(FreePlaceInput(facility, TODAY), {"start_date": "2026-05-01", "weekdays": {"mon": "full"}, **payload})
    return refused.value.errors


def test_a_place_without_an_age_group_takes_the_facility_range(make_facility):
    facility = make_facility(min_age_months=3, max_age_months=30)
    data = validate(FreePlaceInput(facility, TODAY), {"start_date": "2026-05-01", "weekdays": {"mon": "morning"}})
    assert (data["min_age_months"], data["max_age_months"], data["start_date"]) == (3, 30, date(2026, 5, 1))


def test_a_place_fits_the_facility_and_the_allocation_horizon(make_facility):
    facility = make_facility(opening_days={"mon", "tue", "wed", "thu"}, min_age_months=3, max_age_months=30)
    assert place_errors(facility, weekdays={"mon": "full", "fri": "full"}) == {
        "weekdays": ["The facility is closed on fri."]}
    assert place_errors(facility, min_age_months=0, max_age_months=30) == {
        "min_age_months": ["The facility takes children of 3 to 30 months."]}
    assert place_errors(facility, start_date="2026-03-01") == {"start_date": ["A free place cannot start in the past."]}
    assert validate(FreePlaceInput(facility, TODAY), {"start_date": "2026-10-02", "weekdays": {"mon": "full"}})
    assert place_errors(facility, start_date="2026-10-03") == {
        "start_date": ["Places are allocated at most 7 months ahead (until 2026-10-02)."]}
    assert "weekdays" in place_errors(facility, weekdays={})
    assert place_errors(facility, weekdays={"mon": "evening"}) == {"weekdays": {"mon": {"value": [
        "Must be one of: full, morning, afternoon."]}}}


def test_input_that_is_not_an_object_is_refused(rule_sets):
    with pytest.raises(InvalidInput) as refused:
        validate(FacilityInput(rule_sets), ["fac-0001"])
    assert refused.value.errors == {"_schema": ["Give a JSON object."]}


def departure_errors(payload):
    with pytest.raises(InvalidInput) as refused:
        validate(DepartureInput(TODAY), payload)
    return refused.value.errors


def test_a_departure_names_one_enrolled_child_and_a_day_at_most_7_months_ahead():
    assert validate(DepartureInput(TODAY), {"request_id": "r-1", "left_on": "2026-10-02"}) == {
        "request_id": "r-1", "left_on": date(2026, 10, 2)}
    assert validate(DepartureInput(TODAY), {"enrollment_id": 7, "left_on": "2025-09-01"})["enrollment_id"] == 7
    assert departure_errors({"left_on": "2026-04-01"}) == {
        "request_id": ["Give the request_id (or the enrollment_id) of the child who leaves."]}
    assert departure_errors({"request_id": "r-1", "enrollment_id": 7, "left_on": "2026-04-01"}) == {
        "enrollment_id": ["Give the request_id or the enrollment_id, not both."]}
    assert departure_errors({"request_id": "r-1", "left_on": "2026-10-03"}) == {
        "left_on": ["Record a departure at most 7 months ahead (until 2026-10-02)."]}
    assert set(departure_errors({"enrollment_id": "7", "left_on": "soon", "why": "moved"})) == {
        "enrollment_id", "left_on", "why"}
    assert set(departure_errors({"request_id": "", "enrollment_id": 0})) == {"request_id", "enrollment_id", "left_on"}
