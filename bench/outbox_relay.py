"""Outbox relay throughput against nameko's own EventDispatcher, same run, same broker, same queues.

    .venv/bin/python bench/outbox_relay.py [--events 20000] [--baseline-events 3000] [--repeat 3]

Both publish with publisher confirms to a topic exchange fanned out to the four subscription
queues that take registration events. The relay is measured from a full outbox to an empty one
(select batch, publish, wait for confirms, delete), on SQLite and on PostgreSQL. Runs are
interleaved (baseline, SQLite, PostgreSQL, baseline, ...) and medians reported, because the machine
is shared and noisy.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402
from kombu import Connection  # noqa: E402
from marshmallow import Schema, fields  # noqa: E402
from nameko.standalone.events import event_dispatcher  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from loket import contracts, topology  # noqa: E402
from loket.db import create_db_engine, normalise_url  # noqa: E402
from loket.outbox import EventRecorder, OutboxRelay  # noqa: E402
from loket.tables import platform_metadata  # noqa: E402

API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
EVENT = "registration.bench_event"


class BenchV1(Schema):
    n = fields.Integer(required=True)
    payload = fields.String(required=True)


contracts.register({(EVENT, 1): BenchV1})
PAYLOAD = "x" * 600  # about the size of a dossier snapshot


def make_vhost():
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"},
                 timeout=10).raise_for_status()
    return vhost, f"amqp://guest:guest@127.0.0.1:5672/{vhost}"


def purge(amqp_uri):
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for name in topology.SUBSCRIPTIONS:
            channel.queue_purge(name)


def bench_nameko(amqp_uri, count):
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        topology.declare(channel)
        channel.exchange_declare("registration.events", "topic", durable=True)
        for name, keys in topology.SUBSCRIPTIONS.items():
            if "registration.#" in keys:
                channel.queue_bind(name, "registration.events", routing_key="#")
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    dispatch("registration", EVENT, {"n": -1, "payload": PAYLOAD})  # connect outside the timing
    started = time.perf_counter()
    for n in range(count):
        dispatch("registration", EVENT, {"n": n, "payload": PAYLOAD})
    return count / (time.perf_counter() - started)


def bench_relay(amqp_uri, url, count, batch_size):
    engine = create_db_engine(url)
    platform_metadata.create_all(engine)
    recorder = EventRecorder("registration")
    with Session(engine) as session, session.begin():
        for n in range(count):
            recorder.record(session, EVENT, aggregate_id=f"d{n % 1000}", sequence=n,
                            data={"n": n, "payload": PAYLOAD})
    relay = OutboxRelay(engine, amqp_uri, "registration.outbox", batch_size=batch_size)
    relay.relay_once()  # connect and declare outside the timing
    started = time.perf_counter()
    while relay.relay_once():
        pass
    rate = count / (time.perf_counter() - started)
    assert relay.backlog() == 0
    relay.close()
    engine.dispose()
    return rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--baseline-events", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vhost, amqp_uri = make_vhost()
    pg_name = f"loket_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{pg_name}"'))
    runs = {"baseline": [], "sqlite": [], "postgresql": []}
    try:
        for round_ in range(args.repeat):
            runs["baseline"].append(bench_nameko(amqp_uri, args.baseline_events))
            purge(amqp_uri)
            runs["sqlite"].append(bench_relay(
                amqp_uri, f"sqlite:////tmp/{pg_name}-{round_}.sqlite", args.events, args.batch_size))
            purge(amqp_uri)
            runs["postgresql"].append(bench_relay(
                amqp_uri, PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name, args.events, args.batch_size))
            purge(amqp_uri)
    finally:
        requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=30)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    for name, rates in runs.items():
        print(f"  {name:10s} runs: " + ", ".join(f"{rate:.0f}" for rate in rates))
    baseline, sqlite_rate, pg_rate = (statistics.median(runs[k]) for k in ("baseline", "sqlite", "postgresql"))
    print(f"medians of {args.repeat} interleaved runs:")
    print(f"nameko EventDispatcher (1 confirm/message): {baseline:8.0f} events/s ({args.baseline_events} events)")
    print(f"outbox relay, SQLite (batch {args.batch_size}):       {sqlite_rate:8.0f} events/s "
          f"({args.events} events, {sqlite_rate / baseline:.1f}x)")
    print(f"outbox relay, PostgreSQL (batch {args.batch_size}):   {pg_rate:8.0f} events/s "
          f"({args.events} events, {pg_rate / baseline:.1f}x)")


if __name__ == "__main__":
    main()
