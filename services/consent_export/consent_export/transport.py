"""Adapters that hand a transfer to a partner, and the retry delay between attempts.

Every transport's `send(transfer)` returns a `Delivery` or raises one of two errors, so the
caller has exactly two decisions: `TransientPartnerError` -> retry later (see `backoff`),
`RejectedByPartner` -> park the transfer with the partner's answer for an operator.
"""
import json
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import requests

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
    partner can drop a repeat. One keep-alive session per partner.
    """

    def __init__(self, base_url: str, *, username: str | None = None,
                 password: str | None = None, token: str | None = None,
                 timeout: float | tuple[float, float] = (3.05, 10.0),
                 verify: bool | str = True):
        if token is not None and username is not None:
            raise ValueError("give either username/password or a token, not both")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        # Proxies from the environment are read once here, not on every request (requests would
        # scan the whole environment per call); credentials and CA bundle come from our config.
        self._session.proxies = requests.utils.get_environ_proxies(self._base_url)
        self._session.trust_env = False
        self._session.verify = verify
        if username is not None:
            self._session.auth = (username, password)
        if token is not None:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def send(self, transfer: Transfer) -> Delivery:
        try:
            response = self._session.request(
                _METHODS[transfer.kind],
                self._url(transfer),
                json=transfer.payload,
                headers={"Idempotency-Key": transfer.idempotency_key},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except (requests.Timeout, requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientPartnerError(type(exc).__name__) from exc
        status = response.status_code
        answer = response.text[:ANSWER_LIMIT]
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
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _url(self, transfer: Transfer) -> str:
        if transfer.kind == PUSH:
            return f"{self._base_url}/dossiers"
        return f"{self._base_url}/dossiers/{quote(transfer.dossier_id, safe='')}"


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
