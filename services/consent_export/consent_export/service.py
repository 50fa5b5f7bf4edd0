"""Consent-export service entrypoints: registration events become queued transfers in the same
transaction as the events' inbox claim, in batches; the sender (consent_export.sender) delivers them.

The RPCs are for operators (parked transfers, replay) and for the GDPR export and the transfer
log of a dossier; the gateway decides who may call them.
"""
import time
from datetime import timedelta

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer
from nameko.web.handlers import http

from consent_export import erasure, outbound
from consent_export.fields import PARTNERS
from consent_export.models import PARKED, QUEUED
from consent_export.sender import PartnerSender
from loket import observability  # not `import Observable`: `nameko run` would take it for a service
from loket.clock import Clock
from loket.consumer import batch_event_handler
from loket.db import Database
from loket.errors import InvalidInput
from loket.erasure import ERASURE_BATCH, handle_erasure_requests
from loket.inbox import claim_all
from loket.logs import LogContext
from loket.outbox import Outbox

REGISTRATION_EVENTS = "consent_export.registration_events"
ERASURE_REQUESTS = "consent_export.erasure_requests"
# Registration events applied per transaction: one worker and a few statements per batch, not
# per event.
REGISTRATION_BATCH = 100
DEFAULT_LOG_KEEP_DAYS = 1826  # five years


class ConsentExportService(observability.Observable):
    name = "consent_export"

    db = Database()
    events = Outbox()
    clock = Clock()
    sender = PartnerSender()
    log_context = LogContext()
    config = Config()

    def _pseudonym(self, dossier_id):
        return erasure.pseudonym(self.config["LOG_PSEUDONYM_KEY"], dossier_id)

    # -- events -------------------------------------------------------------------------------------
    @batch_event_handler(REGISTRATION_EVENTS, batch_size=REGISTRATION_BATCH)
    def on_registration_events(self, events):
        """The events that arrived together (up to REGISTRATION_BATCH, within 50 ms of the first),
        in one transaction. If it fails, each event is retried on its own (loket.consumer)."""
        with self.db.transaction() as session:
            fresh = claim_all(session, REGISTRATION_EVENTS, events)
            queued = outbound.apply_events(session, fresh, self.clock.now(), self._pseudonym)
        if queued:
            self.sender.wake({transfer.partner for transfer in queued})

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        """Up to ERASURE_BATCH erasure requests in one transaction (loket.erasure): inbox and outbox
        traces, then `erasure.erase_dossiers` with bulk statements, one receipt per request; then
        their parked messages dropped, and the senders woken for the partners' deletes."""
        # A partner's delete is keyed by the erasure run of the dossier.
        request_of = erasure.request_ids(events)
        now = self.clock.now()

        def erase(session, dossier_ids):
            requests = {dossier_id: request_of[dossier_id] for dossier_id in dossier_ids}
            return erasure.erase_dossiers(session, requests, now, self._pseudonym)

        if handle_erasure_requests(self.db, self.events, self.name, self.config["AMQP_URI"], events, erase):
            self.sender.wake()

    # -- RPC ----------------------------------------------------------------------------------------
    @rpc
    def parked_transfers(self):
        """Transfers a partner refused or that ran out of attempts (field names, no values)."""
        with self.db.transaction() as session:
            return outbound.parked_transfers(session)

    @rpc
    def replay_transfer(self, transfer_id):
        """A parked transfer gets a fresh set of attempts and keeps its place in its dossier's order."""
        if isinstance(transfer_id, bool) or not isinstance(transfer_id, int):
            raise InvalidInput({"transfer_id": ["a transfer id from parked_transfers()"]})
        with self.db.transaction() as session:
            replayed = outbound.replay_transfer(session, transfer_id, time.time())
        self.sender.wake({replayed["partner"]})
        return replayed

    @rpc
    def transfer_log(self, dossier_id):
        """What left for which partner, under which consent; after an erasure, by the dossier's pseudonym."""
        with self.db.transaction() as session:
            return outbound.transfer_log(session, (dossier_id, self._pseudonym(dossier_id)))

    @rpc
    def personal_data(self, dossier_id):
        with self.db.transaction() as session:
            return outbound.personal_data(session, dossier_id)

    # -- operations ---------------------------------------------------------------------------------
    @http("GET", "/metrics")
    def metrics(self, request):
        """The platform's metrics plus the transfers waiting per partner: alert on parked > 0."""
        status, headers, body = super().metrics(request)
        with self.db.transaction() as session:
            waiting = outbound.waiting(session)
        lines = ["# HELP loket_consent_export_transfers Transfers queued for a partner or parked for an operator.",
                 "# TYPE loket_consent_export_transfers gauge"]
        lines += [f'loket_consent_export_transfers{{partner="{partner}",status="{name}"}} '
                  f'{waiting.get((partner, name), 0)}'
                  for partner in PARTNERS for name in (QUEUED, PARKED)]
        return status, headers, body + "\n".join(lines) + "\n"

    @timer(interval=3600)
    def purge_expired_log(self):
        keep = timedelta(days=int(self.config.get("LOG_KEEP_DAYS", DEFAULT_LOG_KEEP_DAYS)))
        with self.db.transaction() as session:
            return erasure.purge_expired(session, self.clock.now() - keep)
