import random

import pytest

from consent_export.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=4, base=1.0, cap=8.0)


def test_retries_until_the_bound_then_parks():
    rng = random.Random(3)

    assert [POLICY.next_attempt_at(n, 100.0, rng) is not None for n in (1, 2, 3, 4, 5)] == [
        True, True, True, False, False]


def test_the_next_attempt_is_within_the_backoff_window():
    for attempts in (1, 2, 3):
        at = POLICY.next_attempt_at(attempts, 100.0, random.Random(attempts))
        assert 100.0 <= at <= 100.0 + min(8.0, 2 ** (attempts - 1))


def test_the_partners_retry_after_is_honoured_up_to_the_cap():
    rng = random.Random(1)

    assert POLICY.next_attempt_at(1, 100.0, rng, retry_after=5.0) >= 105.0
    assert POLICY.next_attempt_at(1, 100.0, rng, retry_after=3600.0) == 108.0


def test_at_least_one_attempt():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0, base=1.0, cap=1.0)
