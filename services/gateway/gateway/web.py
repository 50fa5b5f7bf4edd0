"""Reading an HTTP request: the JSON body (bounded), the bearer token, the client's address."""
import ipaddress
import json

from marshmallow import Schema
from werkzeug.wrappers import Request

from gateway.accounts import NotAuthenticated
from gateway.errors import MalformedBody


def json_body(request: Request) -> dict:
    """The body as a JSON object, or MalformedBody. (The entrypoint refused an oversized body already.)"""
    try:
        body = json.loads(request.get_data(cache=True))
    except (UnicodeDecodeError, ValueError):
        raise MalformedBody() from None
    if not isinstance(body, dict):
        raise MalformedBody()
    return body


def validated_body(request: Request, schema: Schema) -> dict:
    """The JSON body as sent, once `schema` accepts it (ValidationError carries the field errors otherwise).
    The JSON as sent, not the loaded values, is what goes on to a service, which loads it itself."""
    body = json_body(request)
    schema.load(body)
    return body


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise NotAuthenticated()
    return token


def client_address(remote_addr: str, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The address login throttling counts against.

    Behind `trusted_proxies` reverse proxies each appends the address it saw to X-Forwarded-For, so
    the client is that many entries from the right; anything further left is the client's own claim
    and cannot be trusted. A malformed entry falls back to the direct peer.
    """
    if trusted_proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        if len(hops) >= trusted_proxies:
            candidate = hops[-trusted_proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return remote_addr
