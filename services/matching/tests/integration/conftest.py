"""Registration and matching in real nameko containers on the real broker, on one test clock."""
from datetime import datetime, timezone
from pathlib import Path

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy.orm import Session

from loket.clock import ManualClock
from loket.crypto import Keyring
from loket.db import create_db_engine
from loket.migrations import upgrade
from loket.testing import free_port, set_clock
from matching import demo

SERVICES = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def matching_config(amqp_uri, sqlite_url):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": sqlite_url, "RETRY_DELAYS_MS": [100, 200],
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "OFFER_LAPSE_INTERVAL": 0.1}


def migrate_with_demo(url):
    upgrade(SERVICES / "matching" / "alembic.ini", url)
    engine = create_db_engine(url)
    with Session(engine) as session, session.begin():
        demo.load(session, NOW)
    engine.dispose()


@pytest.fixture
def start_matching(container_factory, matching_config, clock):
    """start(**config overrides) -> the running container, migrated, with the demo facilities, on the test clock."""
    from matching.service import MatchingService

    def start(**overrides):
        config = {**matching_config, **overrides}
        migrate_with_demo(config["DATABASE_URL"])
        container = container_factory(MatchingService, config)
        container.start()
        set_clock(container, clock)
        return container
    return start


@pytest.fixture
def matching(matching_config):
    with ServiceRpcProxy("matching", matching_config) as proxy:
        yield proxy


@pytest.fixture
def registration(container_factory, amqp_uri, tmp_path, clock):
    """The real registration service, producing the events matching consumes; yields its RPC proxy."""
    from registration.service import RegistrationService

    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": f"sqlite:///{tmp_path / 'registration.sqlite'}",
              "ENCRYPTION_KEYS": Keyring.generate_key(), "RETRY_DELAYS_MS": [100, 200],
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}
    upgrade(SERVICES / "registration" / "alembic.ini", config["DATABASE_URL"])
    container = container_factory(RegistrationService, config)
    container.start()
    set_clock(container, clock)
    with ServiceRpcProxy("registration", config) as proxy:
        yield proxy
