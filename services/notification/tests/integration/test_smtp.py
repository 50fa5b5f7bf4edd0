"""The transport against a real SMTP server (aiosmtpd) on 127.0.0.1."""
import itertools
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from notification.emails import LANGUAGES, Kind
from notification.rendering import render
from notification.samples import sample_email
from notification.transport import (
    PermanentMailError, SmtpTransport, TransientMailError, build_message,
)

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
SENDER = "Lokaal Loket Kinderopvang Brussel <noreply@loket.test>"
BOUNCES = "bounces@loket.test"


def message_for(kind=Kind.OFFER_RECEIVED, language="nl", recipient=None):
    email = sample_email(kind, language)
    if recipient:
        email = replace(email, recipient=recipient)
    return email, build_message(email, render(email), sender=SENDER, now=NOW)


def unix(text):
    return text.replace("\r\n", "\n")  # SMTP carries CRLF line ends


def plain(port, **kwargs):
    return SmtpTransport("127.0.0.1", port, security="none", timeout=5, sender=BOUNCES, **kwargs)


def test_every_email_arrives_in_its_language_with_subject_and_both_bodies(smtp):
    server = smtp.start()
    transport = plain(server.port)
    sent = []
    for kind, language in itertools.product(Kind, LANGUAGES):
        email, message = message_for(kind, language)
        transport.send(message)
        sent.append((email, render(email), message["Message-ID"]))

    assert len(smtp.mailbox.messages) == len(sent)
    for received, (email, rendered, message_id) in zip(smtp.mailbox.messages, sent):
        assert received["Message-ID"] == message_id
        assert received["To"] == email.recipient
        assert received["Subject"] == rendered.subject
        assert received["Content-Language"] == email.language
        assert unix(received.get_body(("plain",)).get_content()) == rendered.text
        assert unix(received.get_body(("html",)).get_content()).strip() == rendered.html.strip()


def test_bounces_go_to_the_envelope_sender_not_to_the_from_address(smtp):
    server = smtp.start()
    plain(server.port).send(message_for()[1])
    assert smtp.mailbox.envelope_senders == [BOUNCES]
    assert smtp.mailbox.messages[0]["From"] == SENDER


def test_a_stopped_server_is_transient_and_sending_works_once_it_is_back(smtp):
    server = smtp.start()
    port = server.port
    smtp.stop(server)
    _, message = message_for()
    with pytest.raises(TransientMailError):
        plain(port).send(message)

    smtp.start(port=port)
    plain(port).send(message)
    assert [m["Message-ID"] for m in smtp.mailbox.messages] == [message["Message-ID"]]


def test_a_dropped_connection_is_transient(dropping_server):
    with pytest.raises(TransientMailError):
        plain(dropping_server).send(message_for()[1])


def test_nothing_listening_is_transient(unused_port):
    with pytest.raises(TransientMailError):
        plain(unused_port).send(message_for()[1])


def test_550_for_the_recipient_is_permanent_and_names_no_address(smtp):
    server = smtp.start()
    smtp.mailbox.rcpt_replies["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such user"
    with pytest.raises(PermanentMailError) as raised:
        plain(server.port).send(message_for(recipient="gone@example.org")[1])
    assert raised.value.smtp_code == 550
    assert "gone" not in str(raised.value)
    assert smtp.mailbox.messages == []


def test_451_for_the_recipient_is_transient(smtp):
    server = smtp.start()
    smtp.mailbox.rcpt_replies["busy@example.org"] = "451 4.3.0 try again later"
    with pytest.raises(TransientMailError) as raised:
        plain(server.port).send(message_for(recipient="busy@example.org")[1])
    assert raised.value.smtp_code == 451


def test_starttls_with_login(smtp, smtp_login, server_tls_context, client_tls_context):
    username, password, authenticator = smtp_login
    server = smtp.start(tls_context=server_tls_context, require_starttls=True,
                        authenticator=authenticator, auth_require_tls=True)

    def transport(password):
        return SmtpTransport("127.0.0.1", server.port, security="starttls", username=username,
                             password=password, timeout=5, ssl_context=client_tls_context)

    email, message = message_for(Kind.START_DATE_NEAR, "en")
    transport(password).send(message)
    with pytest.raises(TransientMailError) as raised:
        transport("wrong").send(message)
    assert raised.value.smtp_code == 535
    assert [m["Subject"] for m in smtp.mailbox.messages] == [render(email).subject]


def test_starttls_refuses_a_server_it_cannot_verify(smtp, server_tls_context):
    server = smtp.start(tls_context=server_tls_context)
    untrusting = SmtpTransport("127.0.0.1", server.port, security="starttls", timeout=5)
    with pytest.raises(TransientMailError):
        untrusting.send(message_for()[1])
    assert smtp.mailbox.messages == []


def test_starttls_demanded_but_not_offered_never_falls_back_to_plain_text(smtp):
    server = smtp.start()
    transport = SmtpTransport("127.0.0.1", server.port, security="starttls", timeout=5)
    with pytest.raises(TransientMailError):
        transport.send(message_for()[1])
    assert smtp.mailbox.messages == []


def test_implicit_tls(smtp, server_tls_context, client_tls_context):
    server = smtp.start(ssl_context=server_tls_context)
    transport = SmtpTransport("127.0.0.1", server.port, security="tls", timeout=5,
                              ssl_context=client_tls_context)
    _, message = message_for(Kind.CONSENT_WITHDRAWN, "fr")
    transport.send(message)
    assert [m["Message-ID"] for m in smtp.mailbox.messages] == [message["Message-ID"]]


def test_a_session_sends_many_messages_over_one_connection(smtp):
    server = smtp.start()
    sent = [message_for(kind, "nl")[1] for kind in Kind]
    with plain(server.port).session() as session:
        for message in sent:
            session.send(message)
    assert [m["Message-ID"] for m in smtp.mailbox.messages] == [m["Message-ID"] for m in sent]
    assert len(set(smtp.mailbox.peers)) == 1


def test_after_a_refusal_the_session_goes_on_over_a_fresh_connection(smtp):
    server = smtp.start()
    smtp.mailbox.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user"
    with plain(server.port).session() as session:
        session.send(message_for(recipient="first@example.org")[1])
        with pytest.raises(PermanentMailError):
            session.send(message_for(recipient="gone@example.org")[1])
        session.send(message_for(recipient="third@example.org")[1])
    assert [m["To"] for m in smtp.mailbox.messages] == ["first@example.org", "third@example.org"]
    assert len(set(smtp.mailbox.peers)) == 2


def test_a_session_whose_server_went_away_reconnects_for_the_next_message(smtp):
    server = smtp.start()
    port = server.port
    with plain(port).session() as session:
        session.send(message_for(Kind.CONSENT_GIVEN)[1])
        smtp.stop(server)
        with pytest.raises(TransientMailError):
            session.send(message_for(Kind.CONSENT_WITHDRAWN)[1])
        smtp.start(port=port)
        session.send(message_for(Kind.DOSSIER_FLAGGED)[1])
    assert len(smtp.mailbox.messages) == 2
