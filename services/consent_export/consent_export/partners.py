"""Each partner's transport, from the service configuration (config.yaml, PARTNERS).

    PARTNERS:
      kind_en_gezin: {TRANSPORT: http, URL: https://..., TOKEN: ..., TIMEOUT: 10}
      lop:           {TRANSPORT: folder}

HTTP sends personal data, so it must be HTTPS; plain http is accepted only to a loopback
address (a partner stand-in on this machine).
"""
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from consent_export.fields import PARTNERS
from consent_export.transport import FolderTransport, HttpPartnerTransport, PartnerTransport

HTTP = "http"
FOLDER = "folder"
DEFAULT_EXPORT_FOLDER = "var/exports"
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_TIMEOUT = 10.0


class ConfigurationError(ValueError):
    pass


def transports(config: Mapping, partner: str, count: int) -> list[PartnerTransport]:
    """`count` independent transports for `partner` (one per concurrent send: a requests
    session is not shared between green threads)."""
    if partner not in PARTNERS:
        raise ConfigurationError(f"unknown partner {partner!r}")
    settings = (config.get("PARTNERS") or {}).get(partner) or {}
    kind = (settings.get("TRANSPORT") or FOLDER).lower()
    if kind == FOLDER:
        folder = Path(config.get("EXPORT_FOLDER") or DEFAULT_EXPORT_FOLDER)
        return [FolderTransport(folder)] * count
    if kind != HTTP:
        raise ConfigurationError(f"{partner}: TRANSPORT must be {HTTP!r} or {FOLDER!r}")
    url = settings.get("URL")
    if not url:
        raise ConfigurationError(f"{partner}: URL is required for the http transport")
    _check_secure(partner, url)
    timeout = (float(settings.get("CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT),
               float(settings.get("TIMEOUT") or DEFAULT_TIMEOUT))
    options = {
        "username": _text(settings.get("USERNAME")),
        "password": _text(settings.get("PASSWORD")),
        "token": _text(settings.get("TOKEN")),
        "timeout": timeout,
        "verify": _text(settings.get("CA_BUNDLE")) or True,
    }
    try:
        return [HttpPartnerTransport(url, **options) for _ in range(count)]
    except ValueError as exc:
        raise ConfigurationError(f"{partner}: {exc}") from None


def longest_send(config: Mapping) -> float:
    """The longest one HTTP attempt may take: a lease must outlast it."""
    longest = 0.0
    for settings in (config.get("PARTNERS") or {}).values():
        settings = settings or {}
        longest = max(longest, float(settings.get("CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT)
                      + float(settings.get("TIMEOUT") or DEFAULT_TIMEOUT))
    return longest or DEFAULT_CONNECT_TIMEOUT + DEFAULT_TIMEOUT


def _text(value) -> str | None:
    # nameko reads an environment value as YAML: a numeric password arrives as a number.
    return None if value is None or value == "" else str(value)


def _check_secure(partner: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _loopback(parts.hostname):
        return
    raise ConfigurationError(f"{partner}: URL must be https:// (plain http only to a loopback address)")


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
