"""Registration service entrypoints: check who is calling, validate, call the domain in one
transaction, return. Every change and its event commit together (transactional outbox).

Every RPC takes `actor`, the caller the gateway authenticated ({"role", "actor_id", "facility_ids",
"organisation_id"}); the access rules of the privacy policy are applied here, on every call.
"""
from datetime import timedelta

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from loket.clock import Clock
from loket.consumer import PermanentError, batch_event_handler, event_handler
from loket.db import Database
from loket.erasure import ERASURE_BATCH, handle_erasure_requests
from loket.inbox import claim
from loket.logs import LogContext
from loket import observability  # not `import Observable`: `nameko run` would take it for a service
from loket.outbox import Outbox

from . import claims, dossiers, schemas, search
from .access import Refused, authorize, authorize_claim, authorize_search, registrant, require_internal
from .dependencies import Encryption
from .errors import Conflict, Forbidden, NotFound

SYSTEM = {"role": "system", "actor_id": "registration"}
ERASURE_REQUESTS = "registration.erasure_requests"
MATCHING_EVENTS = "registration.matching_events"


class RegistrationService(observability.Observable):
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

    def _audit_refusal(self, now, dossier_id, actor, operation):
        with self.db.transaction() as session:
            dossiers.record_audit(session, now, dossier_id, actor, operation, outcome="refused")

    def _role_checked(self, authorize_role, actor, operation, now):
        """Refuse (and audit, without a dossier) a caller whose role may not do `operation` at all."""
        try:
            authorize_role(actor)
        except Refused as refused:
            self._audit_refusal(now, None, actor, operation)
            raise refused.answer() from None

    def _guarded(self, dossier_id, actor, operation, work, request_id=None):
        """Authorize and run `work(session, now)` in one transaction; audit a refusal in its own.

        A caller who may not even read the dossier is answered NotFound, like for an unknown id (P22)."""
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                authorize(session, dossier_id, actor, operation, now, request_id=request_id)
                return work(session, now)
        except Refused as refused:
            self._audit_refusal(now, dossier_id, actor, operation)
            raise refused.answer() from None
        except Forbidden:
            self._audit_refusal(now, dossier_id, actor, operation)
            raise

    def _change(self, operation, access_operation, dossier_id, schema, payload, actor, **extra):
        data = self._validated(schema, payload)
        return self._guarded(
            dossier_id, actor, access_operation,
            lambda session, now: operation(session, now, dossier_id, data, actor, self.events, **extra),
            request_id=data.get("request_id"))

    # -- RPC ----------------------------------------------------------------------------------------
    @rpc
    def register_dossier(self, payload, actor):
        if isinstance(payload, dict):
            payload = {**payload, "registered_by": registrant(actor, payload.get("registered_by"))}
        data = self._validated(schemas.RegisterDossierInput, payload)
        now = self.clock.now()
        with self.db.transaction() as session:
            result = dossiers.register_dossier(session, now, data, actor, self.events, self.keyring)
            if data["registered_by"]["role"] != "parent":
                # No owner account yet: the registrant hands the parent a code to claim it with.
                ttl = timedelta(days=int(self.config.get("CLAIM_CODE_TTL_DAYS") or claims.DEFAULT_TTL.days))
                result = {**result, **claims.issue_claim_code(session, now, result["dossier"]["id"], ttl)}
            return result

    @rpc
    def claim_dossier(self, payload, actor):
        """A parent's account becomes the owner of a dossier registered for them, with its one-time claim
        code. NotFound alike for an unknown, used or expired code; Conflict when it has an owner."""
        now = self.clock.now()
        self._role_checked(authorize_claim, actor, claims.OPERATION, now)
        data = self._validated(schemas.ClaimDossierInput, payload)
        try:
            with self.db.transaction() as session:
                return claims.claim_dossier(session, now, data["claim_code"], actor)
        except claims.ClaimRefused as refused:
            if refused.dossier_id is not None:
                self._audit_refusal(now, refused.dossier_id, actor, claims.OPERATION)
            raise refused.answer from None

    @rpc
    def get_dossier(self, dossier_id, actor):
        return self._guarded(dossier_id, actor, "read", lambda session, now: dossiers.get_dossier(
            session, now, dossier_id, actor, self.keyring))

    @rpc
    def check_access(self, dossier_id, operation, actor):
        """For services that act on a dossier they do not own (retention's erasure on request, matching's
        offers): may this caller do `operation` to this dossier? Raises Forbidden to a caller who may read
        the dossier, NotFound to anyone else (as for an unknown dossier); audited."""
        self._guarded(dossier_id, actor, operation, lambda session, now: dossiers.record_audit(
            session, now, dossier_id, actor, f"check:{operation}"))
        return {"allowed": True}

    @rpc
    def list_own_dossiers(self, actor):
        """The dossiers a parent's account owns (ids only; read each with get_dossier)."""
        if actor.get("role") != "parent" or not actor.get("actor_id"):
            raise Forbidden("only a parent has own dossiers")
        with self.db.transaction() as session:
            return dossiers.owned_dossier_ids(session, actor["actor_id"])

    @rpc
    def search_dossiers(self, query, actor):
        """The helpdesk finds dossiers by last name, email, a child's birth date or an id: at most
        search.MAX_RESULTS summaries, each hit audited as a read (P22). Anyone else: Forbidden, audited."""
        now = self.clock.now()
        self._role_checked(authorize_search, actor, search.OPERATION, now)
        criteria = self._validated(schemas.SearchDossiersInput, query)
        with self.db.transaction() as session:
            return search.search_dossiers(session, now, criteria, actor)

    @rpc
    def update_contact(self, dossier_id, payload, actor):
        return self._change(dossiers.update_contact, "update_contact", dossier_id,
                            schemas.UpdateContactInput, payload, actor)

    @rpc
    def update_situation(self, dossier_id, payload, actor):
        return self._change(dossiers.update_situation, "update_situation", dossier_id,
                            schemas.UpdateSituationInput, payload, actor, keyring=self.keyring)

    @rpc
    def add_child(self, dossier_id, payload, actor):
        return self._change(dossiers.add_child, "add_child", dossier_id, schemas.AddChildInput, payload, actor)

    @rpc
    def change_facilities(self, dossier_id, payload, actor):
        return self._change(dossiers.change_facilities, "change_facilities", dossier_id,
                            schemas.ChangeFacilitiesInput, payload, actor)

    @rpc
    def give_consent(self, dossier_id, payload, actor):
        return self._change(dossiers.give_consent, "give_consent", dossier_id, schemas.ConsentInput, payload, actor)

    @rpc
    def withdraw_consent(self, dossier_id, payload, actor):
        return self._change(dossiers.withdraw_consent, "withdraw_consent", dossier_id,
                            schemas.ConsentInput, payload, actor)

    @rpc
    def cancel_request(self, dossier_id, payload, actor):
        return self._change(dossiers.cancel_request, "cancel_request", dossier_id,
                            schemas.CancelRequestInput, payload, actor)

    @rpc
    def mark_urgent(self, dossier_id, payload, actor):
        return self._change(dossiers.mark_urgent, "mark_urgent", dossier_id, schemas.MarkUrgentInput, payload, actor)

    @rpc
    def flag_dossier(self, dossier_id, payload, actor):
        return self._change(dossiers.flag_dossier, "flag_dossier", dossier_id,
                            schemas.FlagDossierInput, payload, actor)

    @rpc
    def set_restriction(self, dossier_id, payload, actor):
        # Restriction (GDPR art. 18) is the parent's decision, like erasure: same callers.
        return self._change(dossiers.set_restriction, "erase", dossier_id, schemas.SetRestrictionInput,
                            payload, actor)

    @rpc
    def record_enrollment(self, dossier_id, payload, actor):
        require_internal(actor)
        data = self._validated(schemas.RecordEnrollmentInput, payload)
        with self.db.transaction() as session:
            return dossiers.record_enrollment(session, self.clock.now(), dossier_id, data, actor, self.events)

    @rpc
    def export_personal_data(self, dossier_id, actor):
        """GDPR access and portability: everything this service holds about the dossier, machine-readable."""
        return self._guarded(dossier_id, actor, "export_data", lambda session, now: {
            "dossier": dossiers.get_dossier(session, now, dossier_id, actor, self.keyring),
            "access_log": dossiers.access_log(session, dossier_id),
        })

    @rpc
    def access_log(self, dossier_id, actor):
        """Who accessed the dossier (P22): shown to the parent and the helpdesk."""
        return self._guarded(dossier_id, actor, "export_data",
                             lambda session, now: dossiers.access_log(session, dossier_id))

    @rpc
    def erase_dossier(self, dossier_id, actor):
        return self._guarded(dossier_id, actor, "erase", lambda session, now: dossiers.erase_dossier(
            session, now, dossier_id, actor, self.events))

    @rpc
    def expire_requests(self):
        grace_days = int(self.config.get("EXPIRY_GRACE_DAYS", 90))
        with self.db.transaction() as session:
            return dossiers.expire_requests(session, self.clock.now(), grace_days, self.events)

    @timer(interval=3600)
    def expire_requests_hourly(self):
        self.expire_requests()

    # -- events -------------------------------------------------------------------------------------
    @event_handler(MATCHING_EVENTS)
    def on_offer_accepted(self, event):
        """Acceptance of an offer is an enrollment: close the request (other facilities lose access, P21)."""
        offer = event["data"]
        with self.db.transaction() as session:
            if not claim(session, MATCHING_EVENTS, event):
                return
            try:
                dossiers.record_enrollment(
                    session, self.clock.now(), offer["dossier_id"],
                    {"request_id": offer["request_id"], "facility_id": offer["facility_id"]}, SYSTEM, self.events)
            except NotFound:
                return  # the dossier was erased meanwhile: nothing left to enroll
            except Conflict as exc:
                # e.g. the parent cancelled while accepting: an operator must look at this one
                raise PermanentError(f"enrollment refused: {exc}") from exc

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        """Retention's erasure requests, a batch per transaction: the dossiers erased with bulk
        statements, one receipt per request (also for a dossier erased before), then their parked
        messages dropped over one broker connection. No dossier_erased: every other holder got the
        same request (dossier_erased tells them of an erasure retention did not start)."""
        now = self.clock.now()
        handle_erasure_requests(
            self.db, self.events, self.name, self.config["AMQP_URI"], events,
            lambda session, dossier_ids: dossiers.erase_dossiers(session, now, dossier_ids, SYSTEM, self.events,
                                                                 announce=False))
