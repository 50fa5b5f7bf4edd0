"""Which requests may be ranked for a free place (P5: start date and care plan decide the fit).

Start window, decided here: a child starts on its desired start date, in a place that is free
from `place.start_date`. Facilities allocate at most 7 months ahead, so a place is held empty at
most 7 months: the request fits when place.start_date <= desired start <= place.start_date + 7
calendar months (end of month clamped). A desired start before the place is free does not fit:
the parent would have to accept a later start; the Loket emails the parent when the desired
start has passed, and an updated date re-ranks the request (P8).

Age, decided here: the child's age in completed months on its desired start date (its real first
day in this place) must be within the place's age group, bounds included. So an expected baby
fits a place as long as it is born and old enough by its start.
"""
from datetime import date

from matching import reasons
from matching.dates import add_months, age_in_months
from matching.model import Candidate, Facility, FreePlace

ALLOCATION_HORIZON_MONTHS = 7
_HALF_DAYS = ("morning", "afternoon")


def latest_desired_start(place: FreePlace) -> date:
    return add_months(place.start_date, ALLOCATION_HORIZON_MONTHS)


def care_plan_misfit(care_plan, free_days) -> tuple[str, dict] | None:
    """Why the care plan does not fit the free days, or None: every wanted day is free, a half day fits a full day."""
    for day, wanted in care_plan.items():
        free = free_days.get(day)
        if free is None:
            return reasons.DAY_NOT_FREE, {"day": day}
        if free != "full" and free != wanted:
            return reasons.DAY_PART_NOT_FREE, {"day": day, "wanted": wanted, "free": free}
    return None


def misfit(candidate: Candidate, facility_id: str, place: FreePlace, latest_start: date) -> tuple[str, dict] | None:
    """Why `candidate` may not be ranked for `place` as (sentence template, its fields), or None.

    The sentence is left unformatted: ranking only needs to know whether, for thousands of requests.
    `latest_start` is latest_desired_start(place).
    """
    if candidate.status != "active":
        return reasons.NOT_ACTIVE, {"status": candidate.status}
    if not candidate.urgent and facility_id not in candidate.facility_ids:
        return reasons.NOT_CHOSEN, {}
    desired = candidate.desired_start_date
    if desired < place.start_date:
        return reasons.STARTS_BEFORE_PLACE, {"desired": desired, "start": place.start_date}
    if desired > latest_start:
        return reasons.STARTS_TOO_LATE, {"desired": desired, "start": place.start_date,
                                         "months": ALLOCATION_HORIZON_MONTHS}
    problem = care_plan_misfit(candidate.care_plan, place.weekdays)
    if problem:
        return problem
    age = age_in_months(candidate.child_birth_date, desired)
    if age < 0:
        return reasons.NOT_BORN, {}
    if not place.min_age_months <= age <= place.max_age_months:
        return reasons.AGE_OUTSIDE, {"age": age, "low": place.min_age_months, "high": place.max_age_months}
    return None


def eligible(candidate: Candidate, facility: Facility, place: FreePlace) -> tuple[bool, str]:
    """(True, why it fits) or (False, the first reason it does not)."""
    problem = misfit(candidate, facility.id, place, latest_desired_start(place))
    if problem is None:
        return True, reasons.FITS
    template, fields = problem
    return False, template.format(**fields)
