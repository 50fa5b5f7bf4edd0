"""The broker topology, declared in one place by every service before it publishes or consumes.

All events go to one durable topic exchange. Each subscription is a durable queue of its own,
bound to the event types its consumer needs. Because every service declares every subscription
queue at start-up (and the relay again before it publishes), an event sent before its consumer
ever started waits in the consumer's queue instead of being dropped by an exchange with no binding.

Per subscription there is also a parked queue (`<queue>.parked`) for messages that failed every
retry, and one delay queue per retry delay (`<queue>.retry.<ms>`), declared by the consumer, whose
messages dead-letter back into the subscription queue when their time is up.
"""
from kombu import Connection, Exchange, Queue

from loket.contracts import EXCHANGE

# queue name -> routing keys (event types, topic patterns allowed). Add a consumer here first.
SUBSCRIPTIONS = {
    # Registration's replay (loket.contracts.registration_replay) goes to matching's read model only.
    "matching.registration_events": ["registration.#", "registration_replay.#"],
    "notification.registration_events": ["registration.#"],
    "notification.matching_events": ["matching.#"],
    "notification.gateway_events": ["gateway.account_confirmation_requested"],
    "consent_export.registration_events": ["registration.#"],
    "retention.activity_events": ["registration.#", "matching.#"],
    "retention.erasure_receipts": ["erasure_receipt.*"],
    "registration.matching_events": ["matching.offer_accepted"],
    # Every service that holds personal data erases it on request (see loket.contracts.retention).
    "registration.erasure_requests": ["retention.erasure_requested"],
    "matching.erasure_requests": ["retention.erasure_requested"],
    "notification.erasure_requests": ["retention.erasure_requested"],
    "consent_export.erasure_requests": ["retention.erasure_requested"],
}

events_exchange = Exchange(EXCHANGE, type="topic", durable=True)


def _queue_arguments(config):
    # Quorum queues in production (replicated, poison-message aware); classic on a laptop.
    queue_type = (config or {}).get("QUEUE_TYPE", "classic")
    return {"x-queue-type": queue_type}


def subscription_queue(name, config=None) -> Queue:
    if name not in SUBSCRIPTIONS:
        raise KeyError(f"no subscription named {name!r} in loket.topology.SUBSCRIPTIONS")
    return Queue(
        name, exchange=events_exchange,
        bindings=None, routing_key=None, durable=True, queue_arguments=_queue_arguments(config),
        no_declare=True,
    )


def parked_queue_name(name):
    return f"{name}.parked"


def retry_queue_name(name, delay_ms):
    return f"{name}.retry.{int(delay_ms)}"


def declare(channel, config=None, subscriptions=None):
    """Declare the exchange, every subscription queue with its bindings, and its parked queue."""
    subscriptions = SUBSCRIPTIONS if subscriptions is None else subscriptions
    events_exchange(channel).declare()
    args = _queue_arguments(config)
    for name, routing_keys in subscriptions.items():
        channel.queue_declare(queue=name, durable=True, auto_delete=False, arguments=args)
        for key in routing_keys:
            channel.queue_bind(queue=name, exchange=EXCHANGE, routing_key=key)
        channel.queue_declare(queue=parked_queue_name(name), durable=True, auto_delete=False, arguments=args)


def declare_retry_queues(channel, name, delays_ms, config=None):
    for delay in delays_ms:
        channel.queue_declare(
            queue=retry_queue_name(name, delay), durable=True, auto_delete=False,
            arguments={
                **_queue_arguments(config),
                "x-message-ttl": int(delay),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
            },
        )


def declare_all(amqp_uri, config=None):
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        declare(channel, config)
        channel.close()
