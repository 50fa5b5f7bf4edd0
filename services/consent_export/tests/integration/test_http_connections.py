"""HttpPartnerTransport's connections: kept alive, replaced when the partner closed them, TLS
verified against the configured CA bundle, and an HTTPS proxy from the environment."""
import datetime
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consent_export.fields import LOP
from consent_export.transfers import PUSH, Transfer
from consent_export.transport import HttpPartnerTransport, TransientPartnerError
from loket.testing import TcpProxy


def transfer(key):
    return Transfer(idempotency_key=key, partner=LOP, dossier_id="dos-1", kind=PUSH,
                    payload={"dossier_id": "dos-1", "applicant": {"email": "an@example.org"}},
                    field_names=(), consent_id="con-1", payload_hash=None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.client_address, self.headers["Idempotency-Key"], json.loads(body)))
        answer = b'{"ok": true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        # An idle timeout of zero: closed at once, without announcing it (no Connection: close).
        self.close_connection = self.server.close_idle

    def log_message(self, format, *args):
        pass


class Partner(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls=None, close_idle=False):
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.seen = []
        self.close_idle = close_idle
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]


@pytest.fixture
def partners():
    started = []

    def start(**options):
        started.append(Partner(**options))
        return started[-1]

    yield start
    for partner in started:
        partner.shutdown()
        partner.server_close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA (its PEM file is the CA bundle) and a server context with a certificate it signed
    for localhost (not for 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, public_key, signing_key, ca, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loket test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name,
                         server_key.public_key(), ca_key, ca=False,
                         names=[x509.DNSName("localhost")])
    bundle = folder / "ca.pem"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(server.public_bytes(serialization.Encoding.PEM) + server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return str(bundle), context


def test_one_connection_carries_one_transfer_after_the_other(partners):
    partner = partners()
    with HttpPartnerTransport(f"http://127.0.0.1:{partner.port}", timeout=2) as transport:
        for n in range(3):
            transport.send(transfer(f"evt-{n}:lop"))

    assert [key for _, key, _ in partner.seen] == ["evt-0:lop", "evt-1:lop", "evt-2:lop"]
    assert len({client for client, _, _ in partner.seen}) == 1


def test_a_connection_the_partner_closed_while_idle_is_replaced_without_failing_a_transfer(partners):
    partner = partners(close_idle=True)
    with HttpPartnerTransport(f"http://127.0.0.1:{partner.port}", timeout=2) as transport:
        transport.send(transfer("evt-1:lop"))
        time.sleep(0.3)  # the partner has closed it by now
        transport.send(transfer("evt-2:lop"))

    assert [key for _, key, _ in partner.seen] == ["evt-1:lop", "evt-2:lop"]
    assert len({client for client, _, _ in partner.seen}) == 2


def test_https_with_the_configured_ca_bundle(partners, certificates):
    bundle, server_context = certificates
    partner = partners(tls=server_context)

    with HttpPartnerTransport(f"https://localhost:{partner.port}/api", token="t", timeout=2,
                              verify=bundle) as transport:
        assert transport.send(transfer("evt-1:lop")).status == 201

    [(_, key, payload)] = partner.seen
    assert (key, payload["dossier_id"]) == ("evt-1:lop", "dos-1")


@pytest.mark.parametrize("host, verify", [
    ("localhost", True),          # certifi's bundle does not know our test CA
    ("127.0.0.1", "bundle"),      # a name the certificate does not carry
])
def test_a_certificate_that_does_not_verify_sends_nothing(partners, certificates, host, verify):
    bundle, server_context = certificates
    partner = partners(tls=server_context)

    with HttpPartnerTransport(f"https://{host}:{partner.port}", timeout=2,
                              verify=bundle if verify == "bundle" else verify) as transport:
        with pytest.raises(TransientPartnerError) as raised:
            transport.send(transfer("evt-1:lop"))

    assert "SSL" in raised.value.reason or "Certificate" in raised.value.reason
    assert partner.seen == []


class ConnectProxy:
    """An HTTP proxy that only tunnels (CONNECT), recording each request head."""

    def __init__(self):
        self.heads = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        self.heads.append(head.decode())
        host, port = head.split()[1].decode().rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=TcpProxy._pipe, args=(source, target), daemon=True).start()

    def close(self):
        self._listener.close()


def test_an_https_partner_is_reached_through_the_proxy_of_the_environment(partners, certificates,
                                                                          monkeypatch):
    bundle, server_context = certificates
    partner = partners(tls=server_context)
    proxy = ConnectProxy()
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://loket:s%40cret@127.0.0.1:{proxy.port}")
    try:
        with HttpPartnerTransport(f"https://localhost:{partner.port}", timeout=2, verify=bundle) as transport:
            assert transport.send(transfer("evt-1:lop")).status == 201
    finally:
        proxy.close()

    [head] = proxy.heads
    assert head.startswith(f"CONNECT localhost:{partner.port} HTTP/1.")
    assert "Proxy-Authorization: Basic bG9rZXQ6c0BjcmV0" in head  # loket:s@cret
    assert [key for _, key, _ in partner.seen] == ["evt-1:lop"]
