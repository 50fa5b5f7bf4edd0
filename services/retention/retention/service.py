"""Retention service entrypoints: retention clocks from registration events, the erasure saga, and
anonymised statistics.

Every change and the events it causes commit together (transactional outbox); the relay publishes after.
"""
import base64
import logging

from nameko.rpc import rpc
from nameko.dependency_providers import Config

from loket import observability, parking
from loket.amqp import CONNECTION_ERRORS
from loket.clock import Clock
from loket.consumer import EventsFailed, PermanentError, apply_batch, batch_event_handler
from loket.db import Database
from loket.errors import Forbidden, InvalidInput, NotFound
from loket.logs import LogContext
from loket.outbox import Outbox

from . import dossiers, erasure, exports, runs
from .clocks import CLOCK_EVENT_TYPES
from .counts import load_counts
from .dependencies import RetentionSettings, scan_timer
from .statistics import STANDARD_LAYOUTS, publish

log = logging.getLogger(__name__)

ACTIVITY = "retention.activity_events"
RECEIPTS = "retention.erasure_receipts"
# Erasure on request is the parent's own decision, or the helpdesk's on the parent's behalf
# (loket.access); that the parent owns the dossier is the registration service's to check.
ERASURE_ROLES = ("parent", "helpdesk")
FORMATS = ("json", "csv")
REPORTED_PER_SCAN = 100  # overdue runs logged one by one per scan; the rest are counted
RECEIPTS_PER_TRANSACTION = 8  # receipt events (four per batch of up to 200 dossiers)
ACTIVITY_PER_TRANSACTION = 200


class RetentionService(observability.Observable):
    name = "retention"

    db = Database()
    events = Outbox()
    clock = Clock()
    settings = RetentionSettings()
    log_context = LogContext()
    config = Config()

    # -- events -------------------------------------------------------------------------------------
    @batch_event_handler(ACTIVITY, batch_size=ACTIVITY_PER_TRANSACTION)
    def on_activity(self, events):
        """Up to ACTIVITY_PER_TRANSACTION events in one transaction (an erasure of 100,000 dossiers
        brings 100,000 dossier_erased); one that cannot be applied is retried or parked alone."""
        # Matching's places and offers: no activity on a dossier (a departure is).
        moving = [event for event in events if event["type"] in CLOCK_EVENT_TYPES]
        now = self.clock.now()
        started, failed = apply_batch(self.db, moving, lambda session, batch: dossiers.apply_activities(
            session, now, batch, ACTIVITY, self.events))
        for run in started:
            log.info("erasure run %s started for dossier %s: registration erased it", run.run_id, run.dossier_id)
        if failed:
            raise EventsFailed(failed)

    @batch_event_handler(RECEIPTS, batch_size=RECEIPTS_PER_TRANSACTION)
    def on_erasure_receipts(self, receipts):
        """Up to RECEIPTS_PER_TRANSACTION receipts in one transaction; what fits no run is not
        recorded, and once the rest is committed its receipt is parked (loket.consumer.EventsFailed)."""
        with self.db.transaction() as session:
            outcomes = runs.record_receipts(session, self.clock.now(), receipts, self.events)
        for outcome in outcomes:
            for completed in [] if isinstance(outcome, PermanentError) else outcome:
                log.info("erasure run %s of dossier %s completed", completed.run_id, completed.dossier_id)
        refused = {receipt["id"]: outcome for receipt, outcome in zip(receipts, outcomes)
                   if isinstance(outcome, PermanentError)}
        if refused:
            raise EventsFailed(refused)

    # -- erasure ------------------------------------------------------------------------------------
    @scan_timer()
    def scan(self):
        self.run_due_erasures()

    @rpc
    def run_due_erasures(self):
        """Start runs for every due dossier, ask again where receipts are missing, report what is
        overdue, and drop parked events of erased dossiers. Batches of ERASURE_BATCH_SIZE, each its
        own transaction."""
        settings, now = self.settings, self.clock.now()
        started = self._in_batches(lambda session: runs.start_due_erasures(
            session, now, settings.batch_size, self.events, settings.retention_years))
        retried = self._in_batches(lambda session: runs.request_missing_again(
            session, now, settings.retry_after, settings.batch_size, self.events))
        overdue = [run for run in retried if erasure.is_overdue(run.state, now, settings.give_up_after)]
        for run in overdue[:REPORTED_PER_SCAN]:
            log.error("erasure run %s of dossier %s incomplete after %d requests since %s; missing: %s",
                      run.run_id, run.dossier_id, run.state.attempts, run.state.started_at.isoformat(),
                      ", ".join(sorted(erasure.missing_services(run.state))))
        if len(overdue) > REPORTED_PER_SCAN:
            log.error("%d more erasure runs incomplete past ERASURE_GIVE_UP_AFTER: see incomplete_erasures()",
                      len(overdue) - REPORTED_PER_SCAN)
        return {"started": len(started), "requested_again": len(retried), "overdue": len(overdue),
                "parked_dropped": self._drop_parked_of_erased()}

    def _in_batches(self, step):
        done = []
        while True:
            with self.db.transaction() as session:
                batch = step(session)
            done += batch
            if len(batch) < self.settings.batch_size:
                return done

    def _drop_parked_of_erased(self) -> int:
        """Parked activity events hold dossier snapshots: those of erased dossiers go too."""
        try:
            return self._drop_parked(self.config["AMQP_URI"])
        except CONNECTION_ERRORS as exc:
            log.warning("parked events of erased dossiers not checked: %s; next scan tries again",
                        type(exc).__name__)
            return 0

    def _drop_parked(self, amqp_uri) -> int:
        """A parked activity event or receipt goes once every dossier it names is tombstoned (a
        version-2 receipt names its batch's dossiers); one tombstone query and one broker connection
        per subscription."""
        dropped = 0
        for subscription in (ACTIVITY, RECEIPTS):
            named = set().union(*(item["dossiers"] for item in parking.list_parked(amqp_uri, subscription)))
            if not named:
                continue
            with self.db.transaction() as session:
                erased = runs.tombstoned_among(session, named)
            if erased:
                dropped += parking.purge_erased(amqp_uri, [subscription], erased)
        return dropped

    @rpc
    def request_erasure(self, dossier_id, caller):
        """GDPR erasure on request (P23). Returns the run as erasure_status does."""
        _check_dossier_id(dossier_id)
        if not isinstance(caller, dict) or not caller.get("actor_id"):
            raise InvalidInput({"caller": ["a caller with role and actor_id is required"]})
        if caller.get("role") not in ERASURE_ROLES:
            raise Forbidden(f"role {caller.get('role')!r} may not erase a dossier")
        with self.db.transaction() as session:
            run = runs.request_erasure(session, self.clock.now(), dossier_id, runs.PARENT_REQUEST, self.events)
        log.info("erasure of dossier %s requested by %s %s: run %s", dossier_id, caller["role"],
                 caller["actor_id"], run.run_id)
        return run.describe()

    @rpc
    def erasure_status(self, dossier_id):
        _check_dossier_id(dossier_id)
        with self.db.transaction() as session:
            run = runs.run_of(session, dossier_id)
        if run is None:
            raise NotFound(f"no erasure of dossier {dossier_id}")
        return run.describe()

    @rpc
    def incomplete_erasures(self, limit=1000):
        """Runs still incomplete ERASURE_GIVE_UP_AFTER after they started, oldest first."""
        with self.db.transaction() as session:
            overdue = runs.incomplete_erasures(session, self.clock.now(), self.settings.give_up_after, int(limit))
        return [run.describe() for run in overdue]

    @rpc
    def personal_data(self, dossier_id):
        _check_dossier_id(dossier_id)
        with self.db.transaction() as session:
            return dossiers.personal_data(session, dossier_id, self.settings.retention_years)

    # -- statistics -------------------------------------------------------------------------------
    def _published(self):
        # Always the whole standard set: every call shows part of one consistent suppression, so
        # no two calls can be combined to recompute a hidden number.
        with self.db.transaction() as session:
            counts = load_counts(session)
        return publish(counts, STANDARD_LAYOUTS, self.settings.statistics_threshold)

    @rpc
    def statistics(self, layout=None, format="json"):
        """Published tables as text: JSON (one table, or a list of all when no layout is given) or
        CSV (one table). `layout`: [rows] or [rows, columns], one of statistics.STANDARD_LAYOUTS."""
        if format not in FORMATS:
            raise InvalidInput({"format": [f"one of {', '.join(FORMATS)}"]})
        tables = self._published()
        if layout is None:
            if format == "csv":
                raise InvalidInput({"layout": ["a CSV file holds one table: choose a layout"]})
            return exports.tables_to_json(tables)
        table = _table(tables, layout)
        return exports.to_json(table) if format == "json" else exports.to_csv(table)

    @rpc
    def demand_chart_png(self):
        """The demand per month of desired start as a PNG image, base64-encoded."""
        table = _table(self._published(), ["start_month"])
        return base64.b64encode(exports.demand_chart_png(table)).decode("ascii")


def _check_dossier_id(dossier_id):
    if not isinstance(dossier_id, str) or not 0 < len(dossier_id) <= 64:
        raise InvalidInput({"dossier_id": ["a dossier id of 1 to 64 characters"]})


def _table(tables, layout):
    wanted = tuple(layout) + (None,) * (2 - len(layout)) if isinstance(layout, (list, tuple)) else None
    for table in tables:
        if (table.rows, table.columns) == wanted:
            return table
    choices = ", ".join(f"[{rows}{', ' + columns if columns else ''}]" for rows, columns in STANDARD_LAYOUTS)
    raise InvalidInput({"layout": [f"one of {choices}"]})
