from datetime import datetime, timezone
from pathlib import Path

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from loket.clock import ManualClock
from loket.crypto import Keyring
from loket.migrations import upgrade
from loket.testing import set_clock
from registration.service import RegistrationService

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def service_config(amqp_uri, database_url):
    upgrade(ALEMBIC_INI, database_url)
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": Keyring.generate_key(),
        "RETRY_DELAYS_MS": [100, 200],
    }


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def start_registration(container_factory, service_config, clock):
    def start(**overrides):
        container = container_factory(RegistrationService, {**service_config, **overrides})
        container.start()
        set_clock(container, clock)
        return container
    return start


@pytest.fixture
def rpc(service_config):
    with ServiceRpcProxy("registration", service_config) as proxy:
        yield proxy
