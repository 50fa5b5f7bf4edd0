import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_export.transport import backoff


class Highest:
    """An rng that always picks the top of the range, to see the ceiling."""

    def uniform(self, low, high):
        return high


def test_ceiling_doubles_per_attempt_up_to_the_cap():
    assert [backoff(attempt, 0.5, 10.0, Highest()) for attempt in range(1, 8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0
    ]


def test_a_very_long_outage_stays_at_the_cap():
    assert backoff(10_000, 0.5, 300.0, Highest()) == 300.0


@given(st.integers(1, 200), st.floats(0.01, 10), st.floats(0.01, 600), st.integers())
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt, base, cap, seed):
    delay = backoff(attempt, base, cap, random.Random(seed))

    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_jitter_spreads_retries():
    rng = random.Random(7)

    delays = {round(backoff(5, 1.0, 60.0, rng), 6) for _ in range(50)}

    assert len(delays) > 40


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        backoff(0, 1.0, 60.0, random.Random(1))
