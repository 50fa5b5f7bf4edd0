"""Occupancy of a facility: its enrolled children and what each counts for, and the seats of the
Dutch-language share held by offers not yet turned into an enrollment.

An enrollment is judged once, on the dossier as registration sent it with request_enrolled, and
with the facility's rule set of that moment: a family that later changes its data, or a facility
that later changes its rule set, does not change who was enrolled on what grounds.

Occupancy is counted on a day: a child whose departure is recorded (departures.py) counts until
the day before it left. A ranking counts on its place's start date, so a child known to leave
on 1 September frees its seats of the quotas for a place starting that day, and not for one
starting earlier.
"""
from datetime import date, datetime

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.orm import Session

from matching.model import Candidate, Facility, Occupancy
from matching.models import EnrollmentRow, OfferRow
from matching.ranking import has_dutch_priority, in_absolute_priority_group, is_vulnerable
from matching.rulesets import RuleSet

_enrollments, _offers = EnrollmentRow.__table__, OfferRow.__table__


def _count(flag):
    return func.coalesce(func.sum(case((flag, 1), else_=0)), 0)


_ENROLLED = select(func.count(), _count(_enrollments.c.counts_dutch_priority), _count(_enrollments.c.counts_vulnerable),
                   _count(_enrollments.c.counts_other_families))
# An accepted offer holds its Dutch seat until registration's enrollment of the request arrives.
_DUTCH_OFFERS = select(func.count()).select_from(_offers).where(
    _offers.c.dutch_priority,
    or_(_offers.c.status == "open",
        and_(_offers.c.status == "accepted",
             ~select(_enrollments.c.id).where(_enrollments.c.request_id == _offers.c.request_id).exists())))


def enrollment_counts(candidate: Candidate, facility: Facility | None, rule_set: RuleSet) -> dict:
    """What an enrolled child counts for. A facility unknown to matching has no quotas to count for
    but the Dutch-language criterion, which does not depend on the facility."""
    vulnerable = facility is not None and is_vulnerable(candidate, facility, rule_set)
    other = (facility is not None and rule_set.absolute_priority_groups is not None
             and not in_absolute_priority_group(candidate, facility, rule_set))
    return {"counts_dutch_priority": has_dutch_priority(candidate), "counts_vulnerable": vulnerable,
            "counts_other_families": other}


def record_enrollment(session: Session, candidate: Candidate, facility_id: str, facility: Facility | None,
                      rule_set: RuleSet, enrolled_at: datetime) -> bool:
    """Add the enrolled child; False when this request's enrollment is already counted."""
    connection = session.connection()
    if connection.execute(select(_enrollments.c.id).where(_enrollments.c.request_id == candidate.request_id)).first():
        return False
    connection.execute(insert(_enrollments).values(
        request_id=candidate.request_id, dossier_id=candidate.dossier_id, facility_id=facility_id,
        enrolled_at=enrolled_at, **enrollment_counts(candidate, facility, rule_set)))
    return True


def _present(facility_id: str, on: date):
    """The facility's enrollments of children who have not left by `on`."""
    return and_(_enrollments.c.facility_id == facility_id,
                or_(_enrollments.c.left_on.is_(None), _enrollments.c.left_on > on))


def current(session: Session, facility_id: str, on: date) -> Occupancy:
    """The facility's occupancy on the day `on` (today, or the start date of the place being ranked)."""
    connection = session.connection()
    enrolled, dutch, vulnerable, other = connection.execute(_ENROLLED.where(_present(facility_id, on))).one()
    offers = connection.execute(_DUTCH_OFFERS.where(_offers.c.facility_id == facility_id)).scalar_one()
    return Occupancy(enrolled=enrolled, enrolled_dutch_priority=dutch, enrolled_vulnerable=vulnerable,
                     open_dutch_priority_offers=offers, enrolled_other_families=other)


def present(session: Session, facility_id: str, on: date) -> list[EnrollmentRow]:
    """The enrolled children who have not left by `on`, first enrolled first."""
    return list(session.scalars(select(EnrollmentRow).where(_present(facility_id, on))
                                .order_by(EnrollmentRow.enrolled_at, EnrollmentRow.id)))


def view(occupancy: Occupancy) -> dict:
    return {"enrolled": occupancy.enrolled, "enrolled_dutch_priority": occupancy.enrolled_dutch_priority,
            "enrolled_vulnerable": occupancy.enrolled_vulnerable,
            "enrolled_other_families": occupancy.enrolled_other_families,
            "dutch_priority_offers_pending": occupancy.open_dutch_priority_offers}
