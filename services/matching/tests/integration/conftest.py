"""Registration and matching in real nameko containers on the real broker, on one test clock."""
from datetime import datetime, timezone

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy.orm import Session

from loket.clock import ManualClock
from loket.crypto import Keyring
from loket.db import create_db_engine
from loket.testing import base_config, migrated
from matching import demo

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def matching_config(amqp_uri, sqlite_url):
    return base_config(amqp_uri, sqlite_url, OFFER_LAPSE_INTERVAL=0.1)


@pytest.fixture
def start_matching(start_service, matching_config, clock):
    """start(**config overrides) -> the running container, migrated, with the demo facilities, on the test clock."""
    from matching.service import MatchingService

    def start(**overrides):
        config = {**matching_config, **overrides}
        engine = create_db_engine(migrated(MatchingService, config["DATABASE_URL"]))
        with Session(engine) as session, session.begin():
            demo.load(session, NOW)
        engine.dispose()
        return start_service(MatchingService, config, clock=clock, migrate=False)
    return start


@pytest.fixture
def matching(matching_config):
    with ServiceRpcProxy("matching", matching_config) as proxy:
        yield proxy


@pytest.fixture
def registration(start_service, amqp_uri, tmp_path, clock):
    """The real registration service, producing the events matching consumes; yields its RPC proxy."""
    from registration.service import RegistrationService

    config = base_config(amqp_uri, f"sqlite:///{tmp_path / 'registration.sqlite'}",
                         ENCRYPTION_KEYS=Keyring.generate_key())
    start_service(RegistrationService, config, clock=clock)
    with ServiceRpcProxy("registration", config) as proxy:
        yield proxy
