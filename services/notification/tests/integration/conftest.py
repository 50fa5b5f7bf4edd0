import datetime as dt
import ipaddress
import socket
import ssl
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nameko.standalone.rpc import ServiceRpcProxy

from loket.clock import ManualClock
from loket.testing import base_config, free_port


class Mailbox:
    """aiosmtpd handler: keeps what arrives; answers RCPT with a scripted reply per address."""

    def __init__(self):
        self.messages = []
        self.envelope_senders = []
        self.peers = []  # the client end of the connection each message came over
        self.rcpt_replies = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelope_senders.append(envelope.mail_from)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


class SmtpServers:
    """Starts real SMTP servers for one test and stops whatever is still running after it."""

    def __init__(self):
        self.mailbox = Mailbox()
        self._running = []

    def start(self, port=None, **kwargs) -> Controller:
        controller = Controller(self.mailbox, hostname="127.0.0.1", port=port or free_port(),
                                **kwargs)
        controller.start()
        self._running.append(controller)
        return controller

    def stop(self, controller):
        self._running.remove(controller)
        controller.stop()

    def stop_all(self):
        while self._running:
            self.stop(self._running[-1])


@pytest.fixture
def smtp():
    servers = SmtpServers()
    yield servers
    servers.stop_all()


@pytest.fixture
def unused_port():
    return free_port()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert_path, key_path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def server_tls_context(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def client_tls_context(certificate):
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def smtp_login():
    """(username, password, aiosmtpd authenticator accepting exactly them)"""
    username, password = "loket", "s3cret"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (username.encode(), password.encode())
        return AuthResult(success=ok, handled=False)

    return username, password, authenticator


@pytest.fixture
def dropping_server():
    """Accepts TCP connections and closes them at once, before any SMTP greeting."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


# -- the notification service (and registration) in real nameko containers ------------------------
NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.timezone.utc)  # Brussels: 1 June 2026, 10:00



@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def mail_server(smtp):
    """A real SMTP server (aiosmtpd) the service sends to; `smtp.mailbox` holds what arrived."""
    return smtp.start()


@pytest.fixture
def notification_config(amqp_uri, sqlite_url, mail_server):
    return {
        **base_config(amqp_uri, sqlite_url),
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mail_server.port,
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": 5,
        "MAIL_SENDER": "Lokaal Loket <noreply@loket.test>",
        "SEND_INTERVAL": 0.1,
        "SEND_LEASE_SECONDS": 30,
        "SEND_RETRY_BASE_SECONDS": 0.1,
        "SEND_RETRY_MAX_SECONDS": 0.4,
        "SEND_MAX_ATTEMPTS": 50,
        "REMINDER_WEEKS_BEFORE": 4,
        "SITE_PORTAL_URL": "https://loket.test/",
        "SITE_CONFIRM_EMAIL_URL": "https://loket.test/confirm-email",
        "SITE_HELPDESK_EMAIL": "helpdesk@loket.test",
        "CONFIRMATION_SECRET": "integration test secret",
    }


@pytest.fixture
def start_notification(start_service, notification_config, clock):
    """start(**config overrides) -> the running container, migrated, on the test clock."""
    from notification.service import NotificationService

    def start(**overrides):
        return start_service(NotificationService, {**notification_config, **overrides}, clock=clock)
    return start


@pytest.fixture
def notification_rpc(notification_config):
    with ServiceRpcProxy("notification", notification_config) as proxy:
        yield proxy


@pytest.fixture
def start_registration(start_service, amqp_uri, tmp_path, clock):
    """The real registration service, producing the events notification consumes."""
    from loket.crypto import Keyring
    from registration.service import RegistrationService

    config = base_config(amqp_uri, f"sqlite:///{tmp_path / 'registration.sqlite'}",
                         ENCRYPTION_KEYS=Keyring.generate_key())

    def start():
        start_service(RegistrationService, config, clock=clock)
        return ServiceRpcProxy("registration", config)
    return start
