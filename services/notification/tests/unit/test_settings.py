from pathlib import Path

import pytest

from loket.config import load_config
from notification import settings
from notification.transport import EmlFileTransport, SmtpTransport

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def test_the_shipped_config_runs_on_the_embedded_defaults(monkeypatch):
    for name in ("MAIL_TRANSPORT", "MAIL_FOLDER", "MAIL_SENDER", "CONFIRMATION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(CONFIG)
    transport = settings.transport(config)
    assert isinstance(transport, EmlFileTransport) and transport.folder == Path("var/mail")
    sender = settings.sender_settings(config)
    assert sender.sender == "Lokaal Loket Kinderopvang Brussel <noreply@kinderopvanginbrussel.be>"
    assert (sender.policy.max_attempts, sender.lease) == (12, 300.0)
    assert settings.site(config).confirmation_secret
    assert settings.reminder_weeks_before(config) == 4


def test_smtp_settings_reach_the_transport():
    transport = settings.transport({
        "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "mail.example.org", "SMTP_PORT": "465",
        "SMTP_SECURITY": "tls", "SMTP_USERNAME": "loket", "SMTP_PASSWORD": " pass word ",
        "SMTP_TIMEOUT": 12, "MAIL_BOUNCE_ADDRESS": "bounces@example.org"})
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.security, transport.username) == \
        ("mail.example.org", 465, "tls", "loket")
    assert (transport._password, transport.timeout, transport.sender) == \
        (" pass word ", 12.0, "bounces@example.org")


def test_no_login_without_a_username():
    transport = settings.transport({"MAIL_TRANSPORT": "smtp", "SMTP_USERNAME": None,
                                    "SMTP_PASSWORD": None, "SMTP_SECURITY": "starttls"})
    assert transport.username is None


@pytest.mark.parametrize("config", [
    {"MAIL_TRANSPORT": "carrier-pigeon"},
    {"MAIL_TRANSPORT": "smtp", "SMTP_SECURITY": "ssl"},
])
def test_an_unknown_transport_or_security_is_refused(config):
    with pytest.raises(ValueError):
        settings.transport(config)


@pytest.mark.parametrize("config", [
    {"MAIL_SENDER": "no address"},
    {"MAIL_SENDER": "a@b.be", "SEND_LEASE_SECONDS": 60, "SMTP_TIMEOUT": 30},
    {"MAIL_SENDER": "a@b.be", "SEND_CONCURRENCY": 0},
    {"MAIL_SENDER": "a@b.be", "SEND_RETRY_BASE_SECONDS": 0},
])
def test_unusable_sender_settings_are_refused_at_start(config):
    with pytest.raises(ValueError):
        settings.sender_settings(config)


def test_a_site_needs_a_confirmation_secret():
    with pytest.raises(ValueError):
        settings.site({"CONFIRMATION_SECRET": None})
