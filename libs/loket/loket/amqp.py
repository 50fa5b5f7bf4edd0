"""Publishing with publisher confirms, many messages per round trip.

nameko's dispatcher waits for one confirm per message. Here a batch is written to the channel in
one go and then we wait until the broker has confirmed every delivery tag of the batch: the
confirm guarantee is the same (nothing counts as sent before its ack), the round trips are not.
"""
import logging
import time
from contextlib import contextmanager

import amqp
import kombu
import kombu.exceptions

log = logging.getLogger(__name__)

# Errors after which the connection is dropped and the batch counts as not published.
CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError, EOFError)


class PublishFailed(Exception):
    pass


@contextmanager
def corked(transport, flush_at=256 * 1024):
    """Collect the frames py-amqp writes and send them in large writes instead of one syscall per frame.

    py-amqp hands `transport._write` a view of a buffer it reuses, so the bytes are copied here.
    """
    send = transport._write
    pending = bytearray()

    def collect(data):
        pending.extend(data)
        if len(pending) >= flush_at:
            send(bytes(pending))
            pending.clear()

    transport._write = collect
    try:
        yield
    finally:
        transport._write = send
    if pending:
        send(bytes(pending))


class BatchPublisher:
    def __init__(self, amqp_uri, connect_timeout=5.0):
        self.amqp_uri = amqp_uri
        self.connect_timeout = connect_timeout
        self._kombu = None
        self._channel = None

    # -- connection ---------------------------------------------------------------------------
    def _connect(self):
        self._kombu = kombu.Connection(self.amqp_uri, connect_timeout=self.connect_timeout)
        self._kombu.ensure_connection(max_retries=1)
        connection = self._kombu.connection
        self._channel = connection.channel()
        self._channel.confirm_select()
        self._pending = set()
        self._nacked = False
        self._next_tag = 1
        self._channel.events["basic_ack"].add(self._on_ack)
        self._channel.events["basic_nack"].add(self._on_nack)

    @property
    def channel(self):
        if self._channel is None:
            self._connect()
        return self._channel

    def close(self):
        if self._kombu is not None:
            try:
                self._kombu.release()
            except CONNECTION_ERRORS:
                pass
        self._kombu = None
        self._channel = None

    def _on_ack(self, delivery_tag, multiple):
        if multiple:
            self._pending = {tag for tag in self._pending if tag > delivery_tag}
        else:
            self._pending.discard(delivery_tag)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked = True
        self._on_ack(delivery_tag, multiple)

    # -- publishing -----------------------------------------------------------------------------
    def publish_batch(self, messages, exchange, timeout=15.0):
        """messages: iterable of (routing_key, body: bytes|str, message_id, headers).

        Returns once the broker confirmed all of them; raises PublishFailed otherwise (the
        connection is then reset and the caller must treat the whole batch as unpublished).
        """
        try:
            channel = self.channel
            self._nacked = False
            with corked(self._kombu.connection.transport):
                for routing_key, body, message_id, headers in messages:
                    properties = {"application_headers": headers} if headers else {}
                    message = amqp.Message(
                        body, content_type="application/json", content_encoding="utf-8",
                        delivery_mode=2, message_id=message_id, **properties,
                    )
                    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
                    self._pending.add(self._next_tag)
                    self._next_tag += 1
            deadline = time.monotonic() + timeout
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishFailed(f"{len(self._pending)} confirms not received within {timeout}s")
                try:
                    self._kombu.connection.drain_events(timeout=min(remaining, 1.0))
                except TimeoutError:
                    continue
            if self._nacked:
                raise PublishFailed("the broker refused (nacked) part of the batch")
        except CONNECTION_ERRORS as exc:
            self.close()
            raise PublishFailed(f"broker connection lost: {type(exc).__name__}: {exc}") from exc
        except PublishFailed:
            self.close()
            raise
