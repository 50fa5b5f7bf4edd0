import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import func, select

from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.service import REGISTRATION_EVENTS, ConsentExportService
from loket.crypto import Keyring
from loket.db import create_db_engine
from loket.tables import inbox
from loket.testing import base_config, free_port, migrated, wait_for
from registration.samples import sample_registration
from registration.service import RegistrationService


class PartnerServer(ThreadingHTTPServer):
    """A stand-in partner on 127.0.0.1 that records every request and answers as told: the next
    entry of `script` ({"status", "answer", "delay"}, each optional) if any, else `status`,
    `answer` and `delay`. Each recorded request has the status it was answered with."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = []
        self.status = 201
        self.answer = '{"ok": true}'
        self.headers = {}
        self.delay = 0.0
        self.script = []
        self.released = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def accepted(self):
        """The requests answered with 2xx, in arrival order."""
        return [request for request in list(self.requests) if 200 <= request["status"] < 300]

    def next_answer(self):
        with self._lock:
            step = self.script.pop(0) if self.script else {}
        return (step.get("status", self.status), step.get("answer", self.answer),
                step.get("delay", self.delay))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _answer(self):
        server = self.server
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        status, answer, delay = server.next_answer()
        server.requests.append({
            "method": self.command, "path": self.path, "headers": dict(self.headers),
            "json": json.loads(body) if body else None, "status": status,
        })
        if delay:
            server.released.wait(delay)
        encoded = answer.encode()
        self.send_response(status)
        for name, value in server.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format, *args):
        pass


@pytest.fixture
def partner_servers():
    """Factory of running PartnerServers, all stopped at the end of the test."""
    started = []

    def start():
        server = PartnerServer()
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def partner(partner_servers):
    return partner_servers()


@pytest.fixture
def refused_url():
    """A URL on which nothing listens: the port was free a moment ago."""
    return f"http://127.0.0.1:{free_port()}"


# -- the services ---------------------------------------------------------------------------------

PARENT = {"role": "parent", "actor_id": "account-1"}


@pytest.fixture
def kind_en_gezin(partner_servers):
    return partner_servers()


@pytest.fixture
def lop(partner_servers):
    return partner_servers()


@pytest.fixture
def consent_export_db(tmp_path):
    return f"sqlite:///{tmp_path / 'consent_export.sqlite'}"


@pytest.fixture
def consent_export_config(amqp_uri, consent_export_db, kind_en_gezin, lop, tmp_path):
    return {
        **base_config(amqp_uri, migrated(ConsentExportService, consent_export_db)),
        "PARTNERS": {
            KIND_EN_GEZIN: {"TRANSPORT": "http", "URL": kind_en_gezin.url + "/kg", "TOKEN": "kg-token",
                            "CONNECT_TIMEOUT": 1, "TIMEOUT": 1},
            LOP: {"TRANSPORT": "http", "URL": lop.url, "USERNAME": "loket", "PASSWORD": "lop-pw",
                  "CONNECT_TIMEOUT": 1, "TIMEOUT": 1},
        },
        "EXPORT_FOLDER": str(tmp_path / "exports"),
        # Fast: retries within tenths of a second, and enough of them to outlast a test's outage.
        "SEND_INTERVAL": 0.05,
        "MAX_ATTEMPTS": 40,
        "BACKOFF_BASE": 0.02,
        "BACKOFF_CAP": 0.1,
        "LOG_PSEUDONYM_KEY": "test-pseudonym-key",
    }


@pytest.fixture
def start_consent_export(start_service, consent_export_config):
    def start(**overrides):
        return start_service(ConsentExportService, {**consent_export_config, **overrides}, migrate=False)
    return start


@pytest.fixture
def registration_config(amqp_uri, tmp_path):
    url = migrated(RegistrationService, f"sqlite:///{tmp_path / 'registration.sqlite'}")
    return base_config(amqp_uri, url, ENCRYPTION_KEYS=Keyring.generate_key())


@pytest.fixture
def start_registration(start_service, registration_config):
    return lambda: start_service(RegistrationService, registration_config, migrate=False)


@pytest.fixture
def registration(registration_config):
    with ServiceRpcProxy("registration", registration_config) as proxy:
        yield proxy


@pytest.fixture
def consent_export(consent_export_config):
    with ServiceRpcProxy("consent_export", consent_export_config) as proxy:
        yield proxy


@pytest.fixture
def both_running(start_registration, start_consent_export):
    start_registration()
    start_consent_export()


@pytest.fixture
def applied(consent_export_config):
    """applied(n): wait until consent_export has taken in n registration events."""
    engine = create_db_engine(consent_export_config["DATABASE_URL"])

    def count():
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(inbox).where(
                inbox.c.consumer == REGISTRATION_EVENTS)).scalar_one()

    def wait(n, timeout=10.0):
        assert wait_for(lambda: count() >= n, timeout=timeout), f"{count()} of {n} events applied"
        return count()

    yield wait
    engine.dispose()


@pytest.fixture
def register(registration):
    """register(n, kind_en_gezin=..., lop=...): a sample dossier (with a partner) registered by a
    parent; per partner True gives consent, False refuses it, absent leaves it unanswered. Without
    keywords: the sample's consent (to Kind en Gezin only). Returns the dossier snapshot."""
    def register_dossier(n=1, **consents):
        payload = sample_registration(date.today(), n)
        if consents:
            payload["consents"] = {
                partner: {"given": given, "policy_version": "2024-05", "method": "web"}
                for partner, given in consents.items()
            }
        return registration.register_dossier(payload, PARENT)["dossier"]
    return register_dossier
