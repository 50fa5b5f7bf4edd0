"""Event handler entrypoint with bounded retries and parking: nothing is dropped silently.

nameko acks a message whose handler raised, which loses it. Here a failed message is republished
(with publisher confirms) to a delay queue that dead-letters it back after 1 s, 5 s, 30 s, ...; after
the last delay, or at once for a PermanentError or a message that breaks its contract, it is
parked in `<queue>.parked` with the reason, where `python -m loket.parking` lists and replays it.
Only once that republish is confirmed is the original acked; if the broker is gone the original is
not acked and comes back by itself.

    @event_handler("matching.registration_events")
    def on_registration_event(self, event): ...
"""
import logging
import socket
import time
from functools import partial

import eventlet
import eventlet.event
import kombu
from kombu import Connection
from nameko.amqp.publish import get_producer
from nameko.constants import (DEFAULT_HEARTBEAT, DEFAULT_TRANSPORT_OPTIONS, HEARTBEAT_CONFIG_KEY,
                              TRANSPORT_OPTIONS_CONFIG_KEY)
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint
from nameko.messaging import Consumer

from loket import contracts, observability, topology

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS_MS = (1000, 5000, 30000, 120000)
ATTEMPT_HEADER = "x-loket-attempt"
ERROR_HEADER = "x-loket-error"


class PermanentError(Exception):
    """A failure that retrying cannot fix (bad address, partner refused with 4xx): park at once."""


class EventsFailed(Exception):
    """Raised by a batch handler that committed the rest of its batch: the events it names (by
    event id) failed, each with its own error, and only they go through retry and parking (a
    PermanentError is parked at once, anything else retried, alone); the other messages of the
    batch are acknowledged as handled.

        raise EventsFailed({event["id"]: PermanentError("request missing from its dossier")})
    """

    def __init__(self, errors):
        super().__init__(f"{len(errors)} event(s) of the batch failed")
        self.errors = dict(errors)


class EventHandler(Consumer):
    def __init__(self, subscription, **kwargs):
        self.subscription = subscription
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self):
        self.amqp_uri, self.retry_delays, self.queue = _declare_subscription(self.container.config, self.subscription)
        super().setup()

    def handle_message(self, body, message):
        try:
            event = contracts.parse(body)
        except contracts.ContractError as exc:
            self._settle_failed(message, exc, permanent=True)
            return
        context_data = {"correlation_id": event["correlation_id"]}
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(
                self, (event,), {}, context_data=context_data, handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            observability.count("events_handled_total", self.subscription)
            self.queue_consumer.ack_message(message)
            return
        observability.count("handler_failures_total", self.subscription)
        error = exc_info[1]
        self._settle_failed(message, error, permanent=isinstance(error, PermanentError))

    def _settle_failed(self, message, error, permanent):
        if _move_failed(self.amqp_uri, self.subscription, self.retry_delays, message, error, permanent):
            self.queue_consumer.ack_message(message)
        else:
            self.queue_consumer.requeue_message(message)


def _declare_subscription(config, subscription):
    """The platform's exchanges and queues, and this subscription's retry queues; returns
    (AMQP URI, retry delays, the subscription's queue)."""
    amqp_uri = config["AMQP_URI"]
    retry_delays = tuple(config.get("RETRY_DELAYS_MS", DEFAULT_RETRY_DELAYS_MS))
    with Connection(amqp_uri, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=30, interval_start=1, interval_max=5)
        channel = connection.channel()
        topology.declare(channel, config)
        topology.declare_retry_queues(channel, subscription, retry_delays, config)
        channel.close()
    return amqp_uri, retry_delays, topology.subscription_queue(subscription, config)


def _move_failed(amqp_uri, subscription, retry_delays, message, error, permanent) -> bool:
    """Republish a failed message (publisher confirms) to its next retry queue, or park it; True once
    the broker has it, so that the caller may ack the original; False if it could not be moved
    (the caller leaves the original to the broker)."""
    headers = dict(message.headers or {})
    attempt = int(headers.get(ATTEMPT_HEADER, 0))
    if permanent or attempt >= len(retry_delays):
        observability.count("messages_parked_total", subscription)
        target = topology.parked_queue_name(subscription)
        log.error("parking message %s from %s after %d attempt(s): %s",
                  message.properties.get("message_id"), subscription, attempt + 1, type(error).__name__)
    else:
        target = topology.retry_queue_name(subscription, retry_delays[attempt])
        log.warning("retrying message %s from %s (attempt %d): %s",
                    message.properties.get("message_id"), subscription, attempt + 1, type(error).__name__)
    headers[ATTEMPT_HEADER] = attempt + 1
    headers[ERROR_HEADER] = f"{type(error).__name__}: {error}"[:1000]
    try:
        with get_producer(amqp_uri) as producer:
            producer.publish(
                message.body, exchange="", routing_key=target, headers=headers,
                content_type=message.content_type, content_encoding=message.content_encoding,
                delivery_mode=2, message_id=message.properties.get("message_id"),
                retry=True, retry_policy={"max_retries": 3},
            )
    except Exception:
        log.exception("could not move message to %s; leaving it unacked", target)
        return False
    return True


event_handler = EventHandler.decorator


class BatchEventHandler(Entrypoint):
    """Hands the handler a list of events, in arrival order, to apply in one transaction.

    For projections that must catch up fast, one worker, one commit and one acknowledgement per batch
    instead of per event: this entrypoint consumes its queue itself, on its own connection and
    channel (not through nameko's shared per-message consumer), checks each message against its
    contract as it arrives, hands up to `batch_size` events to one worker, and once the worker has
    returned acks the whole batch with one `basic.ack(multiple=True)`. A batch is cut when it is full
    or `max_wait` seconds after its first event. One batch is in flight at a time, so events reach
    the handler in the order the queue gave them.

    If the handler raises, every message of the batch goes its own way through retry and parking,
    so the handler must be idempotent per event (loket.inbox.claim_all) - which it is anyway. A
    retried message is handled alone, so only a poisonous event ends up parked. A handler that can
    tell which events failed may commit the others and raise `EventsFailed`: then only those are
    retried or parked. A message that breaks its contract is parked as it arrives.

    Nothing is acked before its batch is handled: if the process dies or the broker connection
    drops, the broker delivers the unacked messages again (here, after reconnecting, or to another
    instance). On stop, the batch in flight is finished and acked; messages received but not yet
    handed to a worker go back to the queue.

        @batch_event_handler("matching.registration_events", batch_size=200)
        def on_registration_events(self, events): ...

    Config: BATCH_PREFETCH (unacked messages per consumer; default twice the batch size), HEARTBEAT.
    """

    def __init__(self, subscription, batch_size=200, max_wait=0.05, **kwargs):
        self.subscription = subscription
        self.batch_size = batch_size
        self.max_wait = max_wait
        super().__init__(**kwargs)

    def setup(self):
        config = self.container.config
        self.amqp_uri, self.retry_delays, self.queue = _declare_subscription(config, self.subscription)
        self.prefetch = int(config.get("BATCH_PREFETCH") or 2 * self.batch_size)
        self.heartbeat = config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT)
        self.transport_options = config.get(TRANSPORT_OPTIONS_CONFIG_KEY, DEFAULT_TRANSPORT_OPTIONS)
        self._stopping = False
        self._consuming = False
        self._thread = None

    def start(self):
        self._thread = self.container.spawn_managed_thread(
            self._consume, identifier=f"batch consumer of {self.subscription}")

    def stop(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.wait()

    def kill(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()

    # -- the consumer's own greenthread -------------------------------------------------------------
    def _consume(self):
        delay = 1
        while not self._stopping:
            self._consuming = False
            try:
                self._consume_connected()
                return
            except _Stopped:
                return
            except Exception as problem:  # noqa: BLE001 - broker gone, channel closed, ...: reconnect
                if self._stopping:
                    return
                if self._consuming:
                    delay = 1  # it had reconnected: a new outage starts from a short wait again
                log.warning("consumer of %s lost its broker connection (%s: %s); reconnecting in %d s",
                            self.subscription, type(problem).__name__, problem, delay)
                eventlet.sleep(delay)
                delay = min(delay * 2, 30)

    def _consume_connected(self):
        received = []  # (event, message), in arrival order, not yet handed to a worker
        deadline = None  # when the first of `received` has waited max_wait

        def on_message(body, message):
            try:
                event = contracts.parse(body)
            except contracts.ContractError as problem:
                # Acked alone: a multiple ack here would take the events received before it along.
                if _move_failed(self.amqp_uri, self.subscription, self.retry_delays, message, problem,
                                permanent=True):
                    message.channel.basic_ack(message.delivery_tag)
                else:
                    message.channel.basic_reject(message.delivery_tag, requeue=True)
                return
            received.append((event, message))

        with Connection(self.amqp_uri, heartbeat=self.heartbeat,
                        transport_options=self.transport_options) as connection:
            channel = connection.channel()
            channel.basic_qos(0, self.prefetch, False)
            consumer = kombu.Consumer(channel, queues=[self.queue], callbacks=[on_message],
                                      accept=self.container.accept)
            consumer.consume()
            self._consuming = True
            while not self._stopping:
                if received and deadline is None:
                    deadline = time.monotonic() + self.max_wait
                wait = 1.0 if deadline is None else deadline - time.monotonic()
                if wait > 0 and len(received) < self.batch_size:
                    try:
                        connection.drain_events(timeout=wait)
                        continue
                    except socket.timeout:
                        connection.heartbeat_check()
                        if deadline is None:
                            continue
                batch = _next_batch(received, self.batch_size)
                del received[:len(batch)]
                deadline = None
                self._handle(channel, batch)
                connection.heartbeat_check()
            consumer.cancel()
        # Leaving the block closes the channel: the broker takes back what was received, not handled.

    def _handle(self, channel, batch):
        events = [event for event, _ in batch]
        messages = [message for _, message in batch]
        finished = eventlet.event.Event()

        def handle_result(worker_ctx, result=None, exc_info=None):
            finished.send(exc_info)
            return result, exc_info

        try:
            self.container.spawn_worker(self, (events,), {}, handle_result=handle_result,
                                        context_data={"correlation_id": events[0]["correlation_id"]})
        except ContainerBeingKilled:
            raise _Stopped() from None
        exc_info = finished.wait()
        if exc_info is None:
            handled, failed = messages, []
        elif isinstance(exc_info[1], EventsFailed):
            errors = exc_info[1].errors
            handled = [message for event, message in batch if event["id"] not in errors]
            failed = [(message, errors[event["id"]]) for event, message in batch if event["id"] in errors]
        else:
            handled, failed = [], [(message, exc_info[1]) for message in messages]
        self._settle(channel, handled, failed)

    def _settle(self, channel, handled, failed):
        """Ack what was handled, and what failed once it is in a retry or parking queue: with one
        multiple ack when every message of the batch could be settled (every earlier delivery on
        this channel is settled already: one batch at a time, in order, and a message that broke its
        contract was acked alone as it arrived)."""
        if handled:
            observability.count("events_handled_total", self.subscription, len(handled))
        settled, left = list(handled), []
        for message, error in failed:
            observability.count("handler_failures_total", self.subscription)
            moved = _move_failed(self.amqp_uri, self.subscription, self.retry_delays, message, error,
                                 permanent=isinstance(error, PermanentError))
            (settled if moved else left).append(message)
        if not left and settled:
            last = max(settled, key=lambda message: message.delivery_tag)
            channel.basic_ack(last.delivery_tag, multiple=True)
            return
        for message in settled:
            channel.basic_ack(message.delivery_tag)
        for message in left:
            channel.basic_reject(message.delivery_tag, requeue=True)


class _Stopped(Exception):
    """The container is being killed: leave what was received to the broker."""


def _next_batch(received, batch_size):
    """The first events waiting, up to batch_size, cut before a retried message; a retried message
    alone, so that one poisonous event cannot sink its neighbours again."""
    if _attempt(received[0][1]):
        return received[:1]
    batch = []
    for item in received[:batch_size]:
        if _attempt(item[1]):
            break
        batch.append(item)
    return batch


def _attempt(message) -> int:
    return int((message.headers or {}).get(ATTEMPT_HEADER, 0))


batch_event_handler = BatchEventHandler.decorator


def apply_batch(db, events, apply):
    """What a batch handler usually does: `apply(session, events) -> list of results` for the whole
    batch in one transaction; if that raises, each event again in a transaction of its own, so that
    one bad event fails alone. Returns (results of the events applied, {event id: what applying it
    alone raised}); raise `EventsFailed` with the latter to have only those retried or parked.

        results, failed = apply_batch(self.db, events, lambda session, batch: [... for event in batch])
    """
    try:
        with db.transaction() as session:
            return list(apply(session, events)), {}
    except Exception as problem:  # noqa: BLE001 - each event then fails or succeeds on its own
        if len(events) <= 1:
            return [], {event["id"]: problem for event in events}
        log.warning("a batch of %d events failed (%s); applying them one by one", len(events),
                    type(problem).__name__)
    results, failed = [], {}
    for event in events:
        applied, problems = apply_batch(db, [event], apply)
        results += applied
        failed.update(problems)
    return results, failed
