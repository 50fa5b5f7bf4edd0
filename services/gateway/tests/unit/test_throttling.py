from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from gateway.throttling import ACCOUNT_POLICY, ADDRESS_POLICY, Attempt, ThrottlePolicy, address_key, retry_after

START = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
POLICY = ThrottlePolicy(max_failures=3, window=timedelta(minutes=10), first_lockout=timedelta(minutes=1),
                        max_lockout=timedelta(minutes=8), success_resets=True)


def failures(*minutes):
    return [Attempt(START + timedelta(minutes=minute), False) for minute in minutes]


def success(minute):
    return [Attempt(START + timedelta(minutes=minute), True)]


def at(minute):
    return START + timedelta(minutes=minute)


def test_fewer_failures_than_the_limit_never_lock():
    assert retry_after(failures(0, 1), at(1), POLICY) is None


def test_the_limit_within_the_window_locks_from_the_last_failure():
    attempts = failures(0, 1, 2)
    assert retry_after(attempts, at(2), POLICY) == timedelta(minutes=1)
    assert retry_after(attempts, at(2.5), POLICY) == timedelta(minutes=0.5)
    assert retry_after(attempts, at(3), POLICY) is None


def test_failures_spread_wider_than_the_window_do_not_lock():
    assert retry_after(failures(0, 6, 12), at(12), POLICY) is None


def test_each_further_lockout_doubles_up_to_the_maximum():
    # Lockouts end at 3, 6+2=8, 11+4=15, 18+8=26, then stay at 8 minutes.
    attempts = failures(0, 1, 2, 3, 4, 6, 9, 10, 11, 15, 16, 18, 26, 27, 28)
    assert retry_after(attempts[:3], at(2), POLICY) == timedelta(minutes=1)
    assert retry_after(attempts[:6], at(6), POLICY) == timedelta(minutes=2)
    assert retry_after(attempts[:9], at(11), POLICY) == timedelta(minutes=4)
    assert retry_after(attempts[:12], at(18), POLICY) == timedelta(minutes=8)
    assert retry_after(attempts, at(28), POLICY) == timedelta(minutes=8)


def test_a_quiet_window_after_a_lockout_forgives_it():
    attempts = failures(0, 1, 2, 13, 14, 15)  # lockout ends at 3; quiet until 13 = 3 + window
    assert retry_after(attempts, at(15), POLICY) == timedelta(minutes=1)
    not_quiet_enough = failures(0, 1, 2, 12, 13, 14)
    assert retry_after(not_quiet_enough, at(14), POLICY) == timedelta(minutes=2)


def test_a_success_resets_an_account_but_not_an_address():
    attempts = failures(0, 1) + success(1.5) + failures(2)
    assert retry_after(attempts, at(2), POLICY) is None
    address_policy = replace(POLICY, success_resets=False)
    assert retry_after(attempts, at(2), address_policy) == timedelta(minutes=1)


def test_a_success_resets_the_doubling_too():
    attempts = failures(0, 1, 2) + success(3) + failures(4, 5, 6)
    assert retry_after(attempts, at(6), POLICY) == timedelta(minutes=1)


def test_attempts_older_than_the_lookback_are_forgotten():
    policy = replace(POLICY, window=timedelta(minutes=15))
    attempts = failures(0, 1, 2, 3, 4, 6, 20, 21, 22)  # lockouts end at 3, 8, then the third lasts 4 minutes
    assert retry_after(attempts, at(22), policy) == timedelta(minutes=4)
    # Without the first lockout the run at 20-22 is only the second.
    assert retry_after(attempts, at(22), replace(policy, lookback=timedelta(minutes=20))) == timedelta(minutes=2)


def test_the_order_of_the_attempts_given_does_not_matter():
    attempts = failures(0, 1, 2, 3, 4, 6)
    assert retry_after(list(reversed(attempts)), at(6), POLICY) == retry_after(attempts, at(6), POLICY)


def test_production_policies_lock_an_account_sooner_than_an_address():
    assert ACCOUNT_POLICY.success_resets and not ADDRESS_POLICY.success_resets
    assert ACCOUNT_POLICY.max_failures < ADDRESS_POLICY.max_failures
    five = [Attempt(START + timedelta(seconds=second), False) for second in range(5)]
    assert retry_after(five, START + timedelta(seconds=5), ACCOUNT_POLICY) is not None
    assert retry_after(five, START + timedelta(seconds=5), ADDRESS_POLICY) is None


def test_address_keys():
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    with pytest.raises(ValueError):
        address_key("not an address")
