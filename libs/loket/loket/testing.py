"""pytest fixtures for every service's tests: real broker (a vhost per test), real databases.

Enabled by the root conftest.py (`pytest_plugins = ["loket.testing"]`). Environment:
    LOKET_TEST_AMQP_URI     default amqp://guest:guest@127.0.0.1:5672/
    LOKET_TEST_RABBIT_API   default http://guest:guest@127.0.0.1:15672/api
    LOKET_TEST_PG_URL       default postgresql://postgres@127.0.0.1:5432/test
"""
import importlib
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import create_engine, text

from loket.contracts import envelope
from loket.contracts.retention import ERASURE_REQUESTED, batch_aggregate
from loket.db import normalise_url
from loket.migrations import upgrade

AMQP_BASE = os.environ.get("LOKET_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
RABBIT_API = os.environ.get("LOKET_TEST_RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")
PG_ADMIN_URL = os.environ.get("LOKET_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _api(method, path, **kwargs):
    response = requests.request(method, RABBIT_API + path, timeout=10, **kwargs)
    response.raise_for_status()
    return response


@contextmanager
def fresh_vhost(prefix="loket-test"):
    """A new RabbitMQ vhost the guest user has every right on, deleted on leaving: its AMQP URI."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    _api("PUT", f"/vhosts/{quote(vhost, safe='')}")
    _api("PUT", f"/permissions/{quote(vhost, safe='')}/guest",
         json={"configure": ".*", "write": ".*", "read": ".*"})
    try:
        yield AMQP_BASE.rstrip("/") + "/" + vhost
    finally:
        _api("DELETE", f"/vhosts/{quote(vhost, safe='')}")


@pytest.fixture
def amqp_uri():
    """A fresh RabbitMQ vhost for this test, deleted afterwards."""
    with fresh_vhost() as uri:
        yield uri


def queue_depth(amqp_uri, queue) -> int:
    vhost = amqp_uri.rsplit("/", 1)[1]
    return _api("GET", f"/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}").json().get("messages", 0)


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"loket_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'service.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Runs the test once on SQLite (embedded default) and once on PostgreSQL (production)."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


def set_clock(container, clock):
    """Make a running service read `clock` (e.g. a loket.clock.ManualClock)."""
    from loket.clock import Clock
    for dependency in container.dependencies:
        if isinstance(dependency, Clock):
            dependency.clock = clock
            return
    raise LookupError(f"{container.service_name} has no Clock dependency")


def alembic_ini(service_cls) -> Path:
    """The alembic.ini of the service whose package defines `service_cls`: services/<name>/alembic.ini."""
    package = importlib.import_module(service_cls.__module__.split(".")[0])
    ini = Path(package.__file__).resolve().parents[1] / "alembic.ini"
    if not ini.exists():
        raise LookupError(f"{service_cls.__name__} has no migrations: {ini} does not exist")
    return ini


def migrated(service_cls, database_url) -> str:
    """Migrate `database_url` to head with the service's own alembic.ini; returns the URL.

    A database already at head is left as it is."""
    upgrade(alembic_ini(service_cls), database_url)
    return database_url


def base_config(amqp_uri, database_url, **settings) -> dict:
    """A service's config for a test: the test's vhost and database, retries after 100 and 200 ms, the
    web server on a free port of 127.0.0.1; `settings` add to it or replace."""
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "RETRY_DELAYS_MS": [100, 200],
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", **settings}


@pytest.fixture
def start_service(container_factory):
    """start_service(ServiceClass, config, clock=None, migrate=True) -> the started nameko container.

    First migrates config["DATABASE_URL"] (`migrated`; migrate=False where the test's config fixture
    already did, so that the test could fill tables before the service starts). With `clock`, the
    running service reads that clock (`set_clock`). nameko's container_factory kills every container
    still running after the test."""
    def start(service_cls, config, clock=None, migrate=True):
        if migrate:
            migrated(service_cls, config["DATABASE_URL"])
        container = container_factory(service_cls, config)
        container.start()
        if clock is not None:
            set_clock(container, clock)
        return container
    return start


def wait_for(predicate, timeout=10.0, interval=0.05):
    import time as _time
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        if predicate():
            return True
        _time.sleep(interval)
    return bool(predicate())


def eventually(check, timeout=30.0, interval=0.25):
    """Poll `check` until it returns something truthy; return that, or fail with the last value seen."""
    import time as _time
    deadline = _time.monotonic() + timeout
    value = None
    while _time.monotonic() < deadline:
        value = check()
        if value:
            return value
        _time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s (last value: {value!r})")


def publish_raw(amqp_uri, routing_key, body, exchange="loket.events", headers=None):
    """Publish one message as a producer would (confirmed), for consumer tests."""
    import json as _json

    from kombu import Connection
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        payload = body if isinstance(body, (bytes, str)) else _json.dumps(body)
        message_id = body.get("id") if isinstance(body, dict) else None
        producer.publish(payload, exchange=exchange, routing_key=routing_key, content_type="application/json",
                         content_encoding="utf-8", delivery_mode=2, headers=headers or {}, message_id=message_id)


def drain_queue(amqp_uri, queue, expected, timeout=10.0) -> list:
    """Consume (and ack) up to `expected` messages from a queue; returns their decoded bodies."""
    import json as _json
    import time as _time

    from kombu import Connection
    bodies = []
    deadline = _time.monotonic() + timeout
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        while len(bodies) < expected and _time.monotonic() < deadline:
            message = channel.basic_get(queue=queue, no_ack=True)
            if message is None:
                _time.sleep(0.05)
                continue
            bodies.append(_json.loads(message.body))
    return bodies


class TcpProxy:
    """A TCP proxy the test can cut and restore: 'the broker is unreachable' without stopping it."""

    def __init__(self, target_host, target_port):
        import socket
        import threading
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._connections = []
        self._open = True
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):  # eventlet raises EOFError for a socket cut() closed under it
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self):
        """Refuse new connections and reset the open ones."""
        import socket
        self._open = False
        with self._lock:
            for sock in self._connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            self._connections = []

    def restore(self):
        self._open = True

    def close(self):
        self.cut()
        self._listener.close()


def erasure_requested(dossier_id, run_id="run-1", reason="retention_expired", sequence=1) -> dict:
    """A version-1 `retention.erasure_requested` (one dossier, the dossier its aggregate): the shape
    still queued from before the upgrade to batches."""
    return envelope(ERASURE_REQUESTED, {"dossier_id": dossier_id, "run_id": run_id, "reason": reason},
                    aggregate_id=dossier_id, sequence=sequence, producer="retention")


def erasure_batch_requested(run_ids, reason="retention_expired") -> dict:
    """A version-2 `retention.erasure_requested` as retention publishes it: every dossier of `run_ids`
    ({dossier id: run id}) in one request, a new batch its aggregate, sequence 1."""
    return envelope(ERASURE_REQUESTED, {"requests": [
        {"dossier_id": dossier_id, "run_id": run_id, "reason": reason} for dossier_id, run_id in run_ids.items()]},
        aggregate_id=batch_aggregate(str(uuid.uuid4())), sequence=1, producer="retention", version=2)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
