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
from datetime import datetime
from email import message_from_string, policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal

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
    # Hashed, because the key contains the recipient address and a Message-ID travels far.
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_message(
    email: Email, rendered: RenderedEmail, *, sender: str, now: datetime
) -> EmailMessage:
    """multipart/alternative (text, then HTML). The Message-ID depends only on the
    idempotency key, so a resend of the same email is recognisable as such."""
    message = _with_subject(rendered.subject)
    message["From"] = sender
    message["To"] = email.recipient
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Message-ID"] = message_id(email.idempotency_key, domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    # Quoted-printable keeps both parts readable in an .eml file and within line limits.
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    # After the body: setting content clears every Content-* header.
    message["Content-Language"] = email.language
    return message


def _with_subject(subject: str) -> EmailMessage:
    """A new message whose Subject is folded by `email.header`, not by the policy: CPython
    3.11's policy folder can double a space where it folds next to an RFC 2047 encoded word
    ("Speelvogel :  répondez"). A header parsed from source is sent as written."""
    if "\r" in subject or "\n" in subject:
        raise ValueError("a subject is one line")
    charset = "us-ascii" if subject.isascii() else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep="\n")
    return message_from_string(f"Subject: {folded}\n\n", policy=policy.default)


class SmtpTransport:
    """One SMTP conversation per message: no connection state to go stale between sends."""

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

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self._converse(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise _classify_refused(error.recipients) from None
        except smtplib.SMTPAuthenticationError as error:
            # Wrong credentials are the configuration's fault, not this message's: keep
            # retrying so that fixing the configuration releases the queue.
            raise TransientMailError("authentication failed", error.smtp_code) from None
        except smtplib.SMTPResponseException as error:
            raise _by_code("server refused the message", error.smtp_code) from None
        except smtplib.SMTPNotSupportedError:
            # The server does not offer what the configuration demands (STARTTLS, AUTH):
            # never fall back to plain text; an operator fixes server or configuration.
            raise TransientMailError("server lacks a required extension") from None
        except (smtplib.SMTPException, OSError) as error:
            # Refused, dropped or timed-out connections, TLS failures: all worth a retry.
            raise TransientMailError(f"connection failed: {type(error).__name__}") from None
        if refused:
            raise _classify_refused(refused)

    def _converse(self, message: EmailMessage) -> dict:
        smtp = self._connect()
        try:
            if self.username:
                smtp.login(self.username, self._password or "")
            # Not smtp.send_message: its generator rewrites body lines starting with "From "
            # to ">From " (mbox quoting), which corrupts an SMTP message.
            envelope_from = self.sender or parseaddr(message["From"])[1]
            recipients = [address for _, address in getaddresses(message.get_all("To", []))]
            data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
            return smtp.sendmail(envelope_from, recipients, data)
        finally:
            # Once the server accepted the message, a failed QUIT must not turn into a retry
            # (that would send it twice).
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

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

    def path_for(self, message: EmailMessage) -> Path:
        identifier = message["Message-ID"]
        if not identifier:
            raise ValueError("message has no Message-ID")
        local_part = identifier.strip().strip("<>").partition("@")[0]
        if not _SAFE_NAME.fullmatch(local_part):
            raise ValueError("Message-ID is not usable as a file name")
        return self.folder / f"{local_part}.eml"

    def send(self, message: EmailMessage) -> None:
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
