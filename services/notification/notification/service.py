"""Notification service entrypoints: every email the parent is promised, exactly once.

Registration and matching (offer) events update the projection and queue emails in the
transaction of their inbox claim; the MailSender loop delivers them (retry, park); a timer
queues the start-date reminders. Operators: `parked_emails()` / `replay_email(key)` (README).
"""
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.web.handlers import http

from loket import observability  # not `import Observable`: `nameko run` would take it for a service
from loket.clock import Clock, utcnow
from loket.consumer import EventsFailed, PermanentError, batch_event_handler, event_handler
from loket.db import Database
from loket.erasure import ERASURE_BATCH, handle_erasure_requests
from loket.errors import InvalidInput
from loket.inbox import claim, claim_all
from loket.logs import LogContext
from loket.outbox import Outbox

from . import email_log, operations, settings
from .emails import LANGUAGES, Kind, UndeliverableEmail
from .rendering import render
from .samples import sample_email
from .sender import MailSender
from loket.timers import configured_timer

REGISTRATION_EVENTS = "notification.registration_events"
MATCHING_EVENTS = "notification.matching_events"
GATEWAY_EVENTS = "notification.gateway_events"
ERASURE_REQUESTS = "notification.erasure_requests"
REMINDER_BATCH = 500
# Registration events applied per transaction: a commit (and a worker) per event cost more than
# the event's own statements.
REGISTRATION_BATCH = 100
# Erasure requests per transaction: retention starts thousands at once, and a transaction, an ack
# and a broker connection per dossier cost far more than its deletes.


class NotificationService(observability.Observable):
    name = "notification"

    db = Database()
    events = Outbox()
    clock = Clock()
    mail = MailSender()
    config = Config()
    log_context = LogContext()

    # -- events -------------------------------------------------------------------------------------
    @batch_event_handler(REGISTRATION_EVENTS, batch_size=REGISTRATION_BATCH, max_wait=0.05)
    def on_registration_events(self, events):
        """A batch of registration events in one transaction, each claimed once (claim_all).
        An event whose emails cannot be built is taken out and the rest applied again without
        it; it alone is parked (EventsFailed)."""
        site = settings.site(self.config)
        undeliverable = {}
        while True:
            try:
                with self.db.transaction() as session:
                    fresh = claim_all(session, REGISTRATION_EVENTS,
                                      [event for event in events if event["id"] not in undeliverable])
                    queued = operations.apply_registration_events(
                        session, fresh, site=site, now=self.clock.now(), wall_now=utcnow())
                break
            except operations.UndeliverableEvent as problem:  # rolled back: again without it
                undeliverable[problem.event_id] = PermanentError(problem.reason)
        if queued:
            self.mail.wake()
        if undeliverable:
            raise EventsFailed(undeliverable)

    @event_handler(MATCHING_EVENTS)
    def on_matching_event(self, event):
        with self.db.transaction() as session:
            if not claim(session, MATCHING_EVENTS, event):
                return
            queued = operations.apply_matching_event(
                session, event, site=settings.site(self.config), now=self.clock.now(),
                wall_now=utcnow())
        if queued:
            self.mail.wake()

    @event_handler(GATEWAY_EVENTS)
    def on_gateway_event(self, event):
        try:
            with self.db.transaction() as session:
                if not claim(session, GATEWAY_EVENTS, event):
                    return
                queued = operations.apply_gateway_event(
                    session, event, site=settings.site(self.config), now=self.clock.now(), wall_now=utcnow())
        except UndeliverableEmail as problem:
            raise PermanentError(problem.reason) from None
        if queued:
            self.mail.wake()

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        """Up to ERASURE_BATCH erasure requests in one transaction (loket.erasure): inbox and
        outbox traces, email log (queued emails included) and projection deleted with bulk
        statements, one receipt per request; then their parked messages dropped."""
        now = self.clock.now()
        handle_erasure_requests(
            self.db, self.events, self.name, self.config["AMQP_URI"], events,
            lambda session, dossier_ids: operations.erase_dossiers(session, dossier_ids, now))

    # -- timers -------------------------------------------------------------------------------------
    @configured_timer("REMINDER_INTERVAL", 3600)
    def send_reminders(self):
        self.queue_reminders()

    @configured_timer("LOG_PURGE_INTERVAL", 86400)
    def purge_email_log(self):
        with self.db.transaction() as session:
            email_log.purge_expired(session, self.clock.now())

    # -- operators ----------------------------------------------------------------------------------
    @http("GET", "/metrics")
    def metrics(self, request):
        """The platform's metrics plus the emails waiting: alert on parked > 0."""
        status, headers, body = super().metrics(request)
        with self.db.transaction() as session:
            waiting = email_log.waiting(session)
        lines = ["# HELP loket_notification_emails Emails queued for delivery or parked for an operator.",
                 "# TYPE loket_notification_emails gauge"]
        lines += [f'loket_notification_emails{{status="{name}"}} {waiting.get(name, 0)}'
                  for name in ("queued", "parked")]
        return status, headers, body + "\n".join(lines) + "\n"

    # -- RPC ----------------------------------------------------------------------------------------
    @rpc
    def queue_reminders(self):
        """Queue every start-date reminder due by the service clock; returns how many."""
        weeks_before = settings.reminder_weeks_before(self.config)
        site = settings.site(self.config)
        total = 0
        while True:
            with self.db.transaction() as session:
                due = operations.queue_due_reminders(
                    session, site=site, now=self.clock.now(), wall_now=utcnow(),
                    weeks_before=weeks_before, limit=REMINDER_BATCH)
            total += due
            if due:
                self.mail.wake()
            if due < REMINDER_BATCH:
                return total

    @rpc
    def render_preview(self, kind, language):
        """Any email with sample data, for review: {"subject", "text", "html"}."""
        errors = {}
        if kind not in {k.value for k in Kind}:
            errors["kind"] = [f"one of {sorted(k.value for k in Kind)}"]
        if language not in LANGUAGES:
            errors["language"] = [f"one of {list(LANGUAGES)}"]
        if errors:
            raise InvalidInput(errors)
        rendered = render(sample_email(Kind(kind), language))
        return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}

    @rpc
    def personal_data(self, dossier_id):
        """Everything this service holds about a dossier (GDPR access and portability)."""
        with self.db.transaction() as session:
            return operations.personal_data(session, dossier_id)

    @rpc
    def parked_emails(self):
        with self.db.transaction() as session:
            return email_log.parked(session)

    @rpc
    def replay_email(self, idempotency_key):
        with self.db.transaction() as session:
            entry = operations.replay_email(session, idempotency_key,
                                            site=settings.site(self.config), wall_now=utcnow())
        self.mail.wake()
        return entry
