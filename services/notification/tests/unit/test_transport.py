from dataclasses import replace
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from notification.emails import Kind
from notification.rendering import render
from notification.samples import sample_email
from notification.transport import (
    EmlFileTransport, SmtpTransport, TransientMailError, build_message, message_id,
)

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
SENDER = "Lokaal Loket Kinderopvang <noreply@loket.test>"


def built(kind=Kind.OFFER_RECEIVED, language="fr", **changes):
    email = replace(sample_email(kind, language), **changes)
    return email, build_message(email, render(email), sender=SENDER, now=NOW)


def on_the_wire(message):
    """The message as a mail server (and a mail client) reads it."""
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_message_is_text_and_html_alternatives_with_language_and_headers():
    email, sent = built()
    message = on_the_wire(sent)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    rendered = render(email)
    assert text.get_content() == rendered.text
    assert html.get_content().strip() == rendered.html.strip()
    assert message["Subject"] == rendered.subject
    assert message["To"] == email.recipient
    assert message["From"] == SENDER
    assert message["Content-Language"] == "fr"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Mon, 01 Jun 2026 10:00:00 +0000"
    assert message["MIME-Version"] == "1.0"
    assert [part["MIME-Version"] for part in message.iter_parts()] == [None, None]
    assert (text["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]) == \
        ("quoted-printable", "quoted-printable")


def test_every_line_on_the_wire_fits_the_smtp_limits():
    for kind in Kind:
        _, message = built(kind, "fr")
        wire = message.as_bytes()
        assert max(len(line) for line in wire.splitlines()) <= 78, kind


@pytest.mark.parametrize("subject", [
    # Python's own folder turned this into "Speelvogel :  répondez" (two spaces).
    "Proposition de place de Kinderdagverblijf De Speelvogel : répondez au plus tard le "
    "24 mars 2026 à 23 h 59",
    "Your childcare request is registered: please confirm your email address",
    "Crèche « Les Petits Émerveillés » à Saint-Josse-ten-Noode : répondez au plus tard le "
    "1er décembre 2026 à 23 h 59, s'il vous plaît, merci beaucoup",
    "short",
])
def test_subject_survives_the_wire_exactly_and_within_line_limits(subject):
    email = sample_email(Kind.OFFER_RECEIVED, "fr")
    rendered = replace(render(email), subject=subject)
    wire = build_message(email, rendered, sender=SENDER, now=NOW).as_bytes()
    assert message_from_bytes(wire, policy=policy.default)["Subject"] == subject
    assert max(len(line) for line in wire.splitlines()) <= 78


def test_bodies_travel_as_crlf_quoted_printable_whatever_their_line_ends():
    email = sample_email(Kind.DOSSIER_FLAGGED, "fr")
    text = "Ligne 1\r\nLigne 2\rLigne 3  \n\tx = y\n.\nFrom here\n" + "é" * 120 + "\n"
    message = build_message(email, replace(render(email), text=text, html="<p>" + "à" * 200),
                            sender=SENDER, now=NOW)
    lines = message.wire.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 78
    assert message.recipients == (email.recipient,)
    parsed = message_from_bytes(message.wire, policy=policy.default)
    plain, html = parsed.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == \
        "Ligne 1\nLigne 2\nLigne 3  \n\tx = y\n.\nFrom here\n" + "é" * 120 + "\n"
    assert html.get_content().replace("\r\n", "\n") == "<p>" + "à" * 200
    assert message.as_bytes() == message.wire.replace(b"\r\n", b"\n")


def test_a_subject_with_a_line_break_is_refused():
    email = sample_email(Kind.OFFER_RECEIVED, "fr")
    with pytest.raises(ValueError):
        build_message(email, replace(render(email), subject="a\r\nBcc: x@example.org"),
                      sender=SENDER, now=NOW)


def test_message_id_follows_the_idempotency_key_and_hides_its_cause():
    email, first = built()
    _, again = built()
    _, other = built(idempotency_key="another:offer_received")
    assert first["Message-ID"] == again["Message-ID"] == message_id(email.idempotency_key,
                                                                    "loket.test")
    assert other["Message-ID"] != first["Message-ID"]
    assert first["Message-ID"].endswith("@loket.test>")
    assert "off-0099" not in first["Message-ID"]


def test_eml_folder_holds_one_complete_file_per_email(tmp_path):
    transport = EmlFileTransport(tmp_path / "outbox")
    _, message = built()
    transport.send(message)
    transport.send(message)  # a resend replaces, never duplicates
    _, other = built(Kind.CONSENT_GIVEN, "nl")
    transport.send(other)

    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == sorted([transport.path_for(message).name, transport.path_for(other).name])
    assert all(name.endswith(".eml") for name in files)
    parsed = message_from_bytes(transport.path_for(message).read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == message["Message-ID"]
    on_disk = parsed.get_body(("plain",)).get_content()
    assert on_disk == on_the_wire(message).get_body(("plain",)).get_content().replace("\n", "\r\n")


def test_eml_folder_that_cannot_be_written_is_a_transient_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(TransientMailError):
        EmlFileTransport(blocker).send(built()[1])


def test_eml_transport_refuses_a_message_id_unfit_for_a_file_name(tmp_path):
    _, message = built()
    message = replace(message, headers=tuple(
        (name, "<../../etc/passwd@x>" if name == "Message-ID" else value)
        for name, value in message.headers))
    with pytest.raises(ValueError):
        EmlFileTransport(tmp_path).send(message)
    assert list(tmp_path.iterdir()) == []


def test_unknown_smtp_security_is_a_configuration_error():
    with pytest.raises(ValueError):
        SmtpTransport("localhost", 25, security="ssl")
