"""Claim codes: how a parent's account comes to own a dossier someone else registered for them.

An intermediary or a facility manager registers a dossier without an owner account. Registration
then issues a one-time claim code, returned once to the registrant, who hands it to the parent; the
parent, logged in, claims the dossier with it and from then on sees it as their own. The registrant
keeps the access the policy gives it (P19, P20): claiming changes only the owner.

The code is random (99 bits), stored only as its SHA-256 hash (a fast hash suffices: there is
nothing to brute-force offline) and expires. An unknown, expired or used code is answered alike, so
an answer never tells whether a dossier exists. Claiming records no event: no consumer of the
dossier events knows or needs its owner account.
"""
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .dossiers import record_audit
from .errors import Conflict, NotFound
from .models import ClaimCode, Dossier

# No 0/O, 1/I/L: read over the phone or copied from paper without mistakes. 31 symbols, 20 of them:
# 99 bits, far beyond guessing even without the gateway's throttling.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 20
GROUP = 5
OPERATION = "claim_dossier"
DEFAULT_TTL = timedelta(days=30)


class ClaimRefused(Exception):
    """Raised inside the transaction; the entrypoint audits it against `dossier_id` (when the code
    was one of a dossier) in a transaction of its own and answers `answer`."""

    def __init__(self, answer: Exception, dossier_id: str | None = None):
        super().__init__(str(answer))
        self.answer, self.dossier_id = answer, dossier_id


def new_claim_code() -> str:
    """Like 7KQ2M-XW9PD-4HCRT-BN6ZA: 20 symbols of 31, in groups of 5."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(symbols[i:i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalise(code: str) -> str:
    """As the parent may type it: any case, with or without dashes and spaces."""
    return "".join(code.split()).replace("-", "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("utf-8")).hexdigest()


def issue_claim_code(session: Session, now: datetime, dossier_id: str, ttl: timedelta = DEFAULT_TTL) -> dict:
    """A new code for the dossier: the only time it is ever seen. Returns what the registrant gets."""
    code = new_claim_code()
    expires_at = now + ttl
    session.add(ClaimCode(code_hash=code_hash(code), dossier_id=dossier_id, created_at=now, expires_at=expires_at))
    return {"claim_code": code, "claim_code_expires_at": expires_at.isoformat()}


def _invalid(dossier_id=None) -> ClaimRefused:
    return ClaimRefused(NotFound("invalid claim code"), dossier_id)


def claim_dossier(session: Session, now: datetime, code: str, actor: dict) -> dict:
    """Make the parent's account (actor) the owner of the code's dossier and use the code up.

    ClaimRefused(NotFound) for an unknown, used or expired code; ClaimRefused(Conflict) when the
    dossier has an owner already. Both updates are conditional, so of two concurrent claims one wins."""
    claim = session.get(ClaimCode, code_hash(code))
    if claim is None:
        raise _invalid()
    if claim.used_at is not None or now >= claim.expires_at:
        raise _invalid(claim.dossier_id)
    if session.scalar(select(Dossier.owner_account_id).where(Dossier.id == claim.dossier_id)) is not None:
        raise ClaimRefused(Conflict("the dossier has an owner already"), claim.dossier_id)
    used = session.execute(update(ClaimCode).where(ClaimCode.code_hash == claim.code_hash,
                                                   ClaimCode.used_at.is_(None))
                           .values(used_at=now, used_by_account_id=actor["actor_id"])
                           .execution_options(synchronize_session=False)).rowcount
    if used != 1:
        raise _invalid(claim.dossier_id)
    owned = session.execute(update(Dossier).where(Dossier.id == claim.dossier_id, Dossier.owner_account_id.is_(None))
                            .values(owner_account_id=actor["actor_id"])
                            .execution_options(synchronize_session=False)).rowcount
    if owned != 1:
        raise ClaimRefused(Conflict("the dossier has an owner already"), claim.dossier_id)
    record_audit(session, now, claim.dossier_id, actor, OPERATION)
    return {"dossier_id": claim.dossier_id}
