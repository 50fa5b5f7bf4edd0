"""The sender: a nameko dependency that delivers the outbound queue, one loop per partner.

Each partner has its own loop, its own pool of green threads (SEND_CONCURRENCY) and its own
transports, so a partner that is down or slow never holds up the other. A loop leases the
sendable heads (see consent_export.outbound), sends each through the partner's transport and
records the outcome. A lease is one attempt: if this instance dies mid-send, the lease expires
and another instance sends the same transfer again with the same idempotency key, which the
partner drops as a repeat. Several instances can run side by side.

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
from consent_export.transport import PartnerError, TransientPartnerError
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


class PartnerSender(DependencyProvider):
    def setup(self):
        config = self.container.config
        dependencies = self.container.dependencies
        self._database = next((dep for dep in dependencies if isinstance(dep, Database)), None)
        if self._database is None:
            raise RuntimeError("PartnerSender needs a loket.db.Database dependency on the same service")
        self._clock = next((dep for dep in dependencies if isinstance(dep, Clock)), None)
        self.policy = RetryPolicy(
            max_attempts=int(config.get("MAX_ATTEMPTS", 12)),
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
        wake = self._wake[partner]
        idle = LightQueue()
        for transport in self._transports[partner]:
            idle.put(transport)
        pool = eventlet.GreenPool(self.concurrency)
        while not self._stopping.is_set():
            wake.clear()
            try:
                claimed = self._claim(partner, pool.free()) if pool.free() else []
            except SQLAlchemyError as exc:
                log.warning("sender %s: cannot read the queue (%s); retrying", partner, type(exc).__name__)
                self._stopping.wait(self.interval)
                continue
            for transfer_id, transfer in claimed:
                pool.spawn_n(self._deliver, partner, transfer_id, transfer, idle)
            if not claimed or not pool.free():
                wake.wait(self._idle_wait(partner))
        pool.waitall()

    def _claim(self, partner, limit):
        with self._database.session_factory.begin() as session:
            return outbound.claim_heads(session, partner, self.owner, time.time(), self.lease_seconds, limit)

    def _idle_wait(self, partner):
        now = time.time()
        try:
            with self._database.session_factory.begin() as session:
                due = outbound.next_due(session, partner, now)
        except SQLAlchemyError:
            return self.interval
        return self.interval if due is None else max(0.0, min(self.interval, due - now))

    def _deliver(self, partner, transfer_id, transfer, idle):
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
        try:
            with self._database.session_factory.begin() as session:
                status = outbound.record_outcome(
                    session, transfer_id, self.owner, outcome, now=time.time(),
                    logged_at=(self._clock.clock if self._clock else SystemClock()).now(),
                    policy=self.policy, rng=self._rng)
            level = logging.WARNING if status == PARKED else logging.DEBUG
            log.log(level, "sender %s: transfer %s (%s) is %s", partner, transfer_id, transfer.kind, status)
        except SQLAlchemyError as exc:
            # The lease runs out and the transfer is sent again, with the same idempotency key.
            log.warning("sender %s: outcome of transfer %s not recorded (%s)", partner, transfer_id,
                        type(exc).__name__)
        finally:
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
