from argon2 import Type

from gateway.dependencies import OffHubPasswordHasher, hasher_from_config
from gateway.passwords import verify_password


def test_production_hashing_unless_the_config_lowers_it():
    production = hasher_from_config({"ARGON2_TIME_COST": None})
    assert (production.type, production.time_cost, production.memory_cost, production.parallelism) == (
        Type.ID, 2, 19456, 1)
    cheap = hasher_from_config({"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8, "ARGON2_PARALLELISM": 1})
    assert (cheap.time_cost, cheap.memory_cost) == (1, 8)


def test_the_off_hub_hasher_hashes_and_verifies_like_argon2():
    hasher = hasher_from_config({"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8}, OffHubPasswordHasher)
    password_hash = hasher.hash("correct horse battery")
    assert password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert verify_password(password_hash, "correct horse battery", hasher)
    assert not verify_password(password_hash, "wrong horse battery", hasher)
