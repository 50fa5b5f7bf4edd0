"""The retention side of "erase 100,000 due dossiers" (issue 6: all services together under 5 minutes).

    .venv/bin/python bench/retention_erasure.py [--dossiers 100000] [--receipt-dossiers N] [--repeat 3]
                                                [--databases sqlite,postgresql]

Per database and repeat, on a fresh database (Alembic migrations) and a fresh RabbitMQ vhost with
the project's topology, holding --dossiers due clocks and as many that are not due (active request
or recent activity):

1. start: the service's scan (`runs.start_due_erasures`, ERASURE_BATCH_SIZE per transaction) finds
   the due dossiers, starts a run for each and records `retention.erasure_requested` in the outbox:
   version 2, one event per ERASURES_PER_EVENT (200) runs of a transaction
   (loket.contracts.retention). Baseline in the same run: the same code one dossier per transaction
   (an event naming one dossier), on --baseline-dossiers more.
2. relay: the service's OutboxRelay publishes those events with publisher confirms; each lands in
   the four `<service>.erasure_requests` queues (checked: as many as were recorded, naming every
   started dossier once). Baseline: nameko's EventDispatcher (one confirm per message) on
   --baseline-events events of the same shape (200 dossiers each).
3. receipts: each data holder answers every 200 runs (of --receipt-dossiers, default all) with one
   version-2 `erasure_receipt.<service>` listing them, as it answers a request; only
   `retention.erasure_receipts` binds them. The real RetentionService (nameko container,
   --max-workers) consumes them until every run is complete and every `retention.erasure_completed`
   relayed. Baselines on the same receipts: no-op handlers, one worker per message (loket's
   event_handler), and a no-op batch handler (loket's batch_event_handler, batches as large as the
   service's): the cost of the broker, nameko and the contract check alone.
Medians over the repeats are reported; runs alternate between the databases (the machine is
shared and noisy).
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402
from kombu import Connection  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.standalone.events import event_dispatcher  # noqa: E402
from sqlalchemy import create_engine, delete, func, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from loket import contracts, topology  # noqa: E402
from loket.amqp import BatchPublisher  # noqa: E402
from loket.clock import Clock, ManualClock  # noqa: E402
from loket.consumer import batch_event_handler, event_handler  # noqa: E402
from loket.contracts.retention import (  # noqa: E402
    DATA_HOLDERS, ERASURE_REQUESTED, ERASURES_PER_EVENT, batch_aggregate, receipt_type, requested_erasures,
)
from loket.db import create_db_engine, normalise_url  # noqa: E402
from loket.migrations import upgrade  # noqa: E402
from loket.outbox import EventRecorder, OutboxRelay  # noqa: E402
from loket.tables import outbox  # noqa: E402
from loket.testing import set_clock  # noqa: E402
from retention import runs  # noqa: E402
from retention.clocks import erasure_cutoff  # noqa: E402
from retention.models import erasure_runs, retention_clocks  # noqa: E402
from retention.service import RECEIPTS_PER_TRANSACTION, RetentionService  # noqa: E402

API = "http://guest:guest@127.0.0.1:15672/api"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services/retention/alembic.ini"
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc)
REQUEST_QUEUES = [f"{service}.erasure_requests" for service in DATA_HOLDERS]
RECEIPTS = "retention.erasure_receipts"
ACTIVITY = "retention.activity_events"


# -- broker and databases ---------------------------------------------------------------------------
def make_vhost():
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"},
                 timeout=10).raise_for_status()
    amqp_uri = AMQP + vhost
    topology.declare_all(amqp_uri)
    return vhost, amqp_uri


def drop_vhost(vhost):
    requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=60)


def depth(amqp_uri, queue):
    with Connection(amqp_uri) as connection:
        return connection.channel().queue_declare(queue=queue, passive=True).message_count


def purge(amqp_uri, queues):
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for queue in queues:
            channel.queue_purge(queue)


class Databases:
    """A fresh, migrated database per measurement; all dropped at the end."""

    def __init__(self):
        self.directory = tempfile.TemporaryDirectory()
        self.admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
        self.pg_names = []

    def fresh(self, kind) -> str:
        name = f"loket_bench_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            url = f"sqlite:///{Path(self.directory.name) / name}.sqlite"
        else:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            self.pg_names.append(name)
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        upgrade(ALEMBIC_INI, url)
        return url

    def close(self):
        with self.admin.connect() as connection:
            for name in self.pg_names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
        self.directory.cleanup()


def load_clocks(engine, due, baseline, others, seed=20260601):
    """`due` + `baseline` dossiers past their retention, `others` not due (active request or recent)."""
    generator = random.Random(seed)
    cutoff = erasure_cutoff(NOW)
    rows = []
    for prefix, count in (("due", due), ("base", baseline)):
        for number in range(count):
            rows.append({"dossier_id": f"{prefix}-{number:07d}", "has_active_request": False,
                         "last_activity_at": cutoff - timedelta(seconds=generator.randrange(3 * 365 * 86400))})
    for number in range(others):
        recent = generator.random() < 0.5
        rows.append({"dossier_id": f"kept-{number:07d}", "has_active_request": not recent,
                     "last_activity_at": cutoff + timedelta(seconds=1 + generator.randrange(4 * 365 * 86400))
                     if recent else cutoff - timedelta(days=generator.randrange(1, 900))})
    # The one-per-transaction baseline goes first, so it takes the oldest: its dossiers are the oldest.
    for row in rows:
        if row["dossier_id"].startswith("base-"):
            row["last_activity_at"] -= timedelta(days=4 * 365)
    with engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(insert(retention_clocks), [
                {**row, "erased": False, "sequence": 3} for row in rows[start:start + 20_000]])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE retention_clocks"))
        else:
            connection.exec_driver_sql("ANALYZE")


# -- 1. start -----------------------------------------------------------------------------------------
def start_erasures(engine, batch_size, limit=None) -> tuple[int, float]:
    recorder = EventRecorder("retention", clock=ManualClock(NOW))
    started, began = 0, time.perf_counter()
    while limit is None or started < limit:
        with Session(engine) as session, session.begin():
            batch = len(runs.start_due_erasures(session, NOW, batch_size, recorder))
        started += batch
        if batch < batch_size:
            break
    return started, time.perf_counter() - began


# -- 2. relay -----------------------------------------------------------------------------------------
def recorded_requests(engine) -> tuple[int, list]:
    """The erasure_requested events in the outbox: how many, and the dossiers they name."""
    with engine.connect() as connection:
        bodies = connection.execute(select(outbox.c.body).where(outbox.c.event_type == ERASURE_REQUESTED)).scalars()
        events = [json.loads(body) for body in bodies]
    return len(events), [request["dossier_id"] for event in events for request in requested_erasures(event)]


def relay_outbox(engine, amqp_uri) -> float:
    relay = OutboxRelay(engine, amqp_uri, "retention.outbox")
    relay.declare_topology()
    began = time.perf_counter()
    while relay.relay_once():
        pass
    elapsed = time.perf_counter() - began
    assert relay.backlog() == 0
    # Handed over, as the service's relay does when it stops: the service started in step 3 relays
    # under the same name and would wait for the lease to expire (15 s, counted in receipts_s).
    relay.release_lease()
    relay.close()
    return elapsed


def dispatch_baseline(amqp_uri, count) -> float:
    # nameko publishes to "<service>.events": route that exchange into the same four queues.
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.exchange_declare("retention.events", "topic", durable=True, auto_delete=False)
        for queue in REQUEST_QUEUES:
            channel.queue_bind(queue, "retention.events", routing_key=ERASURE_REQUESTED)
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    bodies = [contracts.envelope(ERASURE_REQUESTED, {"requests": [
        {"dossier_id": f"b-{n}-{m}", "run_id": str(uuid.uuid4()), "reason": "retention_expired"}
        for m in range(ERASURES_PER_EVENT)]}, aggregate_id=batch_aggregate(str(uuid.uuid4())), sequence=1,
        producer="retention", version=2) for n in range(count)]
    dispatch("retention", ERASURE_REQUESTED, bodies[0])  # connect outside the timing
    began = time.perf_counter()
    for body in bodies[1:]:
        dispatch("retention", ERASURE_REQUESTED, body)
    return (count - 1) / (time.perf_counter() - began)


# -- 3. receipts ----------------------------------------------------------------------------------------
def publish_receipts(amqp_uri, pairs) -> int:
    """Per ERASURES_PER_EVENT (run_id, dossier_id), one version-2 receipt of each data holder listing
    them, as the holders' relays send their answer to a request. Returns how many receipts."""
    publisher = BatchPublisher(amqp_uri)
    occurred_at = NOW.isoformat()
    batches = [pairs[start:start + ERASURES_PER_EVENT] for start in range(0, len(pairs), ERASURES_PER_EVENT)]

    def messages(chunk):
        for batch in chunk:
            aggregate_id = batch_aggregate(str(uuid.uuid4()))  # the request's batch
            for service in DATA_HOLDERS:
                event_id = str(uuid.uuid4())
                body = {"id": event_id, "type": receipt_type(service), "version": 2, "occurred_at": occurred_at,
                        "correlation_id": aggregate_id, "producer": service, "aggregate_id": aggregate_id,
                        "sequence": 1, "data": {"service": service, "erased": [
                            {"dossier_id": dossier_id, "run_id": run_id, "erased_rows": 7}
                            for run_id, dossier_id in batch]}}
                yield receipt_type(service), json.dumps(body), event_id, None

    for start in range(0, len(batches), 10):
        publisher.publish_batch(messages(batches[start:start + 10]), exchange=contracts.EXCHANGE, timeout=120)
    publisher.close()
    return len(DATA_HOLDERS) * len(batches)


def consume(amqp_uri, service_class, config, finished) -> float:
    """Seconds from the container's start until `finished()` and both retention queues are empty."""
    container = ServiceContainer(service_class, {"AMQP_URI": amqp_uri, **config})
    began = time.perf_counter()
    container.start()
    set_clock(container, ManualClock(NOW))
    try:
        while not (finished() and depth(amqp_uri, RECEIPTS) == 0 and depth(amqp_uri, ACTIVITY) == 0):
            time.sleep(0.5)
        return time.perf_counter() - began
    finally:
        container.stop()


def all_completed(engine, expected):
    def finished():
        with engine.connect() as connection:
            done = connection.execute(select(func.count()).select_from(erasure_runs)
                                      .where(erasure_runs.c.completed_at.is_not(None))).scalar_one()
            waiting = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
        return done >= expected and waiting == 0
    return finished


class NoopRetention:
    """Consumes what the retention service consumes and does nothing with it."""
    name = "retention"
    clock = Clock()

    @event_handler(RECEIPTS)
    def on_erasure_receipt(self, event):
        pass

    @event_handler(ACTIVITY)
    def on_activity(self, event):
        pass


class NoopBatchRetention:
    """The same, receipts in batches as the service takes them."""
    name = "retention"
    clock = Clock()

    @batch_event_handler(RECEIPTS, batch_size=RECEIPTS_PER_TRANSACTION)
    def on_erasure_receipts(self, events):
        pass

    @event_handler(ACTIVITY)
    def on_activity(self, event):
        pass


# -- one measurement ------------------------------------------------------------------------------------
def measure(kind, databases, args) -> dict:
    vhost, amqp_uri = make_vhost()
    url = databases.fresh(kind)
    engine = create_db_engine(url)
    try:
        load_clocks(engine, args.dossiers, args.baseline_dossiers, args.dossiers)
        result = {}
        base_started, base_seconds = start_erasures(engine, 1, limit=args.baseline_dossiers)
        assert base_started == args.baseline_dossiers
        result["start_baseline_rate"] = base_started / base_seconds
        with engine.begin() as connection:  # the baseline's events are not part of the 100,000
            connection.execute(delete(outbox))
        started, seconds = start_erasures(engine, args.batch_size)
        assert started == args.dossiers, started
        result["start_s"] = seconds
        requests, named = recorded_requests(engine)
        assert sorted(named) == [f"due-{number:07d}" for number in range(args.dossiers)], "not each due dossier once"
        result["request_events"] = requests

        result["relay_s"] = relay_outbox(engine, amqp_uri)
        assert all(depth(amqp_uri, queue) == requests for queue in REQUEST_QUEUES)
        purge(amqp_uri, REQUEST_QUEUES)
        result["relay_baseline_rate"] = dispatch_baseline(amqp_uri, args.baseline_events)
        purge(amqp_uri, REQUEST_QUEUES)

        for key, noop in (("receipts_baseline_s", NoopRetention), ("receipts_batch_baseline_s", NoopBatchRetention)):
            receipt_pairs = [(str(uuid.uuid4()), f"noop-{n:07d}") for n in range(args.receipt_dossiers)]
            publish_receipts(amqp_uri, receipt_pairs)
            assert depth(amqp_uri, ACTIVITY) == 0  # receipts reach retention's receipt queue only
            result[key] = consume(amqp_uri, noop, {"max_workers": args.max_workers}, lambda: True)
        with engine.connect() as connection:
            pairs = connection.execute(select(erasure_runs.c.run_id, erasure_runs.c.dossier_id)
                                       .where(erasure_runs.c.dossier_id.like("due-%"))
                                       .order_by(erasure_runs.c.dossier_id).limit(args.receipt_dossiers)).all()
        result["receipt_events"] = publish_receipts(amqp_uri, pairs)
        assert depth(amqp_uri, RECEIPTS) == result["receipt_events"]
        result["receipts_s"] = consume(amqp_uri, RetentionService, {
            "DATABASE_URL": url, "ERASURE_SCAN_INTERVAL": 10 ** 6, "max_workers": args.max_workers,
        }, all_completed(engine, args.receipt_dossiers))
        with engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(retention_clocks)
                                      .where(retention_clocks.c.dossier_id.like("due-%"))).scalar_one()
        assert left == args.dossiers - args.receipt_dossiers, f"{left} clocks of due dossiers left"
        return result
    finally:
        engine.dispose()
        drop_vhost(vhost)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-workers", type=int, default=20, help="nameko max_workers (config.yaml: 20)")
    parser.add_argument("--baseline-dossiers", type=int, default=2_000)
    parser.add_argument("--baseline-events", type=int, default=500,
                        help="events of 200 dossiers each (100,000 dossiers make 500)")
    parser.add_argument("--receipt-dossiers", type=int, help="dossiers whose receipts are sent (all)")
    args = parser.parse_args()
    args.receipt_dossiers = args.receipt_dossiers or args.dossiers
    kinds = args.databases.split(",")
    databases = Databases()
    results = {kind: [] for kind in kinds}
    try:
        for round_ in range(args.repeat):
            for kind in kinds:  # interleaved, so a noisy minute hits both databases
                result = measure(kind, databases, args)
                results[kind].append(result)
                print(f"round {round_ + 1} {kind}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()),
                      flush=True)
    finally:
        databases.close()
    report(args, results)


def report(args, results):
    n, k = args.dossiers, args.receipt_dossiers
    receipts = len(DATA_HOLDERS) * -(-k // ERASURES_PER_EVENT)
    print(f"\nmedians of {args.repeat} runs; {n:,} due dossiers among {2 * n + args.baseline_dossiers:,} clocks; "
          f"receipts of {k:,} dossiers: {receipts:,} on {RECEIPTS} (up to {ERASURES_PER_EVENT} dossiers each)")
    print("| database | step | median s | per second | baseline in the same run | baseline median s | per second |")
    print("|---|---|---|---|---|---|---|")
    for kind, rounds in results.items():
        def median(key):
            return statistics.median(r[key] for r in rounds)
        base = args.baseline_dossiers / median("start_baseline_rate")
        print(f"| {kind} | find {n:,} due, start their runs, record erasure_requested (batches of "
              f"{args.batch_size}) | {median('start_s'):.1f} | {n / median('start_s'):,.0f} dossiers | "
              f"the same, one dossier per transaction ({args.baseline_dossiers:,}) | {base:.1f} | "
              f"{median('start_baseline_rate'):,.0f} dossiers |")
        events = median("request_events")
        base = args.baseline_events / median("relay_baseline_rate")
        print(f"| {kind} | relay the {events:,.0f} erasure_requested ({n:,} dossiers) to the 4 erasure_requests "
              f"queues (OutboxRelay) | {median('relay_s'):.1f} | {events / median('relay_s'):,.0f} events | nameko "
              f"EventDispatcher, one confirm per event ({args.baseline_events:,} of {ERASURES_PER_EVENT} dossiers) | "
              f"{base:.1f} | {median('relay_baseline_rate'):,.0f} events |")
        print(f"| {kind} | consume {receipts:,} receipts ({len(DATA_HOLDERS) * k:,} confirmations): {k:,} runs "
              f"completed, erasure_completed relayed | {median('receipts_s'):.1f} | {k / median('receipts_s'):,.0f} "
              f"dossiers | a no-op handler, one worker per message | {median('receipts_baseline_s'):.1f} | "
              f"{k / median('receipts_baseline_s'):,.0f} dossiers |")
        print(f"| {kind} | | | | a no-op batch handler ({RECEIPTS_PER_TRANSACTION} per batch) | "
              f"{median('receipts_batch_baseline_s'):.1f} | {k / median('receipts_batch_baseline_s'):,.0f} dossiers |")
        share = median("start_s") + median("relay_s") + median("receipts_s") * n / k
        print(f"| {kind} | retention's share for {n:,} dossiers{' (receipts scaled from ' + f'{k:,})' if k < n else ''}"
              f" | {share:.0f} | | no-op floors for the same: per message, batches | "
              f"{median('receipts_baseline_s') * n / k:.0f}, {median('receipts_batch_baseline_s') * n / k:.0f} | |")
    for kind, rounds in results.items():
        for key in rounds[0]:
            print(f"  {kind} {key}: " + ", ".join(f"{r[key]:.1f}" for r in rounds))

if __name__ == "__main__":
    main()
