"""Adapters that hand a transfer to a partner, and the retry delay between attempts.

Every transport's `send(transfer)` returns a `Delivery` or raises one of two errors, so the
caller has exactly two decisions: `TransientPartnerError` -> retry later (see `backoff`),
`RejectedByPartner` -> park the transfer with the partner's answer for an operator.
"""
import base64
import http.client
import json
import os
import random
import re
import socket
import ssl
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import certifi
from eventlet.patcher import original

from consent_export.transfers import DELETE, PUSH, UPDATE, Transfer

# The partner's answer goes to the transfer log, not to an unbounded column.
ANSWER_LIMIT = 500

_METHODS = {PUSH: "POST", UPDATE: "PUT", DELETE: "DELETE"}
_SAFE_KEY = re.compile(r"[A-Za-z0-9._:-]+")


@dataclass(frozen=True)
class Delivery:
    """A transfer the partner accepted: HTTP status (None for a folder) and a short answer."""

    status: int | None
    answer: str


class PartnerError(Exception):
    pass


class TransientPartnerError(PartnerError):
    """The partner may accept the same transfer later: timeout, connection error, 5xx, 429."""

    def __init__(self, reason: str, status: int | None = None, answer: str = "",
                 retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.answer = answer
        self.retry_after = retry_after


class RejectedByPartner(PartnerError):
    """The partner refused the transfer; sending it again would not change that."""

    def __init__(self, status: int, answer: str):
        super().__init__(f"partner rejected the transfer with HTTP {status}")
        self.status = status
        self.answer = answer


class PartnerTransport(Protocol):
    def send(self, transfer: Transfer) -> Delivery: ...


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential, full jitter.

    Full jitter spreads the retries of many dossiers over the whole window, so a partner that
    comes back is not hit by all of them at once.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # The exponent is bounded so a long outage cannot overflow the float.
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return rng.uniform(0, ceiling)


class HttpPartnerTransport:
    """JSON over HTTPS to a partner: POST {base}/dossiers to push, PUT or DELETE
    {base}/dossiers/{dossier_id} to update or delete, each with an Idempotency-Key header so the
    partner can drop a repeat. One keep-alive connection per transport (the sender gives each
    concurrent send its own transport).

    Built on the standard library's http.client, which requests and urllib3 use underneath, without
    their per-request layers (settings merged per call, cookies, hooks, redirects, a pool that asks
    the event loop whether a connection is still open): those cost about 0.8 ms of CPU per transfer,
    more than the rest of a transfer (bench/results/consent_export.md). What is kept: the
    certificate and host name verified against CA_BUNDLE or certifi's bundle (as requests does),
    separate connect and read timeouts, no redirect followed, a connection the partner closed
    while idle replaced before it is used, an HTTPS proxy from the environment (HTTPS_PROXY,
    NO_PROXY) by a CONNECT tunnel; a loopback partner (plain http) is reached directly.
    """

    def __init__(self, base_url: str, *, username: str | None = None,
                 password: str | None = None, token: str | None = None,
                 timeout: float | tuple[float, float] = (3.05, 10.0),
                 verify: bool | str = True):
        if token is not None and username is not None:
            raise ValueError("give either username/password or a token, not both")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/")
        self._connect_timeout, self._read_timeout = (
            timeout if isinstance(timeout, tuple) else (timeout, timeout))
        self._context = _tls_context(verify) if self._https else None
        # Read once here, not per request; only an HTTPS partner goes through a proxy.
        self.proxy = _environment_proxy(parts) if self._https else None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "loket-consent-export"}
        if username is not None:
            self._headers["Authorization"] = _basic(username, password)
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: http.client.HTTPConnection | None = None

    def send(self, transfer: Transfer) -> Delivery:
        # As requests' json=: default separators, ASCII escapes, no NaN.
        body = json.dumps(transfer.payload, allow_nan=False).encode("utf-8")
        headers = {**self._headers, "Idempotency-Key": transfer.idempotency_key}
        try:
            connection = self._open()
            connection.request(_METHODS[transfer.kind], self._target(transfer), body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, reset, TLS, garbage
            self.close()
            raise TransientPartnerError(type(exc).__name__) from exc
        status = response.status
        answer = content.decode(response.headers.get_content_charset() or "utf-8", "replace")[:ANSWER_LIMIT]
        if 200 <= status < 300:
            return Delivery(status, answer)
        if transfer.kind == DELETE and status in (404, 410):
            # The partner holds nothing for this dossier: what the delete asked for is true.
            return Delivery(status, answer)
        if status == 429 or status >= 500:
            raise TransientPartnerError(
                f"HTTP {status}", status, answer, _retry_after(response.headers.get("Retry-After"))
            )
        # Other 4xx, and a redirect nobody configured, will not heal by themselves.
        raise RejectedByPartner(status, answer)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _open(self) -> http.client.HTTPConnection:
        """The connection of the last transfer if it is still open (the partner closes an idle
        one, or asked to close it), else a new one."""
        connection = self._connection
        if connection is not None and connection.sock is not None and _still_open(connection.sock):
            return connection
        self.close()
        if self.proxy is not None:
            connection = http.client.HTTPSConnection(*self.proxy.address, timeout=self._connect_timeout,
                                                     context=self._context)
            connection.set_tunnel(self._host, self._port, headers=self.proxy.headers)
        elif self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout,
                                                     context=self._context)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        self._connection = connection
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sock.settimeout(self._read_timeout)
        return connection

    def _target(self, transfer: Transfer) -> str:
        if transfer.kind == PUSH:
            return f"{self._path}/dossiers"
        return f"{self._path}/dossiers/{quote(transfer.dossier_id, safe='')}"


@dataclass(frozen=True)
class Proxy:
    address: tuple[str, int]
    headers: dict


def _environment_proxy(parts) -> Proxy | None:
    proxies = urllib.request.getproxies_environment()
    url = proxies.get(parts.scheme) or proxies.get("all")
    if not url or urllib.request.proxy_bypass_environment(parts.netloc, proxies):
        return None
    proxy = urlsplit(url if "://" in url else f"http://{url}")
    if proxy.scheme != "http" or not proxy.hostname:
        raise ValueError(f"{parts.scheme.upper()}_PROXY: only an http:// proxy is supported (CONNECT)")
    headers = {}
    if proxy.username is not None:
        headers["Proxy-Authorization"] = _basic(unquote(proxy.username), unquote(proxy.password or ""))
    return Proxy((proxy.hostname, proxy.port or 80), headers)


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """`verify`: True (certifi's bundle) or the path of a CA bundle; never off (personal data)."""
    if verify is not True and not isinstance(verify, str):
        raise ValueError("verify is True or a CA bundle path: a partner's certificate is always checked")
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else certifi.where())


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("latin-1")).decode("ascii")


# The real select: a connection's check must not wait for the event loop (eventlet's green
# select would switch to the hub and back, which costs more than the check).
_select = original("select").select


def _still_open(sock) -> bool:
    """An idle keep-alive connection has nothing to read: readable means closed by the partner
    (or something unasked for arrived), so it is not used again."""
    try:
        readable, _, _ = _select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class FolderTransport:
    """The embedded default: each transfer becomes `{folder}/{partner}/{idempotency key}.json`.

    The file appears whole or not at all (temporary file, fsync, rename), and a repeat of the
    same transfer overwrites its own file, so a reader never sees a half transfer or a double.
    """

    def __init__(self, folder: str | os.PathLike):
        self._folder = Path(folder)

    def send(self, transfer: Transfer) -> Delivery:
        if not _SAFE_KEY.fullmatch(transfer.idempotency_key):
            raise ValueError("idempotency key is not usable as a file name")
        document = {
            "idempotency_key": transfer.idempotency_key,
            "kind": transfer.kind,
            "dossier_id": transfer.dossier_id,
            "payload": transfer.payload,
        }
        directory = self._folder / transfer.partner
        target = directory / f"{transfer.idempotency_key}.json"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_atomically(directory, target, json.dumps(document, ensure_ascii=False))
        except OSError as exc:
            raise TransientPartnerError(type(exc).__name__) from exc
        return Delivery(None, target.name)


def _write_atomically(directory: Path, target: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP date falls back to the caller's own backoff.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
