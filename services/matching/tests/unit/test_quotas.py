import pytest

from matching.quotas import other_families_seats, vulnerable_seats
from matching.ranking import dutch_share_seats


@pytest.mark.parametrize("capacity, seats", [(1, 1), (2, 1), (3, 1), (4, 2), (9, 4), (10, 5), (11, 6), (20, 11),
                                             (100, 55)])
def test_55_percent_is_rounded_down_with_at_least_one_seat(capacity, seats):
    assert dutch_share_seats(capacity, 0.55) == seats


@pytest.mark.parametrize("capacity, share, seats", [(10, 0.3, 3), (100, 0.57, 57), (14, 0.5, 7), (18, 0.05, 1)])
def test_any_share_counts_exactly_on_its_decimal_value(capacity, share, seats):
    assert dutch_share_seats(capacity, share) == seats


def test_dutch_share_refuses_nonsense():
    with pytest.raises(ValueError):
        dutch_share_seats(0, 0.5)
    with pytest.raises(ValueError):
        dutch_share_seats(10, 0)


@pytest.mark.parametrize("capacity, seats", [(1, 1), (5, 1), (6, 2), (9, 2), (10, 2), (11, 3), (20, 4)])
def test_vulnerable_minimum_is_rounded_up(capacity, seats):
    assert vulnerable_seats(capacity, 0.20) == seats


@pytest.mark.parametrize("capacity, seats", [(9, 0), (10, 1), (19, 1), (20, 2), (35, 3)])
def test_other_families_maximum_is_rounded_down(capacity, seats):
    assert other_families_seats(capacity, 0.10) == seats
