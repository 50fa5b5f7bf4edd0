"""Login throttling (P17), and of claim codes: exponential lockout of an account and of a client address, pure
with `now`.

A key (an account, a client address) is locked after `max_failures` failed logins within `window`.
Each further lockout of the same key doubles, up to `max_lockout`; a whole quiet window after a
lockout ends forgives the earlier ones. Attempts refused while locked check no password, so they are
not failures and do not lengthen the lockout. A success resets an account; it does not reset an
address, or an attacker could clear it by logging into an account of their own between guesses.
"""
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

# Beyond this many doublings the lockout is at max_lockout anyway; it keeps the timedelta small.
_MAX_DOUBLINGS = 30


class Attempt(NamedTuple):
    at: datetime
    succeeded: bool


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window: timedelta
    first_lockout: timedelta
    max_lockout: timedelta
    success_resets: bool
    lookback: timedelta = timedelta(days=1)  # older attempts are forgotten (and may be deleted)

    def lockout(self, lockouts: int) -> timedelta:
        return min(self.first_lockout * 2 ** min(lockouts - 1, _MAX_DOUBLINGS), self.max_lockout)


ACCOUNT_POLICY = ThrottlePolicy(max_failures=5, window=timedelta(minutes=15), first_lockout=timedelta(minutes=1),
                                max_lockout=timedelta(hours=1), success_resets=True)
# An address may be shared (a family, an office, a carrier's NAT): more room, same escalation.
ADDRESS_POLICY = ThrottlePolicy(max_failures=20, window=timedelta(minutes=15), first_lockout=timedelta(minutes=1),
                                max_lockout=timedelta(hours=1), success_resets=False)
# Claim codes carry 99 random bits; this only keeps an account from trying many codes (gateway.claims).
CLAIM_POLICY = ThrottlePolicy(max_failures=5, window=timedelta(hours=1), first_lockout=timedelta(minutes=15),
                              max_lockout=timedelta(hours=6), success_resets=False)


class TooManyAttempts(Exception):
    """429: the key is locked for `retry_after`."""

    def __init__(self, retry_after: timedelta, message: str):
        super().__init__(message)
        self.retry_after, self.message = retry_after, message


def locked_until(attempts: Iterable[Attempt], now: datetime, policy: ThrottlePolicy) -> datetime | None:
    """When the key's current or last lockout ends, or None if it was never locked within the lookback."""
    lockouts, recent_failures, until = 0, [], None
    for attempt in sorted(attempt for attempt in attempts if now - attempt.at < policy.lookback):
        if attempt.succeeded:
            if policy.success_resets:
                lockouts, recent_failures, until = 0, [], None
            continue
        if until is not None and attempt.at - max([until, *recent_failures]) >= policy.window:
            lockouts = 0
        recent_failures = [at for at in recent_failures if attempt.at - at < policy.window] + [attempt.at]
        if len(recent_failures) >= policy.max_failures:
            lockouts += 1
            until = attempt.at + policy.lockout(lockouts)
            recent_failures = []
    return until


def retry_after(attempts: Iterable[Attempt], now: datetime, policy: ThrottlePolicy) -> timedelta | None:
    """How long the key stays locked from `now`, or None when it may try now."""
    until = locked_until(attempts, now, policy)
    if until is None or until <= now:
        return None
    return until - now


def address_key(client_address: str) -> str:
    """The throttling key of a client: the IPv4 address, or the /64 network of an IPv6 address,
    because one IPv6 subscriber usually holds a whole /64."""
    address = ipaddress.ip_address(client_address)
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
