from datetime import date

import pytest

from matching.eligibility import care_plan_misfit
from matching.ranking import eligible


def test_a_request_that_chose_the_facility_and_fits_is_eligible(make_candidate, make_facility, make_place):
    assert eligible(make_candidate(), make_facility(), make_place()) == (True, "Fits the place: start date, care plan and age")


def test_not_chosen_and_not_urgent_is_not_eligible(make_candidate, make_facility, make_place):
    candidate = make_candidate(facility_ids=("fac-0002",))
    assert eligible(candidate, make_facility(), make_place()) == (
        False, "The request did not choose this facility and is not urgent")


def test_urgent_request_is_eligible_everywhere(make_candidate, make_facility, make_place):
    assert eligible(make_candidate(facility_ids=("fac-0002",), urgent=True), make_facility(), make_place())[0]
    assert eligible(make_candidate(facility_ids=(), urgent=True), make_facility(), make_place())[0]


@pytest.mark.parametrize("status", ["enrolled", "cancelled", "expired"])
def test_only_active_requests_are_eligible(make_candidate, make_facility, make_place, status):
    fits, reason = eligible(make_candidate(status=status, urgent=True), make_facility(), make_place())
    assert not fits and status in reason


@pytest.mark.parametrize("place_start, desired, fits", [
    (date(2026, 9, 1), date(2026, 9, 1), True),     # starts the day the place is free
    (date(2026, 9, 1), date(2027, 4, 1), True),     # exactly 7 months later: still allocated
    (date(2026, 9, 1), date(2027, 4, 2), False),    # one day beyond the 7 months
    (date(2026, 9, 1), date(2026, 8, 31), False),   # wanted before the place is free
    (date(2026, 7, 31), date(2027, 2, 28), True),   # 31 July + 7 months = 28 February
    (date(2026, 7, 31), date(2027, 3, 1), False),
])
def test_start_window_is_the_place_start_up_to_7_months_later(make_candidate, make_facility, make_place,
                                                               place_start, desired, fits):
    candidate = make_candidate(desired_start_date=desired, child_birth_date=date(2025, 6, 1))
    assert eligible(candidate, make_facility(), make_place(start_date=place_start))[0] is fits


def test_start_window_reasons_name_both_dates(make_candidate, make_facility, make_place):
    _, early = eligible(make_candidate(desired_start_date=date(2026, 8, 1)), make_facility(), make_place())
    _, late = eligible(make_candidate(desired_start_date=date(2027, 5, 1)), make_facility(), make_place())
    assert "2026-08-01" in early and "2026-09-01" in early
    assert "more than 7 months" in late and "2027-05-01" in late


@pytest.mark.parametrize("wanted, free, fits", [
    ({"mon": "full"}, {"mon": "full"}, True),
    ({"mon": "morning"}, {"mon": "full"}, True),          # a half day fits a full day
    ({"mon": "afternoon"}, {"mon": "full"}, True),
    ({"mon": "morning"}, {"mon": "morning"}, True),
    ({"mon": "morning"}, {"mon": "afternoon"}, False),
    ({"mon": "full"}, {"mon": "morning"}, False),         # a full day does not fit a half day
    ({"mon": "full", "wed": "full"}, {"mon": "full"}, False),  # every wanted day must be free
    ({"wed": "afternoon"}, {"mon": "full", "wed": "afternoon", "fri": "full"}, True),
])
def test_care_plan_fits_when_every_wanted_day_is_free(wanted, free, fits):
    assert (care_plan_misfit(wanted, free) is None) is fits


def test_a_missing_day_is_explained(make_candidate, make_facility, make_place):
    fits, reason = eligible(make_candidate(care_plan={"wed": "morning"}), make_facility(),
                            make_place(weekdays={"mon": "full"}))
    assert not fits and reason == "The care plan asks for wed, which is not free in this place"


def test_care_plan_misfit_is_explained(make_candidate, make_facility, make_place):
    candidate = make_candidate(care_plan={"mon": "full", "thu": "full"})
    fits, reason = eligible(candidate, make_facility(), make_place(weekdays={"mon": "full", "thu": "morning"}))
    assert not fits and reason == "The care plan asks for thu (full); only the morning is free"


@pytest.mark.parametrize("birth, fits", [
    (date(2025, 9, 1), True),    # exactly 12 months on 2026-09-01
    (date(2025, 9, 2), False),   # 11 months
    (date(2025, 3, 1), True),    # exactly 18 months
    (date(2025, 2, 28), True),   # 18 months and a few days: still 18 completed months
    (date(2025, 2, 1), False),   # 19 months
])
def test_child_age_on_its_start_must_be_in_the_age_group(make_candidate, make_facility, make_place, birth, fits):
    candidate = make_candidate(child_birth_date=birth, desired_start_date=date(2026, 9, 1))
    place = make_place(min_age_months=12, max_age_months=18)
    assert eligible(candidate, make_facility(), place)[0] is fits


def test_age_is_taken_on_the_desired_start_not_the_place_start(make_candidate, make_facility, make_place):
    # Born after the place is free, but old enough by the desired start.
    candidate = make_candidate(child_birth_date=date(2026, 10, 15), desired_start_date=date(2027, 2, 15))
    assert eligible(candidate, make_facility(), make_place(min_age_months=3, max_age_months=12))[0]


def test_an_unborn_child_does_not_fit(make_candidate, make_facility, make_place):
    candidate = make_candidate(child_birth_date=date(2026, 10, 1), desired_start_date=date(2026, 9, 1))
    assert eligible(candidate, make_facility(), make_place()) == (
        False, "The child is not born yet on the desired start date")
