"""consent_export end to end: transfers per second from event to partner, and delivery delay
after a partner outage ends.

    .venv/bin/python bench/consent_export_service.py [--events 1500] [--outage 30] [--outage-events 200]

The service runs as a real `nameko run` process (its config.yaml shape, HTTP transport to both
partners) against the real broker, on SQLite and on PostgreSQL. Two ThreadingHTTPServers on
127.0.0.1 play Kind en Gezin and LOP (keep-alive, TCP_NODELAY, answer 201 after reading the
body) and record every request. The bench publishes `dossier_registered` events with consent to
both partners, so each event is two transfers; every idempotency key must arrive exactly once.
It publishes as registration's outbox relay does (loket.amqp.BatchPublisher: batches of 500 with
publisher confirms).

1. Throughput: `--events` events published at once; reported: transfers per second from the
   first publish to the last arrival (end to end), and the sustained rate between the 10th and
   90th percentile of arrivals. Target: 200 transfers/s.
   Also reported: the service process's CPU time per transfer (/proc), which says what one core
   can carry when the machine is shared (the load average is printed with each result).
2. Outage: both partners answer 503 for `--outage` seconds while `--outage-events` events are
   published; then they answer 201 again. Reported: for each transfer, arrival minus the moment
   the partners recovered (median, 90th percentile, max), under the shipped retry settings
   (BACKOFF_BASE 1 s, BACKOFF_CAP 300 s) and under a tighter cap (10 s). Without more, the delay
   would be bounded by the backoff window reached during the outage (full jitter); the sender
   brings every waiting retry forward once a delivery succeeds after a run of failures.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import requests
import yaml
from sqlalchemy import create_engine, text

from loket import topology
from loket.amqp import BatchPublisher
from loket.contracts import EXCHANGE, envelope
from loket.db import normalise_url
from loket.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_PER_SECOND = 200
RELAY_BATCH = 500  # loket.outbox.OutboxRelay's default
CONSENT_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).isoformat()


# -- the partners ------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _answer(self):
        length = int(self.headers.get("Content-Length", 0))
        if length:
            self.rfile.read(length)
        status = self.server.status
        if 200 <= status < 300:
            self.server.record(self.headers["Idempotency-Key"])
        body = b'{"ok": true}' if status < 300 else b'{"error": "maintenance"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format, *args):
        pass


class Partner(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 201
        self.arrivals = []  # (perf_counter, idempotency key), accepted requests only
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, key):
        with self._lock:
            self.arrivals.append((time.perf_counter(), key))

    def reset(self):
        with self._lock:
            self.arrivals = []
        self.status = 201

    def stop(self):
        self.shutdown()
        self.server_close()


# -- events ------------------------------------------------------------------------------------------
def snapshot(n):
    consent = {"id": str(uuid.uuid4()), "given": True, "at": CONSENT_AT, "policy_version": "2024-05",
               "method": "web"}
    child_id = str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()), "registered_at": CONSENT_AT, "last_activity_at": CONSENT_AT,
        "registered_by": {"role": "parent", "actor_id": f"account-{n}"}, "preferred_language": "nl",
        "restricted": False,
        "applicant": {"last_name": f"Peeters{n}", "first_name": "An", "birth_date": "1990-01-02",
                      "gender": "f", "email": f"ouder{n}@example.org", "phone": "+32 470 12 34 56",
                      "address": {"street": "Hoogstraat", "house_number": str(n % 200 + 1),
                                  "postal_code": "1000", "municipality": "Brussel"}},
        "partner": {"last_name": "Janssens", "first_name": "Bart", "birth_date": "1988-06-30",
                    "gender": "m", "email": f"partner{n}@example.org", "phone": None},
        "children": [{"id": child_id, "last_name": f"Peeters{n}", "first_name": "Mila",
                      "birth_date": "2025-11-02", "gender": "f", "foster_child": False,
                      "sibling_facility_ids": []}],
        "requests": [{"id": str(uuid.uuid4()), "child_id": child_id, "desired_start_date": "2026-09-01",
                      "care_plan": {"mon": "full", "tue": "full"}, "facility_ids": ["fac-0001"],
                      "status": "active", "urgent": False, "enrolled_facility_id": None,
                      "registered_at": CONSENT_AT}],
        "priority": {"dutch_proficiency": True, "dutch_proof_declared": True, "single_parent": False,
                     "income_below_threshold": False, "health_or_care_situation": False,
                     "no_secondary_diploma": False, "work_or_training_need": True,
                     "work_regime_fraction": 0.8, "integration_course_complete": False},
        "consents": {"kind_en_gezin": consent, "lop": {**consent, "id": str(uuid.uuid4())}},
    }


def events(count):
    built = []
    for n in range(count):
        dossier = snapshot(n)
        built.append(envelope("registration.dossier_registered", {"dossier": dossier},
                              aggregate_id=dossier["id"], sequence=1, producer="registration"))
    return built


def publish(amqp_uri, batch):
    """As registration's outbox relay publishes: batches of 500 with publisher confirms (one
    confirm per event would make this bench's publisher, not the service, the bottleneck)."""
    publisher = BatchPublisher(amqp_uri)
    try:
        for start in range(0, len(batch), RELAY_BATCH):
            publisher.publish_batch([(event["type"], json.dumps(event), event["id"], None)
                                     for event in batch[start:start + RELAY_BATCH]], EXCHANGE)
    finally:
        publisher.close()


# -- the service -------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def vhost():
    name = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{name}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{name}/guest", timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        requests.delete(f"{API}/vhosts/{quote(name, safe='')}", timeout=30)


@contextmanager
def service(database_url, partners, **settings):
    """consent_export as a `nameko run` process on a fresh vhost and migrated database."""
    with vhost() as amqp_uri, tempfile.TemporaryDirectory() as workdir:
        upgrade(ROOT / "services/consent_export/alembic.ini", database_url)
        topology.declare_all(amqp_uri)
        address = f"127.0.0.1:{free_port()}"
        config = {
            "AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "WEB_SERVER_ADDRESS": address,
            "PARTNERS": {name: {"TRANSPORT": "http", "URL": partner.url, "TOKEN": "bench", "TIMEOUT": 10}
                         for name, partner in partners.items()},
            "SEND_CONCURRENCY": 8, "SEND_INTERVAL": 1.0,
            "LOG_PSEUDONYM_KEY": "bench", "max_workers": 10,
            "LOGGING": {"version": 1, "root": {"level": "WARNING"}},
            **settings,
        }
        path = Path(workdir) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "nameko"), "run", "--config", str(path),
             "consent_export.service"], cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(address)
            yield amqp_uri, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_healthy(address, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(f"http://{address}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("consent_export did not come up")


def wait_for_arrivals(partners, expected, timeout=900):
    deadline = time.time() + timeout
    while sum(len(p.arrivals) for p in partners.values()) < expected and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(2.0)  # a duplicate would arrive by now
    arrivals = sorted(a for p in partners.values() for a in p.arrivals)
    keys = [key for _, key in arrivals]
    assert len(keys) == expected == len(set(keys)), (len(keys), len(set(keys)), expected)
    return [at for at, _ in arrivals]


# -- the two measurements ----------------------------------------------------------------------------
def throughput(database_url, partners, count):
    batch = events(count)
    for partner in partners.values():
        partner.reset()
    with service(database_url, partners) as (amqp_uri, pid):
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        publish(amqp_uri, batch)
        published = time.perf_counter()
        times = wait_for_arrivals(partners, 2 * count)
        cpu = cpu_seconds(pid) - cpu_before
    low, high = times[len(times) // 10], times[(len(times) * 9) // 10]
    return {"transfers": len(times), "publish_s": published - started,
            "end_to_end": len(times) / (times[-1] - started),
            "sustained": (len(times) * 8 // 10) / (high - low),
            "cpu_ms": 1000 * cpu / len(times)}


def outage(database_url, partners, count, seconds, **retry):
    batch = events(count)
    for partner in partners.values():
        partner.reset()
        partner.status = 503
    with service(database_url, partners, **retry) as (amqp_uri, _):
        publish(amqp_uri, batch)
        time.sleep(seconds)
        recovered = time.perf_counter()
        for partner in partners.values():
            partner.status = 201
        times = wait_for_arrivals(partners, 2 * count)
    delays = sorted(at - recovered for at in times)
    return {"median": statistics.median(delays), "p90": delays[(len(delays) * 9) // 10],
            "max": delays[-1]}


@contextmanager
def databases():
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    name = f"loket_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite:///{folder}/consent_export.sqlite"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield {"SQLite": sqlite, "PostgreSQL": PG_ADMIN.rsplit("/", 1)[0] + "/" + name}
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def fresh(url, label):
    """A new database per run: SQLite a new file, PostgreSQL a new schema state (tables dropped)."""
    if url.startswith("sqlite"):
        return url.replace("consent_export.sqlite", f"{label}-{uuid.uuid4().hex[:6]}.sqlite")
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--outage-events", type=int, default=200)
    arguments = parser.parse_args()
    partners = {"kind_en_gezin": Partner(), "lop": Partner()}
    try:
        with databases() as urls:
            for name, url in urls.items():
                result = throughput(fresh(url, "throughput"), partners, arguments.events)
                verdict = "met" if result["end_to_end"] >= TARGET_PER_SECOND else "NOT met"
                print(f"{name:10} throughput (load average {os.getloadavg()[0]:.1f}): "
                      f"{result['transfers']} transfers "
                      f"({arguments.events} events published in {result['publish_s']:.1f} s): "
                      f"end to end {result['end_to_end']:.0f}/s, sustained {result['sustained']:.0f}/s "
                      f"(target {TARGET_PER_SECOND}/s: {verdict}); service CPU {result['cpu_ms']:.2f} ms "
                      f"per transfer = {1000 / result['cpu_ms']:.0f} transfers per CPU-second", flush=True)
            for label, retry in (("shipped BACKOFF_BASE 1 s, CAP 300 s", {}),
                                 ("BACKOFF_BASE 1 s, CAP 10 s", {"BACKOFF_CAP": 10})):
                for name, url in urls.items():
                    result = outage(fresh(url, "outage"), partners, arguments.outage_events,
                                    arguments.outage, **retry)
                    print(f"{name:10} after a {arguments.outage:.0f} s outage ({label}; load average "
                          f"{os.getloadavg()[0]:.1f}), "
                          f"{2 * arguments.outage_events} transfers: delay median {result['median']:.1f} s, "
                          f"p90 {result['p90']:.1f} s, max {result['max']:.1f} s", flush=True)
    finally:
        for partner in partners.values():
            partner.stop()


if __name__ == "__main__":
    main()
