"""The gateway and the registration service in real nameko containers on the real broker; the tests
talk HTTP to the gateway's real werkzeug/eventlet server with `requests`."""
import importlib
import uuid
from datetime import date

import pytest
import requests
from sqlalchemy import create_engine, text

from gateway.admin import create_staff
from gateway.entrypoints import HttpEntrypoint
from gateway.service import GatewayService
from loket.crypto import Keyring
from loket.db import normalise_url
from loket.testing import PG_ADMIN_URL
from registration.samples import sample_registration
from registration.service import RegistrationService

# Services a test may start beside registration and the gateway, as `backends`.
BACKENDS = {"matching": "MatchingService", "retention": "RetentionService"}
SERVICE_DATABASES = ("gateway", "registration", *BACKENDS)
PASSWORD = "a long passphrase for my dossier"
# Argon2's cheapest parameters: the production ones cost tens of milliseconds per hash.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8, "ARGON2_PARALLELISM": 1}


def bound_address(container) -> str:
    """The base URL of the container's web server, bound to port 0 (a free port the OS picked)."""
    for entrypoint in container.entrypoints:
        if isinstance(entrypoint, HttpEntrypoint):
            host, port = entrypoint.server._sock.getsockname()[:2]
            return f"http://{host}:{port}"
    raise LookupError("the container has no HTTP entrypoint")


@pytest.fixture
def dossier_body():
    """A valid registration body, relative to today; keyword arguments replace top-level parts."""
    def body(n=1, **changes):
        payload = sample_registration(date.today(), n)
        del payload["registered_by"]  # the gateway says who registers: the caller
        payload.update(changes)
        return payload
    return body


@pytest.fixture
def database_urls(tmp_path):
    """One database per service (their tables would collide), on SQLite."""
    return {name: f"sqlite:///{tmp_path / (name + '.sqlite')}" for name in SERVICE_DATABASES}


@pytest.fixture
def postgres_urls():
    """One fresh PostgreSQL database per service, dropped afterwards."""
    admin = create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    names = {service: f"loket_test_{service}_{uuid.uuid4().hex[:10]}" for service in SERVICE_DATABASES}
    with admin.connect() as connection:
        for name in names.values():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield {service: PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name for service, name in names.items()}
    with admin.connect() as connection:
        for name in names.values():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request):
    """Runs the test once with every service on SQLite, once on PostgreSQL (`database_urls`, `postgres_urls`)."""
    return request.getfixturevalue("database_urls" if request.param == "sqlite" else "postgres_urls")


def staff_on(api, urls, role, facility_ids=(), organisation_id=None):
    """A staff account made on the gateway database of `urls` as the admin command does, logged in."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@loket.example"
    create_staff({"DATABASE_URL": urls["gateway"], **CHEAP_ARGON2}, email, role, facility_ids, organisation_id,
                 PASSWORD)
    return api.log_in(email)


@pytest.fixture
def start_services(start_service, amqp_uri):
    """Start registration, the `backends` asked for and the gateway on the given databases, each migrated
    first; returns the gateway's base URL."""
    def start(urls, backends=(), **gateway_overrides):
        for name in backends:
            service_class = getattr(importlib.import_module(f"{name}.service"), BACKENDS[name])
            start_service(service_class, {
                "AMQP_URI": amqp_uri, "DATABASE_URL": urls[name], "WEB_SERVER_ADDRESS": "127.0.0.1:0",
            })
        start_service(RegistrationService, {
            "AMQP_URI": amqp_uri, "DATABASE_URL": urls["registration"], "ENCRYPTION_KEYS": Keyring.generate_key(),
            "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        })
        gateway = start_service(GatewayService, {
            "AMQP_URI": amqp_uri, "DATABASE_URL": urls["gateway"], "WEB_SERVER_ADDRESS": "127.0.0.1:0",
            "GATEWAY_EXPOSE_CONFIRMATION_TOKENS": True, **CHEAP_ARGON2, **gateway_overrides,
        })
        return bound_address(gateway)
    return start


@pytest.fixture
def api_on(start_services):
    """Start both services on the given databases: the gateway's Api."""
    return lambda urls, **options: Api(start_services(urls, **options))


@pytest.fixture
def api(api_on, database_urls):
    return api_on(database_urls)


@pytest.fixture
def staff(api, database_urls):
    """Create a staff account as the admin command does and log it in: its session token."""
    return lambda role, **account: staff_on(api, database_urls, role, **account)


class Api:
    """The HTTP API at `base_url`, with shortcuts for the account steps most tests start with."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()

    def request(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=15, **kwargs)

    def get(self, path, token=None, **kwargs):
        return self.request("GET", path, token, **kwargs)

    def post(self, path, token=None, **kwargs):
        return self.request("POST", path, token, **kwargs)

    def put(self, path, token=None, **kwargs):
        return self.request("PUT", path, token, **kwargs)

    def patch(self, path, token=None, **kwargs):
        return self.request("PATCH", path, token, **kwargs)

    def delete(self, path, token=None, **kwargs):
        return self.request("DELETE", path, token, **kwargs)

    def log_in(self, email, password=PASSWORD):
        response = self.post("/sessions", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def parent(self, email=None):
        """A confirmed, logged-in parent: their session token."""
        email = email or f"parent-{uuid.uuid4().hex[:8]}@example.org"
        signed_up = self.post("/accounts", json={"email": email, "password": PASSWORD})
        assert signed_up.status_code == 202, signed_up.text
        confirmed = self.post("/accounts/confirmation", json={"token": signed_up.json()["confirmation_token"]})
        assert confirmed.status_code == 204, confirmed.text
        return self.log_in(email)
