"""Registration service entrypoints: validate, call the domain in one transaction, return.

Every change and its event commit together (transactional outbox); the relay publishes after.
"""
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from loket.clock import Clock
from loket.db import Database
from loket.logs import LogContext
from loket.outbox import Outbox

from . import dossiers, schemas
from .dependencies import Encryption
from .errors import Forbidden


class RegistrationService:
    name = "registration"

    db = Database()
    events = Outbox()
    clock = Clock()
    keyring = Encryption()
    log_context = LogContext()
    config = Config()

    # -- helpers ----------------------------------------------------------------------------------
    def _validated(self, schema, payload):
        return schemas.validate(schema, payload, self.clock.now().date())

    def _change(self, operation, dossier_id, schema, payload, actor, **extra):
        data = self._validated(schema, payload)
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                return operation(session, now, dossier_id, data, actor, self.events, **extra)
        except Forbidden:
            self._audit_refusal(dossier_id, actor, operation.__name__)
            raise

    def _audit_refusal(self, dossier_id, actor, operation):
        with self.db.transaction() as session:
            dossiers.record_audit(session, self.clock.now(), dossier_id, actor, operation, outcome="refused")

    # -- RPC ----------------------------------------------------------------------------------------
    @rpc
    def register_dossier(self, payload, actor):
        data = self._validated(schemas.RegisterDossierInput, payload)
        with self.db.transaction() as session:
            return dossiers.register_dossier(session, self.clock.now(), data, actor, self.events, self.keyring)

    @rpc
    def get_dossier(self, dossier_id, actor):
        with self.db.transaction() as session:
            return dossiers.get_dossier(session, self.clock.now(), dossier_id, actor, self.keyring)

    @rpc
    def update_contact(self, dossier_id, payload, actor):
        return self._change(dossiers.update_contact, dossier_id, schemas.UpdateContactInput, payload, actor)

    @rpc
    def update_situation(self, dossier_id, payload, actor):
        return self._change(dossiers.update_situation, dossier_id, schemas.UpdateSituationInput, payload, actor,
                            keyring=self.keyring)

    @rpc
    def add_child(self, dossier_id, payload, actor):
        return self._change(dossiers.add_child, dossier_id, schemas.AddChildInput, payload, actor)

    @rpc
    def change_facilities(self, dossier_id, payload, actor):
        return self._change(dossiers.change_facilities, dossier_id, schemas.ChangeFacilitiesInput, payload, actor)

    @rpc
    def give_consent(self, dossier_id, payload, actor):
        return self._change(dossiers.give_consent, dossier_id, schemas.ConsentInput, payload, actor)

    @rpc
    def withdraw_consent(self, dossier_id, payload, actor):
        return self._change(dossiers.withdraw_consent, dossier_id, schemas.ConsentInput, payload, actor)

    @rpc
    def cancel_request(self, dossier_id, payload, actor):
        return self._change(dossiers.cancel_request, dossier_id, schemas.CancelRequestInput, payload, actor)

    @rpc
    def mark_urgent(self, dossier_id, payload, actor):
        return self._change(dossiers.mark_urgent, dossier_id, schemas.MarkUrgentInput, payload, actor)

    @rpc
    def flag_dossier(self, dossier_id, payload, actor):
        return self._change(dossiers.flag_dossier, dossier_id, schemas.FlagDossierInput, payload, actor)

    @rpc
    def record_enrollment(self, dossier_id, payload, actor):
        return self._change(dossiers.record_enrollment, dossier_id, schemas.RecordEnrollmentInput, payload, actor)

    @rpc
    def erase_dossier(self, dossier_id, actor):
        with self.db.transaction() as session:
            return dossiers.erase_dossier(session, self.clock.now(), dossier_id, actor, self.events)

    @rpc
    def expire_requests(self):
        grace_days = int(self.config.get("EXPIRY_GRACE_DAYS", 90))
        with self.db.transaction() as session:
            return dossiers.expire_requests(session, self.clock.now(), grace_days, self.events)

    @timer(interval=3600)
    def expire_requests_hourly(self):
        self.expire_requests()
