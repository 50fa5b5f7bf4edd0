"""The sender: a loop that takes due emails from the log and hands them to the transport.

One loop per service instance, in a managed green thread; a worker that queued an email
wakes it after its commit, otherwise it looks again every SEND_INTERVAL seconds. Several
instances may run: each claims its own emails (see email_log). Retries and leases run on the
wall clock, never on the injected Clock (a clock frozen by a test must not freeze delivery);
the Date header and the log's sent_at use the injected Clock like every other date.
"""
import logging
import threading
from collections import deque

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy.exc import SQLAlchemyError

from loket.clock import Clock, utcnow
from loket.db import Database
from loket.loops import run_until_stopped
from notification import email_log, settings
from notification.delivery import after_failure
from notification.rendering import render
from notification.transport import build_message

log = logging.getLogger(__name__)


class Mailer:
    """One delivery round at a time: claim due emails, send them concurrently, then record every
    outcome of the round in one transaction."""

    def __init__(self, db, transport, sender_settings: settings.SenderSettings, clock):
        self.db = db  # anything with .transaction() (loket.db.DatabaseAccess)
        self.transport = transport
        self.settings = sender_settings
        self.clock = clock

    def send_due(self) -> int:
        """Make one attempt at up to SEND_BATCH due emails; returns how many were attempted.
        SEND_CONCURRENCY workers share them, each over one transport session."""
        with self.db.transaction() as session:
            claimed = email_log.claim_due(session, utcnow(), self.settings.lease,
                                          self.settings.batch)
        if not claimed:
            return 0
        work = deque(claimed)
        outcomes = Outcomes()
        pool = eventlet.GreenPool(self.settings.concurrency)
        for _ in range(min(self.settings.concurrency, len(claimed))):
            pool.spawn_n(self._work_off, work, outcomes)
        pool.waitall()
        self._settle(outcomes)
        return len(claimed)

    def _work_off(self, work: deque, outcomes: "Outcomes") -> None:
        with self.transport.session() as connection:
            while work:
                self._deliver(work.popleft(), connection, outcomes)

    def _deliver(self, claimed: email_log.Claimed, connection, outcomes: "Outcomes") -> None:
        message_id = None
        try:
            email = claimed.email
            message = build_message(email, render(email), sender=self.settings.sender,
                                    now=self.clock.now())
            message_id = message["Message-ID"]
            connection.send(message)
        except Exception as error:  # whatever fails for one email must not stop the others
            failure = after_failure(self.settings.policy, claimed.attempts, error)
            outcomes.failed.append(email_log.Failed(claimed.id, failure, utcnow(), message_id))
            log.warning("email %s attempt %d failed (%s): %s", claimed.email.idempotency_key,
                        claimed.attempts, "parked" if failure.retry_in is None else "retrying",
                        failure.reason)
            return
        outcomes.sent.append(email_log.Sent(claimed.id, message_id, self.clock.now()))

    def _settle(self, outcomes: "Outcomes") -> None:
        # One transaction for the whole round: a commit per email cost more than the email.
        try:
            with self.db.transaction() as session:
                email_log.settle(session, outcomes.sent, outcomes.failed)
        except SQLAlchemyError:
            # The emails stay claimed; once their lease runs out they are tried again (the sent
            # ones are then resent with the same Message-ID).
            log.exception("outcome of %d email(s) not recorded",
                          len(outcomes.sent) + len(outcomes.failed))


class Outcomes:
    """What one delivery round did, recorded when the round ends."""

    def __init__(self):
        self.sent: list[email_log.Sent] = []
        self.failed: list[email_log.Failed] = []


class MailSender(DependencyProvider):
    """nameko dependency running the Mailer loop; workers get it to `wake()` it."""

    def setup(self):
        dependencies = self.container.dependencies
        self._database = next(dep for dep in dependencies if isinstance(dep, Database))
        self._clock = next(dep for dep in dependencies if isinstance(dep, Clock))
        config = self.container.config
        self.settings = settings.sender_settings(config)
        self.transport = settings.transport(config)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        self.mailer = Mailer(self._database.access, self.transport, self.settings,
                             _LiveClock(self._clock))
        self._thread = self.container.spawn_managed_thread(self._run, identifier="mail-sender")

    def _run(self):
        run_until_stopped("mail sender", self.mailer.send_due, self._stopping, self._wake, self.settings.interval,
                          lambda attempted: attempted >= self.settings.batch, expected=(SQLAlchemyError,))

    def wake(self):
        self._wake.set()

    def stop(self):
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.wait()

    def kill(self):
        self._stopping.set()
        self._wake.set()

    def get_dependency(self, worker_ctx):
        return self


class _LiveClock:
    """The Clock dependency's current clock, also after a test swapped it (set_clock)."""

    def __init__(self, provider: Clock):
        self._provider = provider

    def now(self):
        return self._provider.clock.now()
