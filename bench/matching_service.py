"""Matching as a running service: projection catch-up and rank latency through RPC.

    .venv/bin/python bench/matching_service.py catch-up [--events 20000] [--database sqlite|postgresql|both]
    .venv/bin/python bench/matching_service.py projection [--events 20000] [--database ...]
    .venv/bin/python bench/matching_service.py rank [--requests 100k] [--places 100] [--rounds 5] [--database ...]

The service runs as a real `nameko run` process (config like services/matching/config.yaml,
logging at WARNING) against the real broker, in a fresh vhost, on a fresh SQLite file or
PostgreSQL database, with the 500 facilities of bench/matching_rank.py.

catch-up: registration events are published to loket.events (and so wait in the queue
matching.registration_events) BEFORE the service starts: three quarters dossier_registered of new
dossiers, one quarter dossier_updated (sequence 2) of dossiers registered earlier, with the requests
of bench/matching_rank.py. Then the service starts and works off the queue. Reported: events applied
per second from the first applied to the last (every event's inbox row counted in the database), the
sustained rate between 10 % and 90 % of them, the CPU the service processes used per event, and the
mean batch (events per read-model revision). --baseline runs ClaimOnlyService instead: the same
consumer with a handler that only claims the event, i.e. what the broker, nameko and the contract
validation allow on this machine before matching does anything.

projection: the same events through the projection's own code only (contract validation, claim_all,
readmodel.apply_events), in this process, in batches of 1, 10 and 50: what the handler can do
when the broker and nameko are not counted.

rank: --requests active requests are put in the read model through readmodel.apply_event (as the
handler would, in large transactions, without the broker), the service starts (its start-up loads
them into its index: timed, with the process RSS), --places free places are declared over RPC, and
each is ranked --rounds times through RPC (nameko's standalone ServiceRpcProxy, one client): the
latency a caller sees, serialisation of every candidate's reasons included. Also with limit=50, and,
for comparison, get_place (an RPC with one small read) on the same places. Then, in this process
without RPC, rank_place's steps one by one on the same database: the index load, the reads of its
transaction, the ranking, and the reply built and encoded as JSON.
The service clock is set to the day the requests were generated for (CLOCK_FILE).
"""
import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
import yaml
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from loket import topology
from loket.amqp import BatchPublisher
from loket.consumer import event_handler
from loket.contracts import EXCHANGE, envelope, parse
from loket.db import Database, DatabaseAccess, create_db_engine, normalise_url
from loket.inbox import claim
from loket.migrations import upgrade
from loket.tables import inbox
from matching import facilities, occupancy, places, readmodel
from matching.candidates import CandidatePool
from matching.models import ReadModelRevision
from matching.ranking import rank
from matching.projection import claim_all
from matching.rulesets import load_rule_sets
from matching.samples import sample_snapshot
from matching.schemas import FacilityInput, validate
from matching_rank import DAYS, TODAY, count, make_candidates, make_facilities

ROOT = Path(__file__).resolve().parents[1]
API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
HELPDESK = {"role": "helpdesk", "actor_id": "bench"}


class ClaimOnlyService:
    """Baseline for catch-up: the same subscription, consumer and database, with a handler that only
    claims the event in the inbox (its own transaction). What any idempotent handler costs here."""
    name = "matching"
    db = Database()

    @event_handler("matching.registration_events")
    def on_registration_event(self, event):
        with self.db.transaction() as session:
            claim(session, "matching.registration_events", event)


def free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def fresh_vhost():
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=60)


@contextmanager
def fresh_database(kind):
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/matching.sqlite"
        return
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    name = f"loket_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(database_url, facility_list):
    upgrade(ROOT / "services/matching/alembic.ini", database_url)
    rule_sets = load_rule_sets()
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        for facility in facility_list:
            data = validate(FacilityInput(rule_sets), {
                "id": facility.id, "name": facility.name, "municipality": facility.municipality,
                "licensed_capacity": facility.licensed_capacity, "opening_days": sorted(facility.opening_days),
                "min_age_months": facility.min_age_months, "max_age_months": facility.max_age_months,
                "income_related_tariff": facility.income_related_tariff, "dutch_share": facility.dutch_share,
                "answer_window_days": facility.answer_window_days, "extra_rules": list(facility.extra_rules),
                "rule_set": facility.rule_set})
            facilities.register(session, datetime.now(UTC), data)
    return engine


def registration_events(candidates, updates):
    """dossier_registered for every candidate (one dossier each), then dossier_updated for `updates` of them."""
    events = [envelope("registration.dossier_registered", {"dossier": sample_snapshot(c.dossier_id, [c])},
                       aggregate_id=c.dossier_id, sequence=1, producer="registration") for c in candidates]
    actor = {"role": "parent", "actor_id": "bench"}
    for c in candidates[:updates]:
        events.append(envelope("registration.dossier_updated", {
            "dossier": sample_snapshot(c.dossier_id, [c]), "changed_by": actor, "changed_sections": ["situation"]},
            aggregate_id=c.dossier_id, sequence=2, producer="registration"))
    return events


def process_cpu(pid):
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mib(pid):
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def running_service(config, workdir, name="service", service="matching.service"):
    path = Path(workdir) / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**config, "LOGGING": {"version": 1, "root": {"level": "WARNING"}}}))
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "nameko"), "run", "--config", str(path), service],
        cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT / "bench")},
        stdout=subprocess.DEVNULL,
        stderr=open(Path(workdir) / f"{name}.log", "w"))
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def wait_healthy(address, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the matching service exited")
        try:
            if requests.get(f"http://{address}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("the matching service did not come up")


def catch_up(kind, events_total, max_workers, instances, service):
    rng = random.Random(2026)
    facility_list = make_facilities(rng)
    registered = events_total * 3 // 4
    candidates = make_candidates(random.Random(2027), registered, [f.id for f in facility_list], 0.01)
    events = registration_events(candidates, events_total - registered)
    with fresh_vhost() as amqp_uri, fresh_database(kind) as url, tempfile.TemporaryDirectory() as workdir:
        engine = prepare(url, facility_list)
        topology.declare_all(amqp_uri)
        publisher = BatchPublisher(amqp_uri)
        for start in range(0, len(events), 1000):
            publisher.publish_batch(((e["type"], json.dumps(e), e["id"], None)
                                     for e in events[start:start + 1000]), exchange=EXCHANGE)
        publisher.close()
        address = f"127.0.0.1:{free_port()}"
        config = {"AMQP_URI": amqp_uri, "DATABASE_URL": url, "WEB_SERVER_ADDRESS": address,
                  "max_workers": max_workers, "OFFER_LAPSE_INTERVAL": 3600}
        samples = []  # (seconds since start, events applied)
        with ExitStack() as stack:
            processes = [stack.enter_context(running_service(
                {**config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}, workdir, f"service-{n}", service))
                for n in range(instances)]
            started = time.perf_counter()
            applied = 0
            with engine.connect() as connection:
                while applied < len(events) and time.perf_counter() - started < 900:
                    applied = connection.execute(select(func.count()).select_from(inbox)).scalar_one()
                    connection.commit()
                    samples.append((time.perf_counter() - started, applied))
                    time.sleep(0.1)
                # Each batch bumps the read-model revision once.
                batches = connection.execute(select(ReadModelRevision.revision)).scalar_one()
            cpu = sum(process_cpu(process.pid) for process in processes)
        engine.dispose()
    first = next(t for t, n in samples if n > 0)
    last = next(t for t, n in samples if n >= len(events))

    def at(share):
        return next(t for t, n in samples if n >= len(events) * share)
    return {"events": len(events), "start_to_first_s": first, "rate": len(events) / (last - first),
            "sustained": len(events) * 0.8 / (at(0.9) - at(0.1)), "cpu_ms_per_event": cpu * 1000 / len(events),
            "wall_s": last, "batch_mean": len(events) / batches if batches else None}


def projection_only(kind, events_total):
    """The projection's own work, in this process without broker or nameko: claim_all + apply_events per
    batch, on the same events as catch-up (contract validation included, as the consumer does it)."""
    rng = random.Random(2026)
    facility_list = make_facilities(rng)
    registered = events_total * 3 // 4
    candidates = make_candidates(random.Random(2027), registered, [f.id for f in facility_list], 0.01)
    bodies = [json.loads(json.dumps(e)) for e in registration_events(candidates, events_total - registered)]
    rule_sets, results = load_rule_sets(), {}
    for size in (1, 10, 50):
        with fresh_database(kind) as url:
            engine = prepare(url, facility_list)
            access = DatabaseAccess(engine, sessionmaker(engine, expire_on_commit=False))
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(bodies), size):
                events = [parse(body) for body in bodies[start:start + size]]
                with access.transaction() as session:
                    fresh = claim_all(session, events)
                    readmodel.apply_events(session, [(event, None) for event in fresh], rule_sets)
            results[size] = (len(bodies) / (time.perf_counter() - started),
                             (time.process_time() - cpu) * 1000 / len(bodies))
            engine.dispose()
    return results


def load_read_model(engine, candidates, batch=1000):
    rule_sets = load_rule_sets()

    class NoEvents:
        def record(self, *args, **kwargs):
            raise AssertionError("loading the read model records no event")
    for start in range(0, len(candidates), batch):
        events = registration_events(candidates[start:start + batch], 0)
        with Session(engine) as session, session.begin():
            readmodel.apply_events(session, [(event, NoEvents()) for event in events], rule_sets)


def place_payload(rng):
    if rng.random() < 0.6:
        weekdays = {day: "full" for day in DAYS}
    else:
        weekdays = {day: rng.choice(("full", "full", "morning")) for day in rng.sample(DAYS, rng.randint(2, 4))}
    low, high = rng.choice(((0, 18), (12, 36), (0, 36)))
    return {"start_date": (TODAY + timedelta(days=rng.randint(0, 200))).isoformat(), "weekdays": weekdays,
            "min_age_months": low, "max_age_months": high}


def in_process_phases(url, place_ids, rounds, facility_list):
    """rank_place's steps timed one by one in this process, without RPC: the reads in its transaction,
    the ranking, and the result built and encoded as JSON (what the RPC reply carries)."""
    engine = create_db_engine(url)
    access = DatabaseAccess(engine, sessionmaker(engine, expire_on_commit=False))
    rule_sets, pool = load_rule_sets(), CandidatePool()
    gc.collect()
    rss_before, started = own_rss_mib(), time.perf_counter()
    with access.transaction() as session:
        pool.load(session)
    load_s, rss_growth = time.perf_counter() - started, own_rss_mib() - rss_before
    reads, ranking_ms, encoding = [], [], []
    for _ in range(rounds):
        for place_id in place_ids:
            begin = time.perf_counter()
            with access.transaction() as session:
                row = places.get_row(session, place_id)
                facility = facilities.get(session, row.facility_id)
                current = occupancy.current(session, facility.id, row.start_date)
                holders = places.request_ids_with_open_offers(session)
                pool.catch_up(session)
            ranked_at = time.perf_counter()
            ranking = rank(facility, current, places.free_place(row), pool.candidates_for(facility.id),
                           rule_sets[facility.rule_set])
            encoded_at = time.perf_counter()
            json.dumps(places.ranking_view(ranking, row, current, holders, datetime.now(UTC), None))
            done = time.perf_counter()
            reads.append((ranked_at - begin) * 1000)
            ranking_ms.append((encoded_at - ranked_at) * 1000)
            encoding.append((done - encoded_at) * 1000)
    engine.dispose()
    return {"load_s": load_s, "rss_growth_mib": rss_growth, "reads": reads, "rank": ranking_ms, "encode": encoding}


def own_rss_mib():
    return process_rss_mib(os.getpid())


def percentiles(values):
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f}  p95 {q[94]:.1f}  p99 {q[98]:.1f}  max {max(values):.1f}"


def rank_latency(kind, request_count, place_count, rounds):
    rng = random.Random(2026)
    facility_list = make_facilities(rng)
    candidates = make_candidates(random.Random(2027), request_count, [f.id for f in facility_list], 0.01)
    with fresh_vhost() as amqp_uri, fresh_database(kind) as url, tempfile.TemporaryDirectory() as workdir:
        engine = prepare(url, facility_list)
        started = time.perf_counter()
        load_read_model(engine, candidates)
        print(f"  read model of {request_count:,} requests written in {time.perf_counter() - started:.0f} s", flush=True)
        engine.dispose()
        clock_file = Path(workdir) / "clock"
        clock_file.write_text(datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC).isoformat())
        address = f"127.0.0.1:{free_port()}"
        config = {"AMQP_URI": amqp_uri, "DATABASE_URL": url, "WEB_SERVER_ADDRESS": address,
                  "CLOCK_FILE": str(clock_file), "OFFER_LAPSE_INTERVAL": 3600}
        with running_service(config, workdir) as process:
            started = time.perf_counter()
            wait_healthy(address, process)
            ready = time.perf_counter() - started
            rss = process_rss_mib(process.pid)
            with ServiceRpcProxy("matching", {"AMQP_URI": amqp_uri}, timeout=60) as rpc:
                place_rng = random.Random(7)
                place_ids = [rpc.declare_free_place(place_rng.choice(facility_list).id, place_payload(place_rng),
                                                    HELPDESK)["place_id"] for _ in range(place_count)]
                timings, shown, limited, baseline = [], [], [], []
                for _ in range(rounds):
                    for place_id in place_ids:
                        begin = time.perf_counter()
                        rpc.get_place(place_id, HELPDESK)
                        baseline.append((time.perf_counter() - begin) * 1000)
                        begin = time.perf_counter()
                        ranking = rpc.rank_place(place_id, HELPDESK)
                        timings.append((time.perf_counter() - begin) * 1000)
                        shown.append(ranking["total"])
                        begin = time.perf_counter()
                        rpc.rank_place(place_id, HELPDESK, limit=50)
                        limited.append((time.perf_counter() - begin) * 1000)
            rss_after = process_rss_mib(process.pid)
        phases = in_process_phases(url, place_ids, rounds, facility_list)
    return {"phases": phases, "ready_s": ready, "rss_mib": rss, "rss_after_mib": rss_after, "timings": timings, "limited": limited,
            "baseline": baseline,
            "ranked_mean": statistics.mean(shown), "ranked_max": max(shown)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("catch-up", "projection", "rank"))
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=count, default=20_000)
    parser.add_argument("--max-workers", type=int, default=50, help="as services/matching/config.yaml")
    parser.add_argument("--instances", type=int, default=1, help="catch-up: service processes sharing the queue")
    parser.add_argument("--baseline", action="store_true",
                        help="catch-up: run ClaimOnlyService (only loket.inbox.claim) instead of matching")
    parser.add_argument("--requests", type=count, default=100_000)
    parser.add_argument("--places", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for kind in kinds:
        if args.what == "catch-up":
            service = "matching_service:ClaimOnlyService" if args.baseline else "matching.service"
            result = catch_up(kind, args.events, args.max_workers, args.instances, service)
            batches = f"mean batch {result['batch_mean']:.1f} events" if result["batch_mean"] else "no batches"
            print(f"{service} on {kind}, {args.instances} instance(s), max_workers {args.max_workers}: {result['events']:,} events "
                  f"pre-loaded; first applied {result['start_to_first_s']:.1f} s "
                  f"after start; {result['rate']:,.0f} events/s first to last, {result['sustained']:,.0f}/s "
                  f"sustained (10-90 %); {result['cpu_ms_per_event']:.2f} ms CPU per event (start-up included); "
                  f"{result['wall_s']:.1f} s in all; {batches}", flush=True)
        elif args.what == "projection":
            for size, (rate, cpu_ms) in projection_only(kind, args.events).items():
                print(f"projection only on {kind}, batches of {size}: {rate:,.0f} events/s, {cpu_ms:.2f} ms CPU "
                      f"per event (contract validation included)", flush=True)
        else:
            result = rank_latency(kind, args.requests, args.places, args.rounds)
            print(f"{kind}: {args.requests:,} requests; service ready {result['ready_s']:.1f} s after start, RSS "
                  f"{result['rss_mib']:.0f} MiB ({result['rss_after_mib']:.0f} MiB after the rankings); ranked "
                  f"per place mean {result['ranked_mean']:,.0f} max {result['ranked_max']:,}", flush=True)
            print(f"  rank_place via RPC, all candidates (ms): {percentiles(result['timings'])}")
            print(f"  rank_place via RPC, limit=50 (ms):        {percentiles(result['limited'])}")
            print(f"  get_place via RPC, for comparison (ms):   {percentiles(result['baseline'])}")
            phases = result["phases"]
            print(f"  in process, rank_place's steps without RPC: index load {phases['load_s']:.1f} s, RSS growth "
                  f"{phases['rss_growth_mib']:.0f} MiB")
            for name in ("reads", "rank", "encode"):
                print(f"    {name:7} (ms): {percentiles(phases[name])}", flush=True)


if __name__ == "__main__":
    main()
