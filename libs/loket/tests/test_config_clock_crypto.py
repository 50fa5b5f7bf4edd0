from datetime import datetime, timezone

import pytest

from loket.clock import FileClock, ManualClock
from loket.config import load_config
from loket.crypto import Keyring, KeyringError


def test_config_substitutes_environment_with_defaults(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("AMQP_URI: ${AMQP_URI:amqp://localhost}\nDATABASE_URL: ${DB:sqlite:///x.db}\n")
    monkeypatch.setenv("DB", "postgresql://db/prod")
    monkeypatch.delenv("AMQP_URI", raising=False)
    assert load_config(path) == {"AMQP_URI": "amqp://localhost", "DATABASE_URL": "postgresql://db/prod"}


def test_config_without_default_requires_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("ENCRYPTION_KEYS: ${LOKET_KEYS}\n")
    monkeypatch.delenv("LOKET_KEYS", raising=False)
    with pytest.raises(KeyError, match="LOKET_KEYS"):
        load_config(path)


def test_manual_clock_moves_and_refuses_naive_instants():
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    clock.advance(days=2)
    assert clock.now() == datetime(2030, 1, 3, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        clock.set(datetime(2030, 1, 1))


def test_file_clock_lets_processes_share_a_test_time(tmp_path):
    path = tmp_path / "now"
    clock = FileClock(path)
    assert clock.now().year >= 2026  # absent file: system time
    path.write_text("2031-05-01T12:00:00+00:00")
    assert clock.now() == datetime(2031, 5, 1, 12, tzinfo=timezone.utc)


def test_keyring_rotation_keeps_old_values_readable():
    old = Keyring.generate_key()
    token = Keyring([old]).encrypt("rolstoel; astma")
    assert "astma" not in token
    new_ring = Keyring([Keyring.generate_key(), old])
    assert new_ring.decrypt(token) == "rolstoel; astma"
    rotated = new_ring.rotate(token)
    with pytest.raises(KeyringError):
        Keyring([old]).decrypt(rotated)  # only the new key reads the rotated value
    assert new_ring.decrypt(rotated) == "rolstoel; astma"


def test_database_errors_never_carry_the_values_into_logs(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from loket.db import create_db_engine
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(SQLAlchemyError) as raised:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO missing (email) VALUES (:email)"), {"email": "an@example.org"})
    assert "an@example.org" not in str(raised.value)
