"""The gateway's HTTP entrypoints: parse and check the request, authenticate, call the owning service.

Paths and their bodies are listed by GET /openapi.json. Errors are answered by gateway.errors.
"""
import logging

from nameko.dependency_providers import Config
from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from gateway import accounts, claims, payloads, schemas, web
from gateway.dependencies import Accounts, ServiceRpc
from gateway.entrypoints import http
from gateway.openapi import openapi_document
from gateway.passwords import spend_verification_time
from gateway.responses import json_response
from loket import observability  # not `import Observable`: `nameko run` would take it for a service
from loket.access import Caller
from loket.clock import Clock
from loket.contracts.gateway import ACCOUNT_CONFIRMATION_REQUESTED
from loket.db import Database
from loket.errors import NotFound
from loket.logs import LogContext
from loket.outbox import Outbox

log = logging.getLogger(__name__)

PUBLIC = (400, 413)
DOSSIER_READ = (401, 404, 503)
# A caller who may read the dossier but not do this hears 403; anyone else 404, as for an unknown id.
DOSSIER_PRIVACY = (401, 403, 404, 503)
DOSSIER_CHANGE = (400, 401, 403, 404, 409, 413, 503)
FACILITY_CHANGE = (400, 401, 403, 404, 409, 413, 503)
DOSSIER_PATH = {"dossier_id": "The dossier's id."}
FACILITY_PATH = {"facility_id": "The facility's id (fac-0001)."}
PLACE_PATH = {"place_id": "The free place's id."}
OFFER_PATH = {"offer_id": "The offer's id."}
REQUEST_PATH = {**DOSSIER_PATH, "request_id": "The id of one request of the dossier."}


def _flag(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


class GatewayService(observability.Observable):
    name = "gateway"

    db = Database()
    events = Outbox()
    clock = Clock()
    config = Config()
    account_settings = Accounts()
    registration = ServiceRpc("registration")
    matching = ServiceRpc("matching")
    retention = ServiceRpc("retention")
    log_context = LogContext()

    # -- helpers -------------------------------------------------------------------------------------
    def _caller(self, request) -> Caller:
        token = web.bearer_token(request)
        with self.db.transaction() as session:
            return accounts.authenticate(session, token, self.clock.now(), self.account_settings)

    def _mail_confirmation(self, session, account_id, email, token, language):
        """The notification service mails the token; the event commits with the token's hash."""
        now = self.clock.now()
        self.events.record(session, ACCOUNT_CONFIRMATION_REQUESTED, aggregate_id=account_id,
                           sequence=int(now.timestamp() * 1_000_000), data={
                               "account_id": account_id, "email": email, "confirmation_token": token,
                               "expires_at": (now + self.account_settings.confirmation_ttl).isoformat(),
                               "language": language})

    def _confirmation_sent(self, token: str | None):
        body = {"status": "confirmation_sent"}
        # Production mails the token (notification service); tests and local runs may read it here.
        if token is not None and _flag(self.config.get("GATEWAY_EXPOSE_CONFIRMATION_TOKENS")):
            body["confirmation_token"] = token
        return json_response(202, body)

    def _change(self, method, request, dossier_id, schema, status=200, **path_values):
        """Authenticate, check the body, call the registration service's `method` with body and path values."""
        caller = self._caller(request)
        payload = {**web.validated_body(request, schema), **path_values}
        result = getattr(self.registration, method)(dossier_id, payload, payloads.actor(caller))
        return json_response(status, result)

    # -- service -------------------------------------------------------------------------------------
    # Observable's checks, on the gateway's own JSON server (its plain @http would bind a second one)
    @http("GET", "/health", summary="Health: the database and the broker answer", tag="service",
          responses={200: schemas.Health, 503: schemas.Health}, authenticated=False)
    def health(self, request):
        return super().health(request)

    @http("GET", "/metrics", summary="Prometheus metrics", tag="service", responses={200: {"type": "string"}},
          media_type="text/plain", authenticated=False)
    def metrics(self, request):
        return super().metrics(request)

    @http("GET", "/openapi.json", summary="This API's OpenAPI 3 description", tag="service",
          responses={200: None}, authenticated=False)
    def openapi(self, request):
        return json_response(200, openapi_document(type(self)))

    @timer(interval=3600)
    def forget_stale_records(self):
        with self.db.transaction() as session:
            accounts.forget_stale_records(session, self.clock.now(), self.account_settings)

    # -- accounts ------------------------------------------------------------------------------------
    @http("POST", "/accounts", summary="Sign up as a parent", tag="accounts", body=schemas.SignUpBody,
          responses={202: schemas.SignUpAccepted}, errors=PUBLIC, authenticated=False,
          description="Answers alike whether or not the email already has an account. The confirmation "
                      "token is mailed; only where GATEWAY_EXPOSE_CONFIRMATION_TOKENS is on is it returned.")
    def sign_up(self, request):
        body = web.validated_body(request, schemas.SignUpBody())
        try:
            with self.db.transaction() as session:
                signed_up = accounts.sign_up_parent(session, body["email"], body["password"], self.clock.now(),
                                                    self.account_settings)
                self._mail_confirmation(session, signed_up.account_id, body["email"], signed_up.confirmation_token,
                                        body.get("preferred_language", "nl"))
        except (accounts.EmailAlreadyRegistered, IntegrityError):
            # as slow as hashing a new password, so the timing does not tell either
            spend_verification_time(body["password"], self.account_settings.hasher)
            return self._confirmation_sent(None)
        log.info("parent account %s signed up", signed_up.account_id)
        return self._confirmation_sent(signed_up.confirmation_token)

    @http("POST", "/accounts/confirmation", summary="Confirm a parent's email with the mailed token",
          tag="accounts", body=schemas.ConfirmationBody, responses={204: None}, errors=PUBLIC, authenticated=False)
    def confirm_email(self, request):
        body = web.validated_body(request, schemas.ConfirmationBody())
        with self.db.transaction() as session:
            accounts.confirm_email(session, body["token"], self.clock.now())
        return json_response(204)

    @http("POST", "/accounts/confirmation-requests", summary="Send a new confirmation token",
          tag="accounts", body=schemas.ConfirmationRequestBody, responses={202: schemas.SignUpAccepted},
          errors=PUBLIC, authenticated=False,
          description="Answers alike whether or not an unconfirmed account has this email.")
    def request_confirmation(self, request):
        body = web.validated_body(request, schemas.ConfirmationRequestBody())
        try:
            with self.db.transaction() as session:
                token = accounts.reissue_confirmation(session, body["email"], self.clock.now(),
                                                      self.account_settings)
                if token is not None:
                    self._mail_confirmation(session, accounts.account_id_of(session, body["email"]), body["email"],
                                            token, body.get("preferred_language", "nl"))
        except accounts.InvalidAccount:
            token = None
        return self._confirmation_sent(token)

    @http("POST", "/sessions", summary="Log in", tag="accounts", body=schemas.LogInBody,
          responses={201: schemas.SessionCreated}, errors=(400, 401, 403, 413, 429), authenticated=False,
          description="401 never says whether the email exists. 403 once the password is right but the email "
                      "is not confirmed yet. 429 with Retry-After when too many logins failed from the "
                      "client's address.")
    def log_in(self, request):
        body = web.validated_body(request, schemas.LogInBody())
        address = web.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                     int(self.config.get("GATEWAY_TRUSTED_PROXIES") or 0))
        refused = None
        with self.db.transaction() as session:  # a refused attempt is committed too: throttling counts it
            try:
                token = accounts.log_in(session, body["email"], body["password"], address, self.clock.now(),
                                        self.account_settings)
            except accounts.LoginRefused as exc:
                refused = exc
        if refused is not None:
            raise refused
        policy = self.account_settings.sessions
        return json_response(201, {
            "token": token, "token_type": "Bearer",
            "idle_timeout_seconds": int(policy.idle_timeout.total_seconds()),
            "absolute_timeout_seconds": int(policy.absolute_timeout.total_seconds())})

    @http("DELETE", "/sessions/current", summary="Log out", tag="accounts", responses={204: None},
          errors=(401,))
    def log_out(self, request):
        token = web.bearer_token(request)
        with self.db.transaction() as session:
            accounts.log_out(session, token, self.clock.now())
        return json_response(204)

    @http("GET", "/account", summary="The logged-in account", tag="accounts",
          responses={200: schemas.AccountView}, errors=(401,))
    def account(self, request):
        caller = self._caller(request)
        return json_response(200, {"account_id": caller.actor_id, "role": caller.role,
                                   "facility_ids": sorted(caller.facility_ids),
                                   "organisation_id": caller.organisation_id})

    # -- dossiers ------------------------------------------------------------------------------------
    @http("POST", "/dossiers", summary="Register a dossier", tag="dossiers", body=schemas.RegisterDossierBody,
          responses={201: schemas.DossierRegistered}, errors=(400, 401, 403, 413, 503),
          description="A parent registers their own dossier; an intermediary or a facility manager "
                      "(naming facility_id) registers one for a parent, and gets the claim code the parent "
                      "claims it with, once.")
    def register_dossier(self, request):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.RegisterDossierBody())
        result = self.registration.register_dossier(payloads.registration(body, caller), payloads.actor(caller))
        return json_response(201, result, headers={"Location": f"/dossiers/{result['dossier']['id']}"})

    @http("POST", "/dossiers/claims", summary="Claim a dossier registered for you, with its claim code (parent)",
          tag="dossiers", body=schemas.ClaimBody, responses={200: schemas.DossierClaimed},
          errors=(400, 401, 403, 404, 409, 413, 429, 503),
          description="The logged-in parent's account becomes the owner of the dossier an intermediary or a "
                      "facility manager registered for them; they keep their access. 404 alike for an unknown, "
                      "used or expired code; 409 when the dossier has an owner already; 429 with Retry-After "
                      "after too many invalid codes from this account.")
    def claim_dossier(self, request):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.ClaimBody())
        policy = self.account_settings.claim_throttle
        with self.db.transaction() as session:
            claims.check_claim_throttle(session, caller.actor_id, self.clock.now(), policy)
        try:
            claimed = self.registration.claim_dossier(body, payloads.actor(caller))
        except NotFound:
            with self.db.transaction() as session:
                claims.record_claim_failure(session, caller.actor_id, self.clock.now())
            raise
        return json_response(200, claimed)

    @http("GET", "/dossiers", summary="The logged-in parent's own dossiers", tag="dossiers",
          responses={200: schemas.OwnDossiers}, errors=(401, 403, 503),
          description="Ids only; read each with GET /dossiers/{dossier_id}. For parents: staff reach "
                      "dossiers by id.")
    def list_own_dossiers(self, request):
        caller = self._caller(request)
        return json_response(200, {"dossier_ids": self.registration.list_own_dossiers(payloads.actor(caller))})

    @http("POST", "/dossiers/searches", summary="Find dossiers by name, email, a child's birth date or id (helpdesk)",
          tag="helpdesk", body=schemas.DossierSearchBody, responses={200: schemas.DossierSearchResults},
          errors=(400, 401, 403, 413, 503),
          description="For the helpdesk only. Every given criterion must hold. At most 50 short summaries, "
                      "without contact or situation data; each hit is in that dossier's access log as read by "
                      "the helpdesk account. The criteria travel in the body, not the URL, so no name or email "
                      "ends up in access logs.")
    def search_dossiers(self, request):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.DossierSearchBody())
        return json_response(200, self.registration.search_dossiers(body, payloads.actor(caller)))

    @http("GET", "/dossiers/<id:dossier_id>", summary="View a dossier", tag="dossiers",
          responses={200: schemas.DossierView}, errors=DOSSIER_READ, path_parameters=DOSSIER_PATH,
          description="404 also when the dossier exists but the caller may not read it.")
    def get_dossier(self, request, dossier_id):
        caller = self._caller(request)
        return json_response(200, self.registration.get_dossier(dossier_id, payloads.actor(caller)))

    @http("PATCH", "/dossiers/<id:dossier_id>/contact", summary="Change contact data", tag="dossiers",
          body=schemas.UpdateContactBody, responses={200: schemas.DossierChanged}, errors=DOSSIER_CHANGE,
          path_parameters=DOSSIER_PATH)
    def update_contact(self, request, dossier_id):
        return self._change("update_contact", request, dossier_id, schemas.UpdateContactBody())

    @http("PUT", "/dossiers/<id:dossier_id>/situation", summary="Replace the family's situation",
          tag="dossiers", body=schemas.UpdateSituationBody, responses={200: schemas.DossierChanged},
          errors=DOSSIER_CHANGE, path_parameters=DOSSIER_PATH)
    def update_situation(self, request, dossier_id):
        return self._change("update_situation", request, dossier_id, schemas.UpdateSituationBody())

    @http("POST", "/dossiers/<id:dossier_id>/children", summary="Add a child and its request", tag="dossiers",
          body=schemas.AddChildBody, responses={201: schemas.DossierChanged}, errors=DOSSIER_CHANGE,
          path_parameters=DOSSIER_PATH)
    def add_child(self, request, dossier_id):
        return self._change("add_child", request, dossier_id, schemas.AddChildBody(), status=201)

    @http("PUT", "/dossiers/<id:dossier_id>/requests/<id:request_id>/facilities",
          summary="Choose the facilities of a request (at most 5)", tag="dossiers", body=schemas.FacilitiesBody,
          responses={200: schemas.DossierChanged}, errors=DOSSIER_CHANGE, path_parameters=REQUEST_PATH)
    def change_facilities(self, request, dossier_id, request_id):
        return self._change("change_facilities", request, dossier_id, schemas.FacilitiesBody(),
                            request_id=request_id)

    @http("PUT", "/dossiers/<id:dossier_id>/consents/<any(kind_en_gezin, lop):partner>",
          summary="Give or withdraw consent to a partner", tag="dossiers", body=schemas.ConsentBody,
          responses={200: schemas.DossierChanged}, errors=DOSSIER_CHANGE,
          path_parameters={**DOSSIER_PATH, "partner": "kind_en_gezin or lop"})
    def set_consent(self, request, dossier_id, partner):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.ConsentBody())
        method = "give_consent" if body["given"] else "withdraw_consent"
        result = getattr(self.registration, method)(dossier_id, payloads.consent(partner, body, caller),
                                                    payloads.actor(caller))
        return json_response(200, result)

    @http("POST", "/dossiers/<id:dossier_id>/requests/<id:request_id>/cancellation", summary="Cancel a request",
          tag="dossiers", body=schemas.CancellationBody, responses={200: schemas.DossierChanged},
          errors=DOSSIER_CHANGE, path_parameters=REQUEST_PATH,
          description="The helpdesk must give a reason; the parent is told.")
    def cancel_request(self, request, dossier_id, request_id):
        return self._change("cancel_request", request, dossier_id, schemas.CancellationBody(),
                            request_id=request_id)

    @http("POST", "/dossiers/<id:dossier_id>/requests/<id:request_id>/urgency",
          summary="Mark a request urgent (helpdesk)", tag="helpdesk", responses={200: schemas.DossierChanged},
          errors=DOSSIER_CHANGE, path_parameters=REQUEST_PATH)
    def mark_urgent(self, request, dossier_id, request_id):
        caller = self._caller(request)
        result = self.registration.mark_urgent(dossier_id, {"request_id": request_id}, payloads.actor(caller))
        return json_response(200, result)

    @http("POST", "/dossiers/<id:dossier_id>/flags", summary="Flag a mistake or an incomplete dossier (helpdesk)",
          tag="helpdesk", body=schemas.FlagBody, responses={200: schemas.DossierChanged}, errors=DOSSIER_CHANGE,
          path_parameters=DOSSIER_PATH, description="The parent is emailed.")
    def flag_dossier(self, request, dossier_id):
        return self._change("flag_dossier", request, dossier_id, schemas.FlagBody())

    @http("PUT", "/dossiers/<id:dossier_id>/restriction", summary="Restrict or resume processing (GDPR art. 18)",
          tag="privacy", body=schemas.RestrictionBody, responses={200: schemas.DossierChanged},
          errors=DOSSIER_CHANGE, path_parameters=DOSSIER_PATH,
          description="While restricted the dossier is kept but not ranked or exported.")
    def set_restriction(self, request, dossier_id):
        return self._change("set_restriction", request, dossier_id, schemas.RestrictionBody())

    @http("GET", "/dossiers/<id:dossier_id>/access-log", summary="Who read or changed the dossier, and when",
          tag="privacy", responses={200: schemas.AccessLog}, errors=DOSSIER_PRIVACY, path_parameters=DOSSIER_PATH)
    def access_log(self, request, dossier_id):
        caller = self._caller(request)
        return json_response(200, {"entries": self.registration.access_log(dossier_id, payloads.actor(caller))})

    @http("GET", "/dossiers/<id:dossier_id>/export", summary="All personal data of the dossier, machine-readable",
          tag="privacy", responses={200: schemas.PersonalDataExport}, errors=DOSSIER_PRIVACY,
          path_parameters=DOSSIER_PATH, description="GDPR access and portability (P23).")
    def export_personal_data(self, request, dossier_id):
        caller = self._caller(request)
        return json_response(200, self.registration.export_personal_data(dossier_id, payloads.actor(caller)))

    @http("DELETE", "/dossiers/<id:dossier_id>", summary="Erase the dossier everywhere (GDPR art. 17)",
          tag="privacy", responses={202: schemas.ErasureRun}, errors=DOSSIER_PRIVACY, path_parameters=DOSSIER_PATH,
          description="The parent (or the helpdesk) asks; every service that holds the dossier's data erases it "
                      "and confirms. 403 to a caller who may read the dossier but not erase it, 404 to anyone "
                      "else.")
    def request_erasure(self, request, dossier_id):
        caller = self._caller(request)
        actor = payloads.actor(caller)
        # Retention runs the erasure but does not know who owns the dossier: registration decides.
        self.registration.check_access(dossier_id, "erase", actor)
        return json_response(202, self.retention.request_erasure(dossier_id, actor))

    # -- facilities, free places, rankings, offers ---------------------------------------------------
    @http("GET", "/facilities", summary="Every connected facility", tag="facilities",
          responses={200: schemas.Facilities}, errors=(503,), authenticated=False)
    def list_facilities(self, request):
        return json_response(200, {"facilities": self.matching.list_facilities()})

    @http("POST", "/facilities", summary="Connect a facility (helpdesk)", tag="facilities",
          body=schemas.NewFacilityBody, responses={201: schemas.Facility}, errors=FACILITY_CHANGE)
    def register_facility(self, request):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.NewFacilityBody())
        facility = self.matching.register_facility(body, payloads.actor(caller))
        return json_response(201, facility, headers={"Location": f"/facilities/{facility['id']}"})

    @http("GET", "/facilities/<id:facility_id>", summary="A facility", tag="facilities",
          responses={200: schemas.Facility}, errors=(401, 404, 503), authenticated=False,
          path_parameters=FACILITY_PATH,
          description="Public. With a session of its manager or the helpdesk, also its staff's dossiers and "
                      "its occupancy.")
    def get_facility(self, request, facility_id):
        caller = self._caller(request) if "Authorization" in request.headers else None
        facility = self.matching.get_facility(facility_id, payloads.actor(caller) if caller else None)
        return json_response(200, facility)

    @http("PATCH", "/facilities/<id:facility_id>", summary="Change a facility (its manager, the helpdesk)",
          tag="facilities", body=schemas.FacilityChangesBody, responses={200: schemas.Facility},
          errors=FACILITY_CHANGE, path_parameters=FACILITY_PATH)
    def update_facility(self, request, facility_id):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.FacilityChangesBody())
        return json_response(200, self.matching.update_facility(facility_id, body, payloads.actor(caller)))

    @http("GET", "/facilities/<id:facility_id>/dossiers", summary="Dossiers that chose the facility",
          tag="facilities", responses={200: schemas.FacilityDossiers}, errors=(401, 403, 404, 503),
          path_parameters=FACILITY_PATH,
          description="For its manager and the helpdesk: an active request chose it or is urgent, or a child "
                      "is enrolled there. Read each with GET /dossiers/{dossier_id}.")
    def facility_dossiers(self, request, facility_id):
        caller = self._caller(request)
        dossier_ids = self.matching.candidates_dossier_ids(facility_id, payloads.actor(caller))
        return json_response(200, {"dossier_ids": dossier_ids})

    @http("POST", "/facilities/<id:facility_id>/places", summary="Declare a free place", tag="facilities",
          body=schemas.FreePlaceBody, responses={201: schemas.FreePlace}, errors=FACILITY_CHANGE,
          path_parameters=FACILITY_PATH, description="At most 7 months ahead, on the facility's opening days.")
    def declare_free_place(self, request, facility_id):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.FreePlaceBody())
        place = self.matching.declare_free_place(facility_id, body, payloads.actor(caller))
        return json_response(201, place, headers={"Location": f"/places/{place['place_id']}"})

    @http("POST", "/facilities/<id:facility_id>/departures", summary="Record that an enrolled child left",
          tag="facilities", body=schemas.DepartureBody, responses={201: schemas.Departure}, errors=FACILITY_CHANGE,
          path_parameters=FACILITY_PATH,
          description="Its manager or the helpdesk; the child by request_id (or enrollment_id) and left_on. From "
                      "left_on the child no longer counts in the occupancy, so its seats of the Dutch-language and "
                      "vulnerable-families shares are free for rankings of places starting then. A second "
                      "departure of the same enrollment is a 409.")
    def record_departure(self, request, facility_id):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.DepartureBody())
        return json_response(201, self.matching.record_departure(facility_id, body, payloads.actor(caller)))

    @http("GET", "/places/<id:place_id>", summary="A free place and its offers", tag="facilities",
          responses={200: schemas.FreePlaceWithOffers}, errors=(401, 403, 404, 503), path_parameters=PLACE_PATH)
    def get_place(self, request, place_id):
        caller = self._caller(request)
        return json_response(200, self.matching.get_place(place_id, payloads.actor(caller)))

    @http("GET", "/places/<id:place_id>/ranking", summary="Candidates for a free place, in order, with why",
          tag="facilities", query=schemas.RankingQuery, responses={200: schemas.Ranking},
          errors=(400, 401, 403, 404, 503), path_parameters=PLACE_PATH,
          description="Every eligible candidate with the priority rules that put it there and the rule-set "
                      "version.")
    def rank_place(self, request, place_id):
        caller = self._caller(request)
        query = schemas.RankingQuery().load(request.args.to_dict())
        return json_response(200, self.matching.rank_place(place_id, payloads.actor(caller), query.get("limit")))

    @http("POST", "/places/<id:place_id>/offers", summary="Offer the place to a candidate (its manager)",
          tag="facilities", body=schemas.OfferBody, responses={201: schemas.Offer}, errors=FACILITY_CHANGE,
          path_parameters=PLACE_PATH)
    def make_offer(self, request, place_id):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.OfferBody())
        return json_response(201, self.matching.make_offer(place_id, body["request_id"], payloads.actor(caller)))

    @http("POST", "/offers/<id:offer_id>/answer", summary="Accept or decline an offer (the parent, or the helpdesk)",
          tag="dossiers", body=schemas.OfferAnswerBody, responses={200: schemas.Offer},
          errors=(400, 401, 403, 404, 409, 413, 503), path_parameters=OFFER_PATH,
          description="Accepting is an enrollment: the request closes and other facilities lose access (P21). "
                      "A second answer, or one after the answer window, is a 409.")
    def answer_offer(self, request, offer_id):
        caller = self._caller(request)
        body = web.validated_body(request, schemas.OfferAnswerBody())
        return json_response(200, self.matching.answer_offer(offer_id, body["accept"], payloads.actor(caller)))
