"""Quota seats, counted on licensed places.

Shares are converted through their decimal text so that 0.55 x 20 is exactly 11, not
10.999... rounded down to 10.
"""
import math
from fractions import Fraction

from matching.model import Facility, Occupancy
from matching.rulesets import RuleSet


def _of(capacity: int, share: float) -> Fraction:
    return capacity * Fraction(str(share))


def dutch_share_seats(capacity: int, share: float, min_seats: int = 1) -> int:
    """Seats for Dutch-language priority: the share of licensed places rounded down, at least `min_seats`."""
    if capacity < 1 or not 0 < share <= 1:
        raise ValueError(f"need capacity >= 1 and 0 < share <= 1, got {capacity}, {share}")
    return max(min_seats, math.floor(_of(capacity, share)))


def vulnerable_seats(capacity: int, min_share: float) -> int:
    """Seats the vulnerable-families minimum asks for: rounded up, since it is a floor on their number."""
    return math.ceil(_of(capacity, min_share))


def other_families_seats(capacity: int, max_share: float) -> int:
    """kg-2024: places that may go to families outside the absolute priority groups, rounded down."""
    return math.floor(_of(capacity, max_share))


def dutch_seats_taken(occupancy: Occupancy) -> int:
    return occupancy.enrolled_dutch_priority + occupancy.open_dutch_priority_offers


def facility_dutch_seats(facility: Facility, rule_set: RuleSet) -> int:
    return dutch_share_seats(facility.licensed_capacity, facility.dutch_share, rule_set.dutch_priority.min_seats)

