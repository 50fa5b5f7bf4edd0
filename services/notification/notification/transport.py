"""Outgoing mail: build the MIME message, hand it to SMTP or to an .eml folder.

Errors are sorted for the retry policy: `TransientMailError` (try again later) versus
`PermanentMailError` (park it; the same message will fail the same way). Neither carries
the server's reply text, which often echoes the recipient address.
"""
import hashlib
import os
import re
import smtplib
import ssl
import tempfile
from contextlib import contextmanager
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, getaddresses, parseaddr
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


def build_message(email: Email, rendered: RenderedEmail, *, sender: str, now: datetime) -> Message:
    """multipart/alternative (text, then HTML). The Message-ID depends only on the
    idempotency key, so a resend of the same email is recognisable as such.

    Built with the classic (compat32) MIME classes: EmailMessage with the modern policy parses
    every header it is given and costs several times as much per message, which caps the
    sender (bench/notification_throughput.py). Every header value here is ours or checked
    (the recipient by emails.deliverable_address, the subject below)."""
    if "\r" in rendered.subject or "\n" in rendered.subject:
        raise ValueError("a subject is one line")
    message = MIMEMultipart("alternative")
    message["Subject"] = _subject(rendered.subject)
    message["From"] = sender
    message["To"] = email.recipient
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Message-ID"] = message_id(email.idempotency_key, domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message["Content-Language"] = email.language
    message.attach(_part(rendered.text, "plain"))
    message.attach(_part(rendered.html, "html"))
    return message


def _subject(subject: str) -> Header:
    """Folded by `email.header`, not by the modern policy: CPython 3.11's policy folder can
    double a space where it folds next to an RFC 2047 encoded word ("Speelvogel :  répondez")."""
    charset = "us-ascii" if subject.isascii() else "utf-8"
    return Header(subject, charset, header_name="Subject")


def _part(text: str, subtype: str) -> MIMEText:
    # Quoted-printable keeps both parts readable in an .eml file and within line limits.
    charset = Charset("utf-8")
    charset.body_encoding = QP
    part = MIMEText(text, subtype, charset)
    del part["MIME-Version"]  # once, on the whole message
    return part


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

    def send(self, message: Message) -> None:
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

    def send(self, message: Message) -> None:
        try:
            refused = self._transaction(message)
        except (smtplib.SMTPException, OSError) as error:
            self.close()  # whatever went wrong, the next message starts on a fresh connection
            raise _mail_error(error) from None
        if refused:
            raise _classify_refused(refused)

    def _transaction(self, message: Message) -> dict:
        if self._smtp is None:
            self._smtp = self.transport._connect()
            if self.transport.username:
                self._smtp.login(self.transport.username, self.transport._password or "")
        # Not smtp.send_message: its generator rewrites body lines starting with "From "
        # to ">From " (mbox quoting), which corrupts an SMTP message.
        envelope_from = self.transport.sender or parseaddr(message["From"])[1]
        recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        return self._smtp.sendmail(envelope_from, recipients, data)

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

    def path_for(self, message: Message) -> Path:
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

    def send(self, message: Message) -> None:
        target = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
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
