import pytest
from argon2 import PasswordHasher, Type

from gateway.passwords import (
    MIN_LENGTH, PRODUCTION_HASHER, PasswordRejected, check_password_policy, common_passwords, hash_password,
    needs_rehash, password_problems, spend_verification_time, verify_password,
)

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
EMAIL = "an.peeters@example.org"


def test_production_hashing_uses_the_owasp_argon2id_parameters():
    assert (PRODUCTION_HASHER.type, PRODUCTION_HASHER.memory_cost, PRODUCTION_HASHER.time_cost,
            PRODUCTION_HASHER.parallelism) == (Type.ID, 19456, 2, 1)
    password_hash = hash_password("correct horse battery")
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(password_hash, "correct horse battery")


def test_a_hash_verifies_its_password_and_nothing_else():
    password_hash = hash_password("correct horse battery", FAST_HASHER)
    assert "correct horse battery" not in password_hash
    assert verify_password(password_hash, "correct horse battery", FAST_HASHER)
    assert not verify_password(password_hash, "correct horse batterY", FAST_HASHER)
    assert not verify_password("not a hash", "correct horse battery", FAST_HASHER)


def test_the_same_password_typed_with_composed_or_decomposed_accents_matches():
    password_hash = hash_password("crèche à Bruxelles", FAST_HASHER)
    assert verify_password(password_hash, "cre\u0300che a\u0300 Bruxelles", FAST_HASHER)


def test_a_hash_made_with_other_parameters_needs_a_rehash():
    password_hash = hash_password("correct horse battery", FAST_HASHER)
    assert not needs_rehash(password_hash, FAST_HASHER)
    assert needs_rehash(password_hash, PasswordHasher(time_cost=2, memory_cost=8, parallelism=1))


def test_verification_time_is_spent_even_without_an_account():
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    spend_verification_time("whatever password", CountingHasher(time_cost=1, memory_cost=8, parallelism=1))
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


@pytest.mark.parametrize("password,problems", [
    ("eleven char", ["too_short"]),
    ("twelve chars", []),
    ("AN.PEETERS@example.org", ["same_as_email"]),
    ("an.peeters@example.org ", ["same_as_email"]),
    ("an.peeters", ["too_short", "same_as_email"]),
    ("Password1234", ["too_common"]),
    ("KINDEROPVANG", ["too_common"]),
    ("a long passphrase for my dossier", []),
])
def test_password_policy(password, problems):
    assert password_problems(password, EMAIL) == problems


def test_the_policy_rejects_with_every_problem():
    with pytest.raises(PasswordRejected) as rejected:
        check_password_policy("wachtwoord", EMAIL)
    assert rejected.value.problems == ["too_short"]
    check_password_policy("a long passphrase for my dossier", EMAIL)


def test_every_listed_common_password_is_long_enough_to_need_the_list():
    assert len(common_passwords()) >= 50
    assert all(len(password) >= MIN_LENGTH for password in common_passwords())
