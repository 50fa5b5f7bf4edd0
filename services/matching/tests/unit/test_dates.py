from datetime import date

import pytest

from matching.dates import add_months, age_in_months


@pytest.mark.parametrize("day, months, expected", [
    (date(2026, 1, 15), 7, date(2026, 8, 15)),
    (date(2026, 7, 31), 7, date(2027, 2, 28)),
    (date(2027, 7, 31), 7, date(2028, 2, 29)),
    (date(2026, 12, 1), 1, date(2027, 1, 1)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
])
def test_add_months_clamps_to_the_end_of_a_shorter_month(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize("birth, on, expected", [
    (date(2025, 6, 15), date(2025, 6, 15), 0),
    (date(2025, 6, 15), date(2025, 7, 14), 0),
    (date(2025, 6, 15), date(2025, 7, 15), 1),
    (date(2024, 1, 31), date(2024, 2, 29), 1),
    (date(2024, 1, 31), date(2024, 2, 28), 0),
    (date(2025, 6, 15), date(2028, 6, 15), 36),
    (date(2026, 10, 1), date(2026, 9, 30), -1),
])
def test_age_in_completed_months(birth, on, expected):
    assert age_in_months(birth, on) == expected
