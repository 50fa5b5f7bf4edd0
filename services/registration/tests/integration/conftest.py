from datetime import datetime, timezone

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from loket.clock import ManualClock
from loket.crypto import Keyring
from loket.testing import migrated
from registration.service import RegistrationService

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def service_config(amqp_uri, database_url):
    """The service's config, on a database migrated already (a test may fill tables before it starts)."""
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": migrated(RegistrationService, database_url),
        "ENCRYPTION_KEYS": Keyring.generate_key(),
        "RETRY_DELAYS_MS": [100, 200],
    }


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def start_registration(start_service, service_config, clock):
    """start(**config overrides) -> the running container, on the test clock."""
    def start(**overrides):
        return start_service(RegistrationService, {**service_config, **overrides}, clock=clock, migrate=False)
    return start


@pytest.fixture
def rpc(service_config):
    with ServiceRpcProxy("registration", service_config) as proxy:
        yield proxy
