"""Outgoing mail: build the MIME message, hand it to SMTP or to an .eml folder.

Errors are sorted for the retry policy: `TransientMailError` (try again later) versus
`PermanentMailError` (park it; the same message will fail the same way). Neither carries
the server's reply text, which often echoes the recipient address.
"""
import binascii
import hashlib
import os
import random
import re
import smtplib
import ssl
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal

from notification.emails import Email
from notification.rendering import RenderedEmail

Security = Literal["none", "starttls", "tls"]


class MailError(Exception):
    def __init__(self, reason: str, smtp_code: int | None = None):
        super().__init__(reason if smtp_code is None else f"{reason} (SMTP {smtp_code})")
        self.reason = reason
        self.smtp_code = smtp_code


class TransientMailError(MailError):
    """Connection refused or dropped, timeout, 4xx: the same message may go through later."""


class PermanentMailError(MailError):
    """5xx: the server refused this message or recipient for good."""


def message_id(idempotency_key: str, domain: str) -> str:
    # Hashed: a Message-ID travels far and need not say which event or request caused it.
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True)
class OutgoingMessage:
    """A built email: its headers as set (for lookups, like `email.message.Message`), its
    envelope recipients, and the message as it goes on the wire (CRLF line ends, 7-bit, every
    line within 78 characters)."""

    headers: tuple[tuple[str, str], ...]
    recipients: tuple[str, ...]
    wire: bytes

    def __getitem__(self, name: str) -> str | None:
        return next(iter(self.get_all(name, [])), None)

    def get_all(self, name: str, failobj=None):
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name] or failobj

    def as_bytes(self) -> bytes:
        """With LF line ends, as `email.message.Message.as_bytes()` gives them."""
        return self.wire.replace(b"\r\n", b"\n")


def build_message(email: Email, rendered: RenderedEmail, *, sender: str,
                  now: datetime) -> OutgoingMessage:
    """multipart/alternative (text, then HTML), each part quoted-printable UTF-8. The
    Message-ID depends only on the idempotency key, so a resend of the same email is
    recognisable as such.

    Written straight to bytes, as the classic (compat32) generator writes the same message
    (its header folding, via `email.header`, where a header needs it): building the MIME
    objects and flattening them cost three times as much as the rest of sending an email
    (bench/notification_throughput.py). Every header value here is ours or checked (the
    recipient by emails.deliverable_address, the subject below)."""
    if "\r" in rendered.subject or "\n" in rendered.subject:
        raise ValueError("a subject is one line")
    headers = (
        ("Subject", rendered.subject),
        ("From", sender),
        ("To", email.recipient),
        ("Date", format_datetime(now)),
        ("Message-ID", message_id(email.idempotency_key, _address(sender).rpartition("@")[2])),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834: no auto-replies to this
        ("Content-Language", email.language),
    )
    boundary = f"==============={random.randrange(sys.maxsize):019d}=="
    # A quoted-printable body never holds "==", so it cannot contain the boundary.
    wire = "".join((
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n',
        "MIME-Version: 1.0\r\n",
        _subject(rendered.subject),
        *(_header(name, value) for name, value in headers[1:]),
        f"\r\n--{boundary}\r\n",
    )).encode("ascii")
    wire += _part(rendered.text, "plain") + f"\r\n--{boundary}\r\n".encode("ascii") \
        + _part(rendered.html, "html") + f"\r\n--{boundary}--\r\n".encode("ascii")
    return OutgoingMessage(headers=headers, recipients=(email.recipient,), wire=wire)


def _subject(subject: str) -> str:
    """Folded by `email.header`, not by the modern policy: CPython 3.11's policy folder can
    double a space where it folds next to an RFC 2047 encoded word ("Speelvogel :  répondez")."""
    charset = "us-ascii" if subject.isascii() else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep="\r\n",
                                                                    maxlinelen=78)
    return f"Subject: {folded}\r\n"


def _header(name: str, value: str) -> str:
    if value.isascii() and len(name) + 2 + len(value) <= 78 and value.isprintable():
        return f"{name}: {value}\r\n"  # what email.header would make of it, for less
    folded = Header(value, header_name=name).encode(linesep="\r\n", maxlinelen=78)
    return f"{name}: {folded}\r\n"


def _part(text: str, subtype: str) -> bytes:
    # Quoted-printable keeps both parts readable in an .eml file and within line limits.
    # Line ends normalised as email.quoprimime does, then written as CRLF.
    body = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(body, quotetabs=False, istext=True, header=False)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") \
        + encoded.replace(b"\n", b"\r\n")


class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or neither, and an optional login.

    `send` holds one conversation per message. A sender with several messages opens a
    `session()`: one connection for all of them (connecting, TLS and login cost more than the
    message itself), closed when the session ends and at the first error, so no connection
    state outlives a delivery round or goes stale."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        sender: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout = timeout
        self.sender = sender  # envelope sender (bounces); None: the From header
        self._ssl_context = ssl_context or ssl.create_default_context()

    def send(self, message: OutgoingMessage) -> None:
        with self.session() as session:
            session.send(message)

    @contextmanager
    def session(self) -> Iterator["SmtpSession"]:
        session = SmtpSession(self)
        try:
            yield session
        finally:
            session.close()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._ssl_context
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=self._ssl_context)
            except BaseException:
                smtp.close()
                raise
        return smtp


class SmtpSession:
    """Messages sent over one connection, opened at the first message (see SmtpTransport)."""

    def __init__(self, transport: SmtpTransport):
        self.transport = transport
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: OutgoingMessage) -> None:
        try:
            refused = self._transaction(message)
        except (smtplib.SMTPException, OSError) as error:
            self.close()  # whatever went wrong, the next message starts on a fresh connection
            raise _mail_error(error) from None
        if refused:
            raise _classify_refused(refused)

    def _transaction(self, message: OutgoingMessage) -> dict:
        if self._smtp is None:
            self._smtp = self.transport._connect()
            if self.transport.username:
                self._smtp.login(self.transport.username, self.transport._password or "")
        envelope_from = self.transport.sender or _address(message["From"])
        return self._smtp.sendmail(envelope_from, list(message.recipients), message.wire)

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        # Once the server accepted a message, a failed QUIT must not turn into a retry
        # (that would send it twice).
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


@lru_cache(maxsize=16)
def _address(header_value: str) -> str:  # the sender's: one or two per deployment
    return parseaddr(header_value)[1]


def _mail_error(error: smtplib.SMTPException | OSError) -> MailError:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _classify_refused(error.recipients)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Wrong credentials are the configuration's fault, not this message's: keep
        # retrying so that fixing the configuration releases the queue.
        return TransientMailError("authentication failed", error.smtp_code)
    if isinstance(error, smtplib.SMTPResponseException):
        return _by_code("server refused the message", error.smtp_code)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        # The server does not offer what the configuration demands (STARTTLS, AUTH):
        # never fall back to plain text; an operator fixes server or configuration.
        return TransientMailError("server lacks a required extension")
    # Refused, dropped or timed-out connections, TLS failures: all worth a retry.
    return TransientMailError(f"connection failed: {type(error).__name__}")


def _classify_refused(recipients: dict) -> MailError:
    codes = [code for code, _reply in recipients.values()]
    transient = [code for code in codes if code < 500]
    # Any transient refusal is worth a retry; only an all-5xx answer is final.
    return _by_code("recipient refused", transient[0] if transient else codes[0])


def _by_code(reason: str, code: int) -> MailError:
    if 500 <= code < 600:
        return PermanentMailError(reason, code)
    return TransientMailError(reason, code)


_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class EmlFileTransport:
    """The embedded default: each message becomes `<folder>/<message-id hash>.eml`.
    Written to a temporary file and renamed, so a reader never sees half a message and a
    resend of the same email replaces its file instead of adding one."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path_for(self, message: OutgoingMessage) -> Path:
        identifier = message["Message-ID"]
        if not identifier:
            raise ValueError("message has no Message-ID")
        local_part = identifier.strip().strip("<>").partition("@")[0]
        if not _SAFE_NAME.fullmatch(local_part):
            raise ValueError("Message-ID is not usable as a file name")
        return self.folder / f"{local_part}.eml"

    @contextmanager
    def session(self) -> Iterator["EmlFileTransport"]:
        yield self  # nothing to keep open between files

    def send(self, message: OutgoingMessage) -> None:
        target = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(message.wire)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise
            _sync_folder(self.folder)
        except OSError as error:
            raise TransientMailError(f"cannot write message file: {type(error).__name__}") from None


def _sync_folder(folder: Path) -> None:
    # The rename is only durable once the folder itself is on disk: otherwise a power cut
    # could lose a message already recorded as sent.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
