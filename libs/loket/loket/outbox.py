"""Transactional outbox: events are rows written in the same transaction as the change; a relay
publishes them with publisher confirms and deletes them only after the broker confirmed.

While the broker is down, writes keep succeeding and rows wait. A crash between the confirm and
the delete republishes a batch: consumers are idempotent (loket.inbox), so that costs nothing.
"""
import json
import logging
import os
import socket
import threading
import time
import uuid

from nameko.extensions import DependencyProvider
from sqlalchemy import delete, event as sa_event, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from loket import contracts, topology
from loket.amqp import CONNECTION_ERRORS, BatchPublisher, PublishFailed
from loket.clock import utcnow
from loket.db import Database
from loket.loops import run_until_stopped
from loket.tables import outbox, relay_lease

log = logging.getLogger(__name__)


_INSERT_EVENT = insert(outbox)  # built once: a statement per call costs more than the insert itself
_RECORDED = "loket.outbox.recorded"  # session.info: this transaction recorded events
_LISTENING = "loket.outbox.listening"  # session.info: the commit and rollback listeners are installed


def _forget_recorded(session):
    session.info.pop(_RECORDED, None)


class EventRecorder:
    """What a worker gets from the Outbox dependency."""

    def __init__(self, producer, correlation_id=None, on_commit=None, clock=None):
        self.producer = producer
        self.correlation_id = correlation_id
        self._on_commit = on_commit
        self._clock = clock

    def record(self, session, event_type, aggregate_id, sequence, data, version=1):
        """Validate the event against its contract and add it to the outbox in `session`'s transaction."""
        return self.record_many(session, [(event_type, aggregate_id, sequence, data)], version)[0]

    def record_many(self, session, events, version=1) -> list[dict]:
        """`record` for many events, `(event_type, aggregate_id, sequence, data)` each: all validated
        before any is written, then inserted by one executemany (multi-row INSERTs on PostgreSQL,
        one prepared statement on SQLite). Returns their envelopes, in order."""
        occurred_at = self._clock.now() if self._clock else None
        bodies = [contracts.envelope(event_type, data, aggregate_id=aggregate_id, sequence=sequence,
                                     producer=self.producer, correlation_id=self.correlation_id,
                                     version=version, occurred_at=occurred_at)
                  for event_type, aggregate_id, sequence, data in events]
        if not bodies:
            return bodies
        created_at = utcnow()
        rows = [{"event_id": body["id"], "event_type": body["type"], "aggregate_id": body["aggregate_id"],
                 "body": json.dumps(body, separators=(",", ":")), "created_at": created_at} for body in bodies]
        session.execute(_INSERT_EVENT, rows[0] if len(rows) == 1 else rows)
        if self._on_commit is not None:
            # The relay is woken once per committed transaction, however many events it recorded;
            # the listeners are installed once per session.
            session.info[_RECORDED] = True
            if not session.info.get(_LISTENING):
                session.info[_LISTENING] = True
                sa_event.listen(session, "after_commit", self._committed)
                sa_event.listen(session, "after_rollback", _forget_recorded)
        return bodies

    def _committed(self, session):
        if session.info.pop(_RECORDED, False):
            self._on_commit()


def forget_aggregate(session, aggregate_id) -> int:
    """Erasure: drop events about one dossier that were not relayed yet (they hold its personal data)."""
    return forget_aggregates(session, [aggregate_id]).get(str(aggregate_id), 0)


def forget_aggregates(session, aggregate_ids) -> dict:
    """`forget_aggregate` for many dossiers in two statements: {dossier id: events dropped} (only those
    that had any)."""
    ids = sorted({str(aggregate_id) for aggregate_id in aggregate_ids})
    if not ids:
        return {}
    connection = session.connection()
    counts = dict(connection.execute(
        select(outbox.c.aggregate_id, func.count()).where(outbox.c.aggregate_id.in_(ids))
        .group_by(outbox.c.aggregate_id)).all())
    if counts:
        connection.execute(delete(outbox).where(outbox.c.aggregate_id.in_(sorted(counts))))
    return counts


class OutboxRelay:
    """Moves outbox rows to the broker, in id order, one batch at a time, while it holds the lease."""

    def __init__(self, engine, amqp_uri, name, batch_size=500, lease_seconds=15.0, config=None):
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.config = config or {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.publisher = BatchPublisher(amqp_uri)
        self.amqp_uri = amqp_uri
        self._topology_declared = False

    def _hold_lease(self, connection) -> bool:
        now = time.time()
        result = connection.execute(
            update(relay_lease)
            .where(relay_lease.c.name == self.name)
            .where((relay_lease.c.owner == self.owner) | (relay_lease.c.expires_at < now))
            .values(owner=self.owner, expires_at=now + self.lease_seconds)
        )
        if result.rowcount:
            return True
        try:
            with connection.begin_nested():
                connection.execute(insert(relay_lease).values(
                    name=self.name, owner=self.owner, expires_at=now + self.lease_seconds))
            return True
        except IntegrityError:
            return False

    def release_lease(self):
        with self.engine.begin() as connection:
            connection.execute(delete(relay_lease).where(relay_lease.c.name == self.name)
                               .where(relay_lease.c.owner == self.owner))

    def declare_topology(self):
        if self._topology_declared:
            return
        try:
            topology.declare(self.publisher.channel, self.config)
        except CONNECTION_ERRORS as exc:
            self.publisher.close()
            raise PublishFailed(f"cannot declare topology: {exc}") from exc
        self._topology_declared = True

    def relay_once(self) -> int:
        """Publish one batch. Returns how many rows were published (0: nothing to do or not the leader)."""
        with self.engine.begin() as connection:
            if not self._hold_lease(connection):
                return 0
            rows = connection.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body)
                .order_by(outbox.c.id).limit(self.batch_size)
            ).all()
        if not rows:
            return 0
        self.declare_topology()
        try:
            self.publisher.publish_batch(
                ((row.event_type, row.body, row.event_id, None) for row in rows), exchange=contracts.EXCHANGE)
        except PublishFailed:
            self._topology_declared = False  # a broker that lost its state gets the queues again
            raise
        with self.engine.begin() as connection:
            connection.execute(delete(outbox).where(outbox.c.id.in_([row.id for row in rows])))
        return len(rows)

    def backlog(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(outbox)).scalar_one()

    def close(self):
        self.publisher.close()
        self._topology_declared = False


class Outbox(DependencyProvider):
    """nameko dependency: `self.events.record(session, type, aggregate_id, sequence, data)` inside a
    `self.db.transaction()`; a background relay publishes what was committed."""

    def __init__(self, batch_size=500, idle_interval=0.5):
        self.batch_size = batch_size
        self.idle_interval = idle_interval

    def setup(self):
        self._database = next(
            (dep for dep in self.container.dependencies if isinstance(dep, Database)), None)
        if self._database is None:
            raise RuntimeError("Outbox needs a loket.db.Database dependency on the same service")
        from loket.clock import Clock
        self._clock = next(
            (dep for dep in self.container.dependencies if isinstance(dep, Clock)), None)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        config = self.container.config
        # OUTBOX_AMQP_URI lets the relay use its own broker endpoint (and lets tests cut just the relay's link).
        self.relay = OutboxRelay(
            self._database.engine, config.get("OUTBOX_AMQP_URI") or config["AMQP_URI"], name=f"{self.container.service_name}.outbox",
            batch_size=self.batch_size, config=config)
        try:
            self.relay.declare_topology()  # consumers' queues exist before this service's first event
        except PublishFailed as exc:
            log.warning("outbox relay: topology not declared yet (%s); the relay retries before publishing", exc)
        self._thread = self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def _run(self):
        run_until_stopped("outbox relay", self.relay.relay_once, self._stopping, self._wake, self.idle_interval,
                          lambda published: published >= self.relay.batch_size,
                          expected=(PublishFailed, SQLAlchemyError))

    def stop(self):
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.wait()
        try:
            # Handed over at once: the next instance (a restart, a redeploy) need not wait for it to expire.
            self.relay.release_lease()
        except SQLAlchemyError as exc:
            log.warning("outbox relay: lease not released (%s); it expires by itself", type(exc).__name__)
        self.relay.close()

    def kill(self):
        self._stopping.set()
        self._wake.set()
        self.relay.close()

    def get_dependency(self, worker_ctx):
        return EventRecorder(
            self.container.service_name,
            correlation_id=worker_ctx.context_data.get("correlation_id") or worker_ctx.call_id,
            on_commit=self._wake.set,
            clock=self._clock.clock if self._clock else None,
        )
