"""Password hashing (Argon2id) and the password policy for accounts (P17).

Parameters: OWASP Password Storage Cheat Sheet, "Argon2id" section
(https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html): "Use Argon2id
with a minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree of
parallelism" (m=19456 KiB, t=2, p=1; the sheet lists m=47104 with t=1 as an equivalent trade).
Passwords are NFKC-normalised first, as NIST SP 800-63B advises, so the same password typed on
another keyboard or device still matches.
"""
import secrets
import unicodedata
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

OWASP_MEMORY_COST_KIB = 19456
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1

PRODUCTION_HASHER = PasswordHasher(time_cost=OWASP_TIME_COST, memory_cost=OWASP_MEMORY_COST_KIB,
                                   parallelism=OWASP_PARALLELISM, hash_len=32, salt_len=16, type=Type.ID)

MIN_LENGTH = 12


class PasswordRejected(ValueError):
    """The password breaks the policy; `problems` holds codes a front end can translate."""

    def __init__(self, problems: list[str]):
        super().__init__(", ".join(problems))
        self.problems = problems


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str, hasher: PasswordHasher = PRODUCTION_HASHER) -> str:
    return hasher.hash(_normalise(password))


def verify_password(password_hash: str, password: str, hasher: PasswordHasher = PRODUCTION_HASHER) -> bool:
    try:
        return hasher.verify(password_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, hasher: PasswordHasher = PRODUCTION_HASHER) -> bool:
    """True when the hash was made with other parameters than `hasher`'s; rehash it at the next login."""
    return hasher.check_needs_rehash(password_hash)


def spend_verification_time(password: str, hasher: PasswordHasher = PRODUCTION_HASHER) -> None:
    """Verify against a throwaway hash, so a login for an unknown email takes as long as a real one."""
    verify_password(_throwaway_hash(hasher), password, hasher)


@lru_cache(maxsize=4)
def _throwaway_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("gateway").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def password_problems(password: str, email: str) -> list[str]:
    """Codes of every rule the password breaks: too_short, same_as_email, too_common."""
    candidate = _normalise(password).casefold()
    email = email.strip().casefold()
    problems = []
    if len(_normalise(password)) < MIN_LENGTH:
        problems.append("too_short")
    if candidate.strip() in {email, email.partition("@")[0]}:
        problems.append("same_as_email")
    if candidate in common_passwords():
        problems.append("too_common")
    return problems


def check_password_policy(password: str, email: str) -> None:
    problems = password_problems(password, email)
    if problems:
        raise PasswordRejected(problems)
