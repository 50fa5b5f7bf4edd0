"""The Mailer against fake transports: sent once, retried with backoff, parked, crash-safe."""
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from loket.clock import ManualClock, utcnow
from notification import email_log
from notification.delivery import RetryPolicy
from notification.emails import Kind
from notification.models import EmailLogEntry
from notification.rendering import render
from notification.samples import sample_email
from notification.sender import Mailer
from notification.settings import SenderSettings
from notification.transport import (
    PermanentMailError, TransientMailError, build_message, message_id,
)

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class FakeTransport:
    """Records what it is given; raises the scripted errors first, one per send."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.sent = []
        self.sessions = 0

    @contextmanager
    def session(self):
        self.sessions += 1
        yield self

    def send(self, message):
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)


def mailer(db, transport, lease=60.0, max_attempts=3, base_delay=0.05, max_delay=0.2):
    settings = SenderSettings(
        sender="Loket <noreply@loket.test>", interval=0.1, batch=50, concurrency=4, lease=lease,
        policy=RetryPolicy(max_attempts=max_attempts, base_delay=base_delay, max_delay=max_delay))
    return Mailer(db, transport, settings, ManualClock(NOW))


def queue(db, key="evt-1:dossier_flagged", kind=Kind.DOSSIER_FLAGGED, **changes):
    email = replace(sample_email(kind, "en"), idempotency_key=key, **changes)
    with db.transaction() as session:
        email_log.queue(session, [email], event_id="evt-1", now=NOW, wall_now=utcnow())
    return email


def entry(db, key="evt-1:dossier_flagged"):
    with db.transaction() as session:
        return session.scalar(select(EmailLogEntry).where(EmailLogEntry.idempotency_key == key))


def test_a_queued_email_is_sent_once_and_logged(db):
    email = queue(db)
    transport = FakeTransport()
    sender = mailer(db, transport)
    assert sender.send_due() == 1
    assert sender.send_due() == 0
    [message] = transport.sent
    assert message["To"] == email.recipient
    assert message["Message-ID"] == message_id(email.idempotency_key, "loket.test")
    assert message["Date"] == "Mon, 01 Jun 2026 10:00:00 +0000"  # the service clock
    logged = entry(db)
    assert (logged.status, logged.attempts, logged.message_id) == \
        ("sent", 1, message["Message-ID"])
    assert logged.sent_at == NOW


def test_a_transient_failure_waits_for_its_backoff_then_succeeds(db):
    queue(db)
    transport = FakeTransport(TransientMailError("connection failed: ConnectionRefusedError"))
    sender = mailer(db, transport, base_delay=0.2)
    assert sender.send_due() == 1
    assert (entry(db).status, entry(db).last_error) == \
        ("queued", "TransientMailError: connection failed: ConnectionRefusedError")
    assert sender.send_due() == 0  # not before its time
    time.sleep(0.25)
    assert sender.send_due() == 1
    assert len(transport.sent) == 1
    assert (entry(db).status, entry(db).attempts) == ("sent", 2)


def test_a_permanent_failure_parks_at_once(db):
    queue(db)
    sender = mailer(db, FakeTransport(PermanentMailError("recipient refused", 550)))
    sender.send_due()
    time.sleep(0.1)
    assert sender.send_due() == 0
    assert (entry(db).status, entry(db).attempts, entry(db).last_error) == \
        ("parked", 1, "PermanentMailError: recipient refused (SMTP 550)")


def test_transient_failures_park_once_the_attempts_are_used_up(db):
    queue(db)
    down = TransientMailError("connection failed: TimeoutError")
    transport = FakeTransport(down, down, down, down)
    sender = mailer(db, transport, max_attempts=3, base_delay=0.01)
    for _ in range(10):
        sender.send_due()
        time.sleep(0.03)
    assert (entry(db).status, entry(db).attempts) == ("parked", 3)
    assert transport.sent == [] and len(transport.errors) == 1


def test_an_email_that_does_not_render_is_parked_naming_no_data(db):
    email = queue(db, kind=Kind.OFFER_RECEIVED, key="off-1:offer_received")
    with db.transaction() as session:
        stored = session.scalar(select(EmailLogEntry))
        stored.context = {k: v for k, v in email.context.items() if k != "facility_name"}
    mailer(db, FakeTransport()).send_due()
    logged = entry(db, "off-1:offer_received")
    assert (logged.status, logged.last_error) == ("parked", "UndefinedError")


def test_a_crash_during_the_smtp_conversation_resends_with_the_same_message_id(db):
    queue(db)
    transport = FakeTransport()
    sender = mailer(db, transport, lease=1.0)
    # A sender claimed the email and the server took it; then that process died before the
    # log said "sent".
    with db.transaction() as session:
        [claimed] = email_log.claim_due(session, utcnow(), 1.0, 10)
    lost = build_message(claimed.email, render(claimed.email), sender=sender.settings.sender,
                         now=NOW)
    assert sender.send_due() == 0  # leased: no other sender takes it meanwhile
    time.sleep(1.05)  # a lease long enough for a loaded machine
    assert sender.send_due() == 1
    [resent] = transport.sent
    assert resent["Message-ID"] == lost["Message-ID"]
    assert (entry(db).status, entry(db).attempts) == ("sent", 2)


def test_one_round_sends_many_emails_concurrently_each_once(db):
    for n in range(20):
        queue(db, key=f"evt-{n}:dossier_flagged")
    transport = FakeTransport()
    assert mailer(db, transport).send_due() == 20
    assert sorted(m["Message-ID"] for m in transport.sent) == \
        sorted(message_id(f"evt-{n}:dossier_flagged", "loket.test") for n in range(20))
    assert transport.sessions == 4  # one per concurrent worker, not one per email


class CountingDatabase:
    """The test database, counting the transactions begun through it."""

    def __init__(self, db):
        self.db = db
        self.transactions = 0

    def transaction(self):
        self.transactions += 1
        return self.db.transaction()


class FailingFor(FakeTransport):
    """Fails the emails to the named recipients, each with its error; sends the others."""

    def __init__(self, errors_by_recipient):
        super().__init__()
        self.errors_by_recipient = errors_by_recipient

    def send(self, message):
        error = self.errors_by_recipient.get(message["To"])
        if error is not None:
            raise error
        self.sent.append(message)


def test_a_round_records_all_its_outcomes_in_one_transaction(db):
    for n in range(12):
        queue(db, key=f"evt-{n}:dossier_flagged", recipient=f"parent{n}@example.org")
    transport = FailingFor({
        "parent3@example.org": TransientMailError("recipient refused", 451),
        "parent7@example.org": PermanentMailError("recipient refused", 550),
    })
    counting = CountingDatabase(db)
    assert mailer(counting, transport, base_delay=60, max_delay=60).send_due() == 12
    assert counting.transactions == 2  # the claim, then every outcome of the round
    statuses = {n: entry(db, f"evt-{n}:dossier_flagged") for n in range(12)}
    assert {n for n, logged in statuses.items() if logged.status == "sent"} == \
        set(range(12)) - {3, 7}
    assert all(statuses[n].sent_at == NOW and statuses[n].context is None
               and statuses[n].message_id == message_id(f"evt-{n}:dossier_flagged", "loket.test")
               for n in set(range(12)) - {3, 7})
    assert (statuses[3].status, statuses[3].last_error, statuses[3].context is not None) == \
        ("queued", "TransientMailError: recipient refused (SMTP 451)", True)
    assert (statuses[7].status, statuses[7].last_error) == \
        ("parked", "PermanentMailError: recipient refused (SMTP 550)")
    assert counting.transactions == 2
    assert mailer(counting, transport).send_due() == 0  # nothing due: the retry waits a minute


def test_outcomes_that_cannot_be_recorded_leave_the_round_claimed_until_the_lease_ends(db):
    queue(db)
    transport = FakeTransport()

    class Unrecordable:
        """Claims go through; the round's outcomes cannot be written."""

        def __init__(self):
            self.calls = 0

        def transaction(self):
            self.calls += 1
            if self.calls == 2:
                raise OperationalError("UPDATE email_log", {}, Exception("disk I/O error"))
            return db.transaction()

    assert mailer(Unrecordable(), transport, lease=1.0).send_due() == 1
    assert entry(db).status == "queued"  # still claimed: no other sender takes it meanwhile
    assert mailer(db, transport, lease=1.0).send_due() == 0
    time.sleep(1.05)
    assert mailer(db, transport).send_due() == 1
    first, resent = transport.sent
    assert first["Message-ID"] == resent["Message-ID"]
    assert (entry(db).status, entry(db).attempts) == ("sent", 2)
