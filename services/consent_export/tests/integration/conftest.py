import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class PartnerServer(ThreadingHTTPServer):
    """A stand-in partner on 127.0.0.1 that records every request and answers as told."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = []
        self.status = 201
        self.answer = '{"ok": true}'
        self.headers = {}
        self.delay = 0.0
        self.released = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _answer(self):
        server = self.server
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        server.requests.append({
            "method": self.command, "path": self.path, "headers": dict(self.headers),
            "json": json.loads(body) if body else None,
        })
        if server.delay:
            server.released.wait(server.delay)
        encoded = server.answer.encode()
        self.send_response(server.status)
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
def partner():
    server = PartnerServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def refused_url():
    """A URL on which nothing listens: the port was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
