"""Matching service entrypoints: facilities, free places, rankings, offers; the read model of
requests kept from registration's events. Every change and its event commit together (outbox).

Every RPC that acts for someone takes `caller`, as the gateway authenticated it (access.py).
Each process ranks from its own in-memory candidate index (candidates.py), loaded from the
database at start and caught up on other processes' changes before every ranking.
"""
import json

from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http

from loket import observability  # not `import Observable`: `nameko run` would take it for a service
from loket.clock import Clock
from loket.consumer import EventsFailed, PermanentError, batch_event_handler
from loket.db import Database
from loket.erasure import ERASURE_BATCH, handle_erasure_requests
from loket.errors import Conflict, InvalidInput
from loket.logs import LogContext
from loket.outbox import Outbox
from loket.timers import configured_timer

from matching import access, departures, dossiers, erasure, facilities, offers, places, projection, readmodel, schemas
from matching import occupancy as occupancy_of
from matching.candidates import Candidates
from matching.dependencies import RuleSets
from matching.eligibility import eligible
from matching.projection import SUBSCRIPTION as REGISTRATION_EVENTS
from matching.ranking import offer_respects_dutch_share, rank

ERASURE_REQUESTS = "matching.erasure_requests"
LAPSE_BATCH = 200
NOT_A_CANDIDATE = ("Not a candidate: the request is unknown to matching, no longer active, "
                   "or its processing is restricted.")


class MatchingService(observability.Observable):
    name = "matching"

    db = Database()
    events = Outbox()
    clock = Clock()
    rule_sets = RuleSets()
    candidates = Candidates()
    config = Config()
    log_context = LogContext()
    registration = RpcProxy("registration")

    # -- events -------------------------------------------------------------------------------------
    @batch_event_handler(REGISTRATION_EVENTS, batch_size=projection.BATCH)
    def on_registration_events(self, events):
        """Into the read model and this process's candidate index, a batch per transaction
        (projection.py); an event that cannot be applied is retried or parked alone."""
        failed = projection.apply(self.db, events, self.events, self.rule_sets, self.candidates)
        if failed:
            raise EventsFailed({event_id: PermanentError(str(problem))
                                if isinstance(problem, readmodel.UnusableEvent) else problem
                                for event_id, problem in failed.items()})

    @batch_event_handler(ERASURE_REQUESTS, batch_size=ERASURE_BATCH)
    def on_erasure_requested(self, events):
        """Retention's erasure requests, a batch per transaction (loket.erasure, erasure.erase_dossiers);
        once committed, the erased dossiers leave this process's candidate index."""
        changes = []

        def erase(session, dossier_ids):
            erased, batch_changes = erasure.erase_dossiers(session, dossier_ids)
            changes.extend(batch_changes)
            return erased

        handle_erasure_requests(self.db, self.events, self.name, self.config["AMQP_URI"], events, erase)
        for change in changes:
            self.candidates.apply(change)

    # -- operators ----------------------------------------------------------------------------------
    @http("GET", "/health")
    def health(self, request):
        """The platform's health, and not ready while this process's candidate index is still loading."""
        status, headers, body = super().health(request)
        if status == 200 and not self.candidates.loaded:
            return 503, headers, json.dumps({**json.loads(body), "status": "failing", "candidate_index": "loading"})
        return status, headers, body

    @http("GET", "/metrics")
    def metrics(self, request):
        """The platform's metrics plus this process's candidate index and the places and offers open."""
        status, headers, body = super().metrics(request)
        with self.db.transaction() as session:
            counts = places.open_counts(session)
        lines = ["# HELP loket_matching_candidates Active candidates in this process's index.",
                 "# TYPE loket_matching_candidates gauge", f"loket_matching_candidates {len(self.candidates)}",
                 "# HELP loket_matching_open Free places and offers waiting.", "# TYPE loket_matching_open gauge"]
        lines += [f'loket_matching_open{{what="{name}"}} {value}' for name, value in counts.items()]
        return status, headers, body + "\n".join(lines) + "\n"

    # -- facilities ---------------------------------------------------------------------------------
    @rpc
    def register_facility(self, payload, caller):
        access.require_helpdesk(caller)
        data = schemas.validate(schemas.FacilityInput(self.rule_sets), payload)
        with self.db.transaction() as session:
            return facilities.view(facilities.register(session, self.clock.now(), data), with_staff=True)

    @rpc
    def update_facility(self, facility_id, payload, caller):
        """Change some fields; the facility as a whole is validated again (e.g. its share against its rule set)."""
        access.require_facility_staff(caller, facility_id)
        if isinstance(payload, dict) and "id" in payload:
            raise InvalidInput({"id": ["A facility's id cannot be changed."]})
        with self.db.transaction() as session:
            row = facilities.get_row(session, facility_id)
            merged = {**facilities.as_input(row), **payload} if isinstance(payload, dict) else payload
            data = schemas.validate(schemas.FacilityInput(self.rule_sets), merged)
            return facilities.view(facilities.update(session, self.clock.now(), row, data), with_staff=True)

    @rpc
    def get_facility(self, facility_id, caller=None):
        """Public data; its manager and the helpdesk also get the staff list, today's occupancy and the
        enrolled children (their enrollment ids, for record_departure)."""
        staff = caller is not None and self._is_staff(caller, facility_id)
        today = self.clock.now().date()
        with self.db.transaction() as session:
            result = facilities.view(facilities.get_row(session, facility_id), with_staff=staff)
            if staff:
                result["occupancy"] = occupancy_of.view(occupancy_of.current(session, facility_id, today))
                present = occupancy_of.present(session, facility_id, today)
                result["enrollments"] = [departures.view(row) for row in present]
        return result

    @rpc
    def list_facilities(self):
        with self.db.transaction() as session:
            return [facilities.view(row, with_staff=False) for row in facilities.listing(session)]

    # -- places and rankings ------------------------------------------------------------------------
    @rpc
    def declare_free_place(self, facility_id, payload, caller):
        who = access.require_facility_staff(caller, facility_id)
        now = self.clock.now()
        with self.db.transaction() as session:
            facility = facilities.get(session, facility_id)
            data = schemas.validate(schemas.FreePlaceInput(facility, now.date()), payload)
            return places.view(places.declare(session, now, facility, data, who.actor_id, self.events))

    @rpc
    def get_place(self, place_id, caller):
        """The place and the offers made for it."""
        with self.db.transaction() as session:
            row = places.get_row(session, place_id)
            access.require_facility_staff(caller, row.facility_id)
            return {**places.view(row), "offers": [offers.view(offer) for offer in places.offers_of(session, place_id)]}

    @rpc
    def rank_place(self, place_id, caller, limit=None):
        """Who gets this place and why: every eligible candidate in order, with the rules that put it
        there and the rule-set version; `limit` shows only the first ones (`total` counts all)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise InvalidInput({"limit": ["Give a whole number of at least 1."]})
        now = self.clock.now()
        self.candidates.wait_loaded()  # before the transaction: the load needs one too
        with self.db.transaction() as session:
            row = places.get_row(session, place_id)
            access.require_facility_staff(caller, row.facility_id)
            facility = facilities.get(session, row.facility_id)
            current = occupancy_of.current(session, facility.id, row.start_date)
            holders = places.request_ids_with_open_offers(session)
            self.candidates.catch_up(session)
        # Ranked outside the transaction: on SQLite every transaction holds the write lock.
        ranking = rank(facility, current, places.free_place(row), self.candidates.candidates_for(facility.id),
                       self.rule_sets[facility.rule_set])
        return places.ranking_view(ranking, row, current, holders, now, limit)

    @rpc
    def make_offer(self, place_id, request_id, caller):
        """Offer an open place to a candidate of its current ranking (only the facility's manager)."""
        now = self.clock.now()
        self.candidates.wait_loaded()
        with self.db.transaction() as session:
            row = places.get_row(session, place_id, for_update=True)
            who = access.require_facility_manager(caller, row.facility_id)
            if row.status != "open":
                raise Conflict(f"place {place_id} is {row.status}, not open")
            # Locked, so that two offers of one facility cannot both take the last seat of its Dutch share.
            facility = facilities.facility_from_row(facilities.get_row(session, row.facility_id, for_update=True))
            rule_set = self.rule_sets[facility.rule_set]
            current = occupancy_of.current(session, facility.id, row.start_date)
            self.candidates.catch_up(session)
            place = places.free_place(row)
            ranking = rank(facility, current, place, self.candidates.candidates_for(facility.id), rule_set)
            ranked = next((c for c in ranking.candidates if c.request_id == request_id), None)
            if ranked is None:
                candidate = self.candidates.get(request_id)
                why = eligible(candidate, facility, place)[1] if candidate is not None else NOT_A_CANDIDATE
                raise InvalidInput({"request_id": [why]})
            if not offer_respects_dutch_share(ranked, facility, current, rule_set):
                raise Conflict(f"the Dutch-language share of {facility.id} is full")
            offer = offers.make(session, now, offers.new_offer_id(), facility, row, ranked, ranking.rule_set_version,
                                who.actor_id, self.events)
            return offers.view(offer)

    # -- offers -------------------------------------------------------------------------------------
    @rpc
    def answer_offer(self, offer_id, accept, caller):
        """The parent accepts (an enrollment, recorded by registration) or declines; a second answer is a Conflict."""
        who = access.require_answering(caller)
        if not isinstance(accept, bool):
            raise InvalidInput({"accept": ["Give true or false."]})
        with self.db.transaction() as session:
            dossier_id = offers.dossier_of(session, offer_id)
        # Whose dossier it is, registration knows: it refuses (NotFound/Forbidden) anyone but its parent or the helpdesk.
        self.registration.check_access(dossier_id, "answer_offer", caller)
        with self.db.transaction() as session:
            return offers.view(offers.answer(session, self.clock.now(), offer_id, accept, who.role, self.events))

    @rpc
    def lapse_due_offers(self):
        """Lapse every open offer whose answer window closed by the service clock; returns how many."""
        total = 0
        while True:
            with self.db.transaction() as session:
                lapsed = offers.lapse_due(session, self.clock.now(), self.events, LAPSE_BATCH)
            total += lapsed
            if lapsed < LAPSE_BATCH:
                return total

    @configured_timer("OFFER_LAPSE_INTERVAL", 60)
    def lapse_offers_on_time(self):
        self.lapse_due_offers()

    # -- departures ---------------------------------------------------------------------------------
    @rpc
    def record_departure(self, facility_id, payload, caller):
        """An enrolled child left the facility: `{request_id | enrollment_id, left_on}`. From left_on it
        no longer counts in the occupancy (nor in the quotas a ranking computes from it)."""
        who = access.require_facility_staff(caller, facility_id)
        now = self.clock.now()
        with self.db.transaction() as session:
            facilities.get_row(session, facility_id)
            data = schemas.validate(schemas.DepartureInput(now.date()), payload)
            return departures.view(departures.record(session, now, facility_id, data, who.actor_id, self.events))

    # -- dossiers -----------------------------------------------------------------------------------
    @rpc
    def candidates_dossier_ids(self, facility_id, caller):
        """The dossiers a facility's manager may see (P1, P2, P21): an active request chose the
        facility or is urgent, or a request is enrolled there."""
        access.require_facility_staff(caller, facility_id)
        with self.db.transaction() as session:
            facilities.get_row(session, facility_id)
            return dossiers.visible_to_facility(session, facility_id)

    @rpc
    def personal_data(self, dossier_id):
        """Everything matching holds about a dossier (GDPR access and portability)."""
        with self.db.transaction() as session:
            return dossiers.personal_data(session, dossier_id)

    @rpc
    def rebuild_read_model(self):
        """Operators: reload this process's candidate index from the read-model tables (see README)."""
        with self.db.transaction() as session:
            loaded = self.candidates.load(session)
        return {"active_candidates": loaded, "revision": self.candidates.revision}

    def _is_staff(self, caller, facility_id) -> bool:
        who = access.caller_from(caller)
        return who.role == "helpdesk" or access.manages(who, facility_id)
