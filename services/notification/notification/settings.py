"""The service's settings, read once from the nameko config (config.yaml), checked at start."""
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Mapping

from notification.delivery import RetryPolicy
from notification.emails import Site, UndeliverableEmail, deliverable_address
from notification.transport import EmlFileTransport, SmtpTransport


@dataclass(frozen=True)
class SenderSettings:
    sender: str  # the From header, e.g. "Lokaal Loket <noreply@loket.example>"
    interval: float  # seconds the sender idles when nothing is due
    batch: int
    concurrency: int
    lease: float  # seconds a claimed email waits before another attempt may take it
    policy: RetryPolicy


def _text(config: Mapping, key: str, default: str = "") -> str:
    value = config.get(key, default)
    return "" if value is None else str(value).strip()


def site(config: Mapping) -> Site:
    secret = _text(config, "CONFIRMATION_SECRET")
    if not secret:
        raise ValueError("CONFIRMATION_SECRET is required")
    return Site(
        portal_url=_text(config, "SITE_PORTAL_URL", "http://localhost:8000/"),
        confirm_email_url=_text(config, "SITE_CONFIRM_EMAIL_URL",
                                "http://localhost:8000/confirm-email"),
        helpdesk_email=_text(config, "SITE_HELPDESK_EMAIL", "helpdesk@kinderopvanginbrussel.be"),
        confirmation_secret=secret.encode("utf-8"),
    )


def sender_settings(config: Mapping) -> SenderSettings:
    sender = _text(config, "MAIL_SENDER")
    try:
        deliverable_address(parseaddr(sender)[1])  # the Message-ID domain comes from it
    except UndeliverableEmail:
        raise ValueError("MAIL_SENDER needs an address such as Name <noreply@example.org>")
    settings = SenderSettings(
        sender=sender,
        interval=float(config.get("SEND_INTERVAL", 1.0)),
        batch=int(config.get("SEND_BATCH", 50)),
        concurrency=int(config.get("SEND_CONCURRENCY", 8)),
        lease=float(config.get("SEND_LEASE_SECONDS", 300)),
        policy=RetryPolicy(
            max_attempts=int(config.get("SEND_MAX_ATTEMPTS", 12)),
            base_delay=float(config.get("SEND_RETRY_BASE_SECONDS", 5)),
            max_delay=float(config.get("SEND_RETRY_MAX_SECONDS", 1800)),
        ),
    )
    if settings.interval <= 0 or settings.batch < 1 or settings.concurrency < 1:
        raise ValueError("SEND_INTERVAL, SEND_BATCH and SEND_CONCURRENCY must be positive")
    # A lease shorter than one SMTP conversation could let a second sender resend an email
    # whose first conversation is still running.
    if settings.lease <= 2 * smtp_timeout(config):
        raise ValueError("SEND_LEASE_SECONDS must exceed twice SMTP_TIMEOUT")
    return settings


def smtp_timeout(config: Mapping) -> float:
    return float(config.get("SMTP_TIMEOUT", 30))


def transport(config: Mapping) -> SmtpTransport | EmlFileTransport:
    kind = _text(config, "MAIL_TRANSPORT", "folder")
    if kind == "folder":
        return EmlFileTransport(_text(config, "MAIL_FOLDER", "var/mail"))
    if kind != "smtp":
        raise ValueError(f"MAIL_TRANSPORT must be smtp or folder, not {kind!r}")
    ca_file = _text(config, "SMTP_CA_FILE")
    return SmtpTransport(
        host=_text(config, "SMTP_HOST", "localhost"),
        port=int(config.get("SMTP_PORT", 587)),
        security=_text(config, "SMTP_SECURITY", "starttls"),
        username=_text(config, "SMTP_USERNAME") or None,
        password=str(config.get("SMTP_PASSWORD") or "") or None,  # spaces may belong to it
        timeout=smtp_timeout(config),
        sender=_text(config, "MAIL_BOUNCE_ADDRESS") or None,
        ssl_context=ssl.create_default_context(cafile=ca_file) if ca_file else None,
    )


def reminder_weeks_before(config: Mapping) -> int:
    weeks = int(config.get("REMINDER_WEEKS_BEFORE", 4))
    if weeks < 0:
        raise ValueError("REMINDER_WEEKS_BEFORE must not be negative")
    return weeks
