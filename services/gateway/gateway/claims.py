"""Throttling the claim codes a parent's account tries (POST /dossiers/claims).

Registration owns the codes and decides; the gateway only counts the codes it refused per account and
locks the account out of claiming for a while after too many (throttling.CLAIM_POLICY), as it does for
logins. A code carries 99 random bits, so this is a second line: it keeps one account from trying
codes at speed and shows up as 429 in the metrics.
"""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import ClaimFailure
from gateway.throttling import Attempt, ThrottlePolicy, TooManyAttempts, retry_after

THROTTLED = "Too many invalid claim codes; wait before trying again."


def check_claim_throttle(db: Session, account_id: str, now: datetime, policy: ThrottlePolicy) -> None:
    """Raise TooManyAttempts while the account may not try another code."""
    failures = db.scalars(select(ClaimFailure.attempted_at).where(
        ClaimFailure.account_id == account_id, ClaimFailure.attempted_at > now - policy.lookback)).all()
    wait = retry_after([Attempt(at, False) for at in failures], now, policy)
    if wait is not None:
        raise TooManyAttempts(wait, THROTTLED)


def record_claim_failure(db: Session, account_id: str, now: datetime) -> None:
    db.add(ClaimFailure(account_id=account_id, attempted_at=now))
