"""nameko's HTTP entrypoint, made to answer JSON only and to describe itself for the OpenAPI document.

nameko's own `http` answers an exception with its type and message as plain text; here every error
goes through gateway.errors. Unknown paths and methods get a JSON 404 or 405 too, and every request
carries a body limit and a correlation id that follows the RPC calls into the services' logs.
"""
import io
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from marshmallow import Schema
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.routing import BaseConverter, Map
from werkzeug.wrappers import Request

from gateway.errors import CLIENT_ERRORS, PayloadTooLarge, error_response

DEFAULT_MAX_BODY_BYTES = 64 * 1024
IDENTIFIER_PATTERN = r"[A-Za-z0-9_-]{1,64}"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Route:
    """What the OpenAPI document says about one entrypoint."""
    summary: str
    tag: str
    responses: Mapping[int, type[Schema] | dict | None]  # status -> body schema (None: no body)
    errors: tuple[int, ...] = ()
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    authenticated: bool = True
    media_type: str = "application/json"  # of the responses in `responses`
    description: str = ""
    path_parameters: Mapping[str, str] = field(default_factory=dict)  # name -> description


class IdentifierConverter(BaseConverter):
    """`<id:name>`: an id as the services issue them; a path with anything else is not found, and
    never reaches a service (or a database) with arbitrary bytes."""
    regex = IDENTIFIER_PATTERN


class JsonWsgiApp(WsgiApp):
    """nameko's WsgiApp, answering an unknown path or method (and any fault outside a worker) in JSON."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        try:
            provider, request.path_values = self.url_map.bind_to_environ(environ).match()
            response = provider.handle_request(request)
        except Exception as exc:
            response = error_response(exc)
        return response(environ, start_response)


class JsonWebServer(WebServer):
    def process_request(self, sock, address):
        # eventlet writes a response in more than one send; with Nagle's algorithm the last one waits for
        # the client's delayed ACK (up to 40 ms on Linux) on every keep-alive request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(sock, address)

    def get_wsgi_app(self):
        return JsonWsgiApp(self)

    def make_url_map(self):
        url_map = Map(converters={"id": IdentifierConverter}, strict_slashes=False)
        for provider in self._providers:
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map

    def context_data_from_headers(self, request):
        """A client-given X-Request-ID (if well formed) or a new one: the correlation id of every log line
        and RPC call this request causes."""
        given = request.headers.get("X-Request-ID", "")
        return {"correlation_id": given if _CORRELATION_ID.match(given) else str(uuid.uuid4())}


def _buffer_chunked_body(environ, limit: int) -> None:
    """Read a chunked body (eventlet de-chunks it) up to `limit` bytes and present it as an ordinary one:
    werkzeug would otherwise see no body at all, or silently cut it at the limit."""
    stream, data = environ["wsgi.input"], b""
    while len(data) <= limit:
        chunk = stream.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise PayloadTooLarge()
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


class HttpEntrypoint(HttpRequestHandler):
    server = JsonWebServer()

    def __init__(self, method, url, route: Route, **kwargs):
        self.route = route
        kwargs.setdefault("expected_exceptions", CLIENT_ERRORS)  # logged as warnings, not as faults
        super().__init__(method, url, **kwargs)

    def handle_request(self, request: Request):
        try:
            self._check_body_size(request)
        except PayloadTooLarge as exc:
            response = error_response(exc)  # answered before any worker reads it
        else:
            response = super().handle_request(request)
        response.headers.setdefault("Cache-Control", "no-store")  # dossiers hold personal data
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    def _check_body_size(self, request: Request) -> None:
        limit = int(self.container.config.get("GATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge()
        if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            _buffer_chunked_body(request.environ, limit)

    def response_from_exception(self, exc):
        return error_response(exc)


def http(method: str, url: str, **route):
    """`@http("GET", "/dossiers/<dossier_id>", summary=..., tag=..., responses={200: Schema}, ...)`"""
    return HttpEntrypoint.decorator(method, url, Route(**route))
