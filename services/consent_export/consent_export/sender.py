"""The sender: a nameko dependency that delivers the outbound queue, one loop per partner.

Each partner has its own loop, its own pool of green threads (SEND_CONCURRENCY) and its own
transports, so a partner that is down or slow never holds up the other. A loop leases the
sendable heads (see consent_export.outbound), sends each through the partner's transport and
records the outcome. A lease is one attempt: if this instance dies mid-send, the lease expires
and another instance sends the same transfer again with the same idempotency key, which the
partner drops as a repeat. Several instances can run side by side. When a partner comes back
after an outage, the retries waiting for their backoff go at once (PartnerHealth).

    sender = PartnerSender()
    ...
    self.sender.wake({"lop"})   # after committing new transfers: send now, not at the next poll
"""
import logging
import os
import random
import socket
import threading
import time
import uuid

import eventlet
from eventlet.queue import LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy.exc import SQLAlchemyError

from consent_export import outbound, partners
from consent_export.fields import PARTNERS
from consent_export.models import PARKED
from consent_export.retry import RetryPolicy
from consent_export.transport import Delivery, PartnerError, TransientPartnerError
from loket.clock import Clock, SystemClock
from loket.db import Database

log = logging.getLogger(__name__)


class Waker:
    """What a worker gets: `wake(partners)` starts those partners' loops at once."""

    def __init__(self, events):
        self._events = events

    def wake(self, partners=None) -> None:
        for partner in partners if partners is not None else self._events:
            self._events[partner].set()


class PartnerHealth:
    """Notices a partner coming back after an outage: a delivery after a run of passing failures.

    Then every retry still waiting for its backoff may go at once (the sender's concurrency keeps
    the pace), instead of up to BACKOFF_CAP later. A single transfer the partner keeps failing
    between successes is no outage and keeps its own backoff.
    """

    OUTAGE_FAILURES = 3

    def __init__(self):
        self.failures = 0  # passing failures since the last delivery

    def back(self, outcome) -> bool:
        if isinstance(outcome, TransientPartnerError):
            self.failures += 1
            return False
        if not isinstance(outcome, Delivery):
            return False
        came_back, self.failures = self.failures >= self.OUTAGE_FAILURES, 0
        return came_back


class PartnerSender(DependencyProvider):
    def setup(self):
        config = self.container.config
        dependencies = self.container.dependencies
        self._database = next((dep for dep in dependencies if isinstance(dep, Database)), None)
        if self._database is None:
            raise RuntimeError("PartnerSender needs a loket.db.Database dependency on the same service")
        self._clock = next((dep for dep in dependencies if isinstance(dep, Clock)), None)
        self.policy = RetryPolicy(
            max_attempts=int(config.get("MAX_ATTEMPTS", 40)),
            base=float(config.get("BACKOFF_BASE", 1.0)),
            cap=float(config.get("BACKOFF_CAP", 300.0)),
        )
        self.interval = float(config.get("SEND_INTERVAL", 1.0))
        self.concurrency = int(config.get("SEND_CONCURRENCY", 8))
        self.lease_seconds = float(config.get("LEASE_SECONDS") or 2 * partners.longest_send(config) + 5)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Fail at start, not at the first transfer, on a partner that is configured wrong.
        self._transports = {partner: partners.transports(config, partner, self.concurrency)
                            for partner in PARTNERS}
        self._wake = {partner: threading.Event() for partner in PARTNERS}
        self._stopping = threading.Event()
        self._threads = []
        self._rng = random.Random()

    def start(self):
        for partner in PARTNERS:
            self._threads.append(self.container.spawn_managed_thread(
                lambda partner=partner: self._run(partner), identifier=f"sender-{partner}"))

    def stop(self):
        self._stop()
        for thread in self._threads:
            thread.wait()
        self._close()

    def kill(self):
        self._stop()
        self._close()

    def get_dependency(self, worker_ctx):
        return Waker(self._wake)

    # -- the loop -----------------------------------------------------------------------------------
    def _run(self, partner):
        """One transaction per turn records the outcomes that came in and leases new heads (a
        delivered transfer's successor among them), then sends those in the pool."""
        wake = self._wake[partner]
        idle = LightQueue()
        for transport in self._transports[partner]:
            idle.put(transport)
        pool = eventlet.GreenPool(self.concurrency)
        finished = []  # (transfer id, kind, outcome), appended by the deliveries
        health = PartnerHealth()
        while not self._stopping.is_set():
            wake.clear()
            outcomes, finished[:] = finished[:], []
            try:
                claimed = self._turn(partner, outcomes, pool.free(), health)
            except SQLAlchemyError as exc:
                log.warning("sender %s: queue not reachable (%s); retrying", partner, type(exc).__name__)
                finished[:0] = outcomes
                self._stopping.wait(self.interval)
                continue
            except Exception:  # a bug: keep the loop alive; the leases run out and are sent again
                log.exception("sender %s: turn failed", partner)
                self._stopping.wait(self.interval)
                continue
            for transfer_id, transfer in claimed:
                pool.spawn_n(self._deliver, partner, transfer_id, transfer, idle, finished)
            if not claimed:
                wake.wait(self.interval if pool.running() else self._idle_wait(partner))
        pool.waitall()
        try:
            self._turn(partner, finished, 0, health)
        except SQLAlchemyError:
            pass  # their leases run out: sent again, with the same idempotency keys

    def _turn(self, partner, outcomes, free, health):
        now = time.time()
        logged_at = (self._clock.clock if self._clock else SystemClock()).now()
        with self._database.session_factory.begin() as session:
            # Recorded together, but a partner coming back brings forward only the retries
            # recorded before that delivery, as if each outcome had been recorded on its own.
            start = 0
            for end, (_, _, outcome) in enumerate(outcomes, 1):
                if health.back(outcome):
                    self._record(session, partner, outcomes[start:end], now, logged_at)
                    start = end
                    brought = outbound.retry_now(session, partner, now)
                    log.info("sender %s: partner answers again; %d waiting retries brought forward",
                             partner, brought)
            self._record(session, partner, outcomes[start:], now, logged_at)
            if not free:
                return []
            return outbound.claim_heads(session, partner, self.owner, now, self.lease_seconds, free)

    def _record(self, session, partner, outcomes, now, logged_at):
        if not outcomes:
            return
        statuses = outbound.record_outcomes(
            session, self.owner, [(transfer_id, outcome) for transfer_id, _, outcome in outcomes],
            now=now, logged_at=logged_at, policy=self.policy, rng=self._rng)
        for (transfer_id, kind, _), status in zip(outcomes, statuses):
            level = logging.WARNING if status == PARKED else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(level, "sender %s: transfer %s (%s) is %s", partner, transfer_id, kind, status)

    def _idle_wait(self, partner):
        now = time.time()
        try:
            with self._database.session_factory.begin() as session:
                due = outbound.next_due(session, partner, now)
        except SQLAlchemyError:
            return self.interval
        return self.interval if due is None else max(0.0, min(self.interval, due - now))

    def _deliver(self, partner, transfer_id, transfer, idle, finished):
        transport = idle.get()
        try:
            outcome = transport.send(transfer)
        except PartnerError as exc:
            outcome = exc
        except Exception as exc:  # a bug or an unforeseen failure: retried, then parked, never lost
            log.exception("sender %s: transfer %s failed unexpectedly", partner, transfer_id)
            outcome = TransientPartnerError(type(exc).__name__)
        finally:
            idle.put(transport)
        finished.append((transfer_id, transfer.kind, outcome))
        self._wake[partner].set()

    def _stop(self):
        self._stopping.set()
        for event in self._wake.values():
            event.set()

    def _close(self):
        for pool in self._transports.values():
            for transport in set(pool):
                close = getattr(transport, "close", None)
                if close is not None:
                    close()
