"""Operators' view of parked messages: list them, replay them into their subscription queue.

    python -m loket.parking counts
    python -m loket.parking list notification.registration_events
    python -m loket.parking replay notification.registration_events [--event-id ID]
"""
import argparse
import json
import os
import sys

from kombu import Connection

from loket import topology
from loket.consumer import ATTEMPT_HEADER, ERROR_HEADER
from loket.contracts.retention import dossiers_named


def counts(amqp_uri) -> dict:
    result = {}
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        for name in topology.SUBSCRIPTIONS:
            declared = channel.queue_declare(queue=topology.parked_queue_name(name), passive=True)
            result[name] = declared.message_count
    return result


def _drain(channel, queue_name):
    while True:
        message = channel.basic_get(queue=queue_name, no_ack=False)
        if message is None:
            return
        yield message


def _describe(message):
    try:
        body = json.loads(message.body)
    except ValueError:  # parked because it was not JSON: nothing in it can be read
        body = None
    headers = message.headers or {}
    return {
        "event_id": body.get("id") if isinstance(body, dict) else None,
        "type": body.get("type") if isinstance(body, dict) else None,
        "aggregate_id": body.get("aggregate_id") if isinstance(body, dict) else None,
        # who it is about: its aggregate, or for a version-2 erasure event every dossier of its batch
        "dossiers": dossiers_named(body),
        "attempts": headers.get(ATTEMPT_HEADER),
        "error": headers.get(ERROR_HEADER),
    }


def list_parked(amqp_uri, subscription) -> list:
    """Read without consuming: nothing is acked, so the broker keeps every message."""
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        items = [_describe(message) for message in _drain(channel, topology.parked_queue_name(subscription))]
        channel.close()  # unacked messages return to the parked queue
    return items


def replay(amqp_uri, subscription, event_id=None) -> int:
    """Move parked messages (all, or one event) back into the subscription queue with a fresh retry budget."""
    moved = 0
    with Connection(amqp_uri, connect_timeout=5, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        producer = connection.Producer(channel=channel)
        for message in _drain(channel, topology.parked_queue_name(subscription)):
            if event_id is not None and _describe(message)["event_id"] != event_id:
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in (ATTEMPT_HEADER, ERROR_HEADER)}
            producer.publish(message.body, exchange="", routing_key=subscription, headers=headers,
                             content_type=message.content_type, content_encoding=message.content_encoding,
                             delivery_mode=2, message_id=message.properties.get("message_id"))
            channel.basic_ack(message.delivery_tag)
            moved += 1
        channel.close()
    return moved


def purge_aggregate(amqp_uri, subscription, aggregate_id) -> int:
    """Erasure: remove parked messages about one dossier; the others stay parked, in order."""
    return purge_aggregates(amqp_uri, [subscription], [aggregate_id])


def purge_aggregates(amqp_uri, subscriptions, aggregate_ids) -> int:
    """Erasure of many dossiers: remove the parked messages that name any of them (a version-2
    erasure event names every dossier of its batch, see loket.contracts.retention.dossiers_named)
    from the subscriptions' parked queues, over one connection; the others stay parked, in order.
    Returns how many were removed.

    A parked erasure request naming other dossiers too goes as a whole: it holds ids only, and
    retention asks again for every run still missing a receipt."""
    wanted = {str(aggregate_id) for aggregate_id in aggregate_ids}
    return _purge(amqp_uri, subscriptions, lambda named: not wanted.isdisjoint(named))


def purge_erased(amqp_uri, subscriptions, erased) -> int:
    """Remove the parked messages every dossier of which is in `erased` (and that name at least one),
    over one connection; the others, also those naming an erased dossier and one that is not, stay
    parked, in order. Returns how many were removed."""
    erased = {str(dossier_id) for dossier_id in erased}
    return _purge(amqp_uri, subscriptions, lambda named: bool(named) and erased.issuperset(named))


def _purge(amqp_uri, subscriptions, removed_if) -> int:
    """Ack (remove) the parked messages for whose dossiers `removed_if` holds; the rest return to
    their parked queue in order when the channel closes."""
    removed = 0
    with Connection(amqp_uri, connect_timeout=5) as connection:
        for subscription in subscriptions:
            channel = connection.channel()
            for message in _drain(channel, topology.parked_queue_name(subscription)):
                if removed_if(_describe(message)["dossiers"]):
                    channel.basic_ack(message.delivery_tag)
                    removed += 1
            channel.close()  # the unacked rest returns to the parked queue
    return removed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loket.parking", description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("counts")
    listing = sub.add_parser("list")
    listing.add_argument("subscription", choices=sorted(topology.SUBSCRIPTIONS))
    replaying = sub.add_parser("replay")
    replaying.add_argument("subscription", choices=sorted(topology.SUBSCRIPTIONS))
    replaying.add_argument("--event-id")
    args = parser.parse_args(argv)
    if args.command == "counts":
        print(json.dumps(counts(args.amqp_uri), indent=2))
    elif args.command == "list":
        print(json.dumps(list_parked(args.amqp_uri, args.subscription), indent=2))
    else:
        print(f"replayed {replay(args.amqp_uri, args.subscription, args.event_id)} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
