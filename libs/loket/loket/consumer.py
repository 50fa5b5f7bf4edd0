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
import threading
from functools import partial

import eventlet

from kombu import Connection
from nameko.amqp.publish import get_producer
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

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
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.retry_delays = tuple(config.get("RETRY_DELAYS_MS", DEFAULT_RETRY_DELAYS_MS))
        self.queue = topology.subscription_queue(self.subscription, config)
        with Connection(self.amqp_uri, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=30, interval_start=1, interval_max=5)
            channel = connection.channel()
            topology.declare(channel, config)
            topology.declare_retry_queues(channel, self.subscription, self.retry_delays, config)
            channel.close()
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
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0))
        if permanent or attempt >= len(self.retry_delays):
            observability.count("messages_parked_total", self.subscription)
            target = topology.parked_queue_name(self.subscription)
            log.error("parking message %s from %s after %d attempt(s): %s",
                      message.properties.get("message_id"), self.subscription, attempt + 1,
                      type(error).__name__)
        else:
            target = topology.retry_queue_name(self.subscription, self.retry_delays[attempt])
            log.warning("retrying message %s from %s (attempt %d): %s",
                        message.properties.get("message_id"), self.subscription, attempt + 1,
                        type(error).__name__)
        headers[ATTEMPT_HEADER] = attempt + 1
        headers[ERROR_HEADER] = f"{type(error).__name__}: {error}"[:1000]
        try:
            with get_producer(self.amqp_uri) as producer:
                producer.publish(
                    message.body, exchange="", routing_key=target, headers=headers,
                    content_type=message.content_type, content_encoding=message.content_encoding,
                    delivery_mode=2, message_id=message.properties.get("message_id"),
                    retry=True, retry_policy={"max_retries": 3},
                )
        except Exception:
            # Not acked: the broker gives the message back to us (or another instance) later.
            log.exception("could not move message to %s; leaving it unacked", target)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


event_handler = EventHandler.decorator


class BatchQueueConsumer(QueueConsumer):
    """A queue consumer of its own (own channel) whose prefetch allows whole batches in flight."""

    @property
    def prefetch_count(self):
        return int(self.container.config.get("BATCH_PREFETCH", 500))


class BatchEventHandler(EventHandler):
    """Hands the handler a list of events, in arrival order, to apply in one transaction.

    For projections that must catch up fast: one worker and one commit per batch instead of per
    event. A batch is flushed when it is full or `max_wait` seconds after its first event. If the
    handler raises, every message of the batch goes its own way through retry and parking, so the
    handler must be idempotent per event (loket.inbox.claim) - which it is anyway. A retried message
    is handled alone, so only a poisonous event ends up parked. A handler that can tell which events
    failed may commit the others and raise `EventsFailed`: then only those are retried or parked.

        @batch_event_handler("matching.registration_events", batch_size=200)
        def on_registration_events(self, events): ...
    """

    queue_consumer = BatchQueueConsumer()

    def __init__(self, subscription, batch_size=200, max_wait=0.05, **kwargs):
        self.batch_size = batch_size
        self.max_wait = max_wait
        super().__init__(subscription, **kwargs)

    def setup(self):
        super().setup()
        self._pending = []
        self._lock = threading.Lock()
        self._timer = None

    def handle_message(self, body, message):
        try:
            event = contracts.parse(body)
        except contracts.ContractError as exc:
            self._settle_failed(message, exc, permanent=True)
            return
        if int((message.headers or {}).get(ATTEMPT_HEADER, 0)):
            # A retry comes back alone, so that one poisonous event cannot sink its neighbours again.
            self._spawn([(event, message)])
            return
        with self._lock:
            self._pending.append((event, message))
            full = len(self._pending) >= self.batch_size
            if not full and self._timer is None:
                self._timer = eventlet.spawn_after(self.max_wait, self._flush)
        if full:
            self._flush()

    def _flush(self):
        with self._lock:
            batch, self._pending = self._pending, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if batch:
            self._spawn(batch)

    def _spawn(self, batch):
        events = [event for event, _ in batch]
        messages = [message for _, message in batch]
        try:
            self.container.spawn_worker(
                self, (events,), {}, context_data={"correlation_id": events[0]["correlation_id"]},
                handle_result=partial(self.handle_batch_result, messages, events=events))
        except ContainerBeingKilled:
            for message in messages:
                self.queue_consumer.requeue_message(message)

    def handle_batch_result(self, messages, worker_ctx, result=None, exc_info=None, events=None):
        if exc_info is not None and isinstance(exc_info[1], EventsFailed) and events is not None:
            errors = exc_info[1].errors
            for event, message in zip(events, messages):
                error = errors.get(event["id"])
                if error is None:
                    self.handle_message_processed(message, result)
                else:
                    self.handle_message_processed(message, result,
                                                  (type(error), error, error.__traceback__))
            return result, exc_info
        for message in messages:
            self.handle_message_processed(message, result, exc_info)
        return result, exc_info


batch_event_handler = BatchEventHandler.decorator
