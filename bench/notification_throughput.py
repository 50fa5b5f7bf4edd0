"""Notification: emails per second from event to SMTP, and the reminder scan over 100,000 requests.

    .venv/bin/python bench/notification_throughput.py [--emails 3000] [--projections 100000]
        [--repeat 2] [--instances 1] [--skip-scan] [--profile PREFIX]

1. Throughput. The notification service runs as a real `nameko run` process, on SQLite and on
   PostgreSQL, against the real broker; the bench publishes `--emails` dossier_registered events
   (one per dossier, the three languages mixed) to loket.events and counts the emails arriving at
   an aiosmtpd sink on 127.0.0.1 (every Message-ID must arrive exactly once). Reported: events
   published -> last email (end to end) and the sustained rate between the 10th and 90th
   percentile of arrivals, and the CPU time the service process used per email (user + system,
   from /proc), which says what one core can do whatever else the machine is running.
   Baseline in the same run: the SMTP transport alone sending prebuilt messages to the same
   sink: a connection per message, one session, SEND_CONCURRENCY sessions in parallel.
   `--profile PREFIX`: the service runs under bench/cpu_sampler.py (on-CPU stacks, 10-20 % extra
   CPU) and each run prints where its CPU time went; stacks in PREFIX-<run>-<database>.txt.
2. Reminder scan. `--projections` requests (start dates uniform over -200..+400 days, 60 % active)
   in the service's tables on both databases; timed: the service's scan
   (operations.queue_due_reminders in batches of 500, the reminders queued and flagged) for the
   catch-up after going live and for the next day's steady state, and the indexed query alone.
   Baseline: the same query kept off the partial index (SQLite NOT INDEXED; PostgreSQL
   index scans off) and the pure rule (reminders.due_reminders) over every row loaded into Python.
"""
import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
import yaml
from aiosmtpd.controller import Controller
from kombu import Connection
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from loket import topology
from loket.contracts import EXCHANGE, envelope
from loket.db import DatabaseAccess, create_db_engine, normalise_url
from loket.migrations import upgrade
from notification import operations, projection
from notification.emails import Kind
from notification.models import DossierProjection, RequestProjectionRow
from notification.reminders import RequestProjection, due_reminders, reminder_sql
from notification.rendering import render
from notification.samples import SAMPLE_SITE, sample_email, sample_snapshot
from notification.transport import SmtpTransport, build_message

ROOT = Path(__file__).resolve().parents[1]
API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SENDER = "Lokaal Loket <noreply@loket.bench>"
CONCURRENCY = 8
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
WEEKS = 4


# -- SMTP sink ---------------------------------------------------------------------------------------
_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class Sink:
    def __init__(self):
        self.arrivals = []  # (perf_counter, Message-ID)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope_):
        # A regular expression, not the email parser: the sink must not be the bottleneck.
        message_id = _MESSAGE_ID.search(envelope_.content).group(1).decode()
        with self._lock:
            self.arrivals.append((time.perf_counter(), message_id))
        return "250 OK"

    def count(self):
        with self._lock:
            return len(self.arrivals)

    def reset(self):
        with self._lock:
            self.arrivals = []


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- throughput --------------------------------------------------------------------------------------
def events(count):
    built = []
    for n in range(count):
        snapshot = sample_snapshot(("nl", "fr", "en")[n % 3])
        snapshot["id"] = f"dos-{uuid.uuid4()}"
        snapshot["applicant"]["email"] = f"ouder{n}@example.org"
        snapshot["requests"][0]["id"] = f"req-{uuid.uuid4()}"
        built.append(envelope("registration.dossier_registered", {"dossier": snapshot},
                              aggregate_id=snapshot["id"], sequence=1, producer="registration"))
    return built


def new_vhost():
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return vhost


def start_service(config, workdir, index=0, profile=None):
    path = Path(workdir) / f"config-{index}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).parent / "nameko")]
    if profile:
        command = [sys.executable, str(ROOT / "bench/cpu_sampler.py"), f"{profile}-{index}.txt"]
    return subprocess.Popen(
        command + ["run", "--config", str(path), "notification.service"], cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# "Where the time goes": a sample belongs to the first part whose frame it holds.
PARTS = (
    ("recording outcomes", ("Mailer._settle",)),
    ("rendering", ("render (notification/rendering.py",)),
    ("building and serialising the message", ("build_message (notification/transport.py",
                                              "Message.as_bytes (email/message.py")),
    ("SMTP conversation", ("SmtpSession.", "SmtpTransport.", "Mailer._work_off")),
    ("claiming due emails", ("Mailer.send_due", "MailSender._run")),
    ("event transaction", ("NotificationService.on_registration_event",)),
    ("event contract check", ("parse (loket/contracts/__init__.py",)),
    ("AMQP consume, ack, worker", ("handle_message", "handle_result", "ConsumerMixin.",
                                   "_run_worker", "spawn_worker")),
)


def where_the_time_goes(path, cpu_ms):
    """{part: ms per email} from cpu_sampler's stacks, scaled to the measured CPU per email."""
    def part(stack):
        frames = stack.split(";")
        for name, needles in PARTS:
            for needle in needles:
                function, _, file = needle.partition(" (")
                if any(function in frame.partition(" (")[0] and file in frame for frame in frames):
                    return name
        return "other"
    samples = {}
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[part(stack)] = samples.get(part(stack), 0) + int(count)
    total = sum(samples.values()) or 1
    return {name: cpu_ms * count / total for name, count in samples.items()}


def wait_healthy(address, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(f"http://{address}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("the notification service did not come up")


def throughput_once(database_url, sink, sink_port, batch, instances, profile=None):
    vhost = new_vhost()
    amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    upgrade(ROOT / "services/notification/alembic.ini", database_url)
    topology.declare_all(amqp_uri)
    config = {
        "AMQP_URI": amqp_uri, "DATABASE_URL": database_url,
        "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink_port,
        "SMTP_SECURITY": "none", "SMTP_TIMEOUT": 10, "MAIL_SENDER": SENDER,
        "SEND_CONCURRENCY": CONCURRENCY, "SEND_BATCH": 50, "SEND_INTERVAL": 1,
        "CONFIRMATION_SECRET": "bench", "max_workers": 10,
        "LOGGING": {"version": 1, "root": {"level": "WARNING"}},
    }
    sink.reset()
    with tempfile.TemporaryDirectory() as workdir:
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(instances)]
        processes = [start_service({**config, "WEB_SERVER_ADDRESS": address}, workdir, index,
                                   profile)
                     for index, address in enumerate(addresses)]
        try:
            for address in addresses:
                wait_healthy(address)
            if profile:
                for process in processes:
                    process.send_signal(signal.SIGUSR1)  # start sampling
            cpu_before = sum(process_cpu(process.pid) for process in processes)
            started = time.perf_counter()
            with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
                producer = connection.Producer()
                for event in batch:
                    producer.publish(event, exchange=EXCHANGE, routing_key=event["type"],
                                     serializer="json", delivery_mode=2, message_id=event["id"])
            published = time.perf_counter()
            deadline = time.time() + 600
            while sink.count() < len(batch) and time.time() < deadline:
                time.sleep(0.05)
            cpu = sum(process_cpu(process.pid) for process in processes) - cpu_before
            time.sleep(2.0)  # a duplicate would arrive by now
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
            requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=30)
    arrivals = sorted(sink.arrivals)
    ids = [message_id for _, message_id in arrivals]
    assert len(ids) == len(batch) == len(set(ids)), (len(ids), len(set(ids)), len(batch))
    times = [at for at, _ in arrivals]
    low, high = times[len(times) // 10], times[(len(times) * 9) // 10]
    return {"cpu_ms": cpu * 1000 / len(batch), "publish": len(batch) / (published - started),
            "end_to_end": len(batch) / (times[-1] - started),
            "sustained": (len(times) * 8 // 10) / (high - low)}


def process_cpu(pid):
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def transport_baseline(sink, sink_port, count):
    transport = SmtpTransport("127.0.0.1", sink_port, security="none", timeout=10)
    messages = []
    for n in range(count):
        email = sample_email(Kind.DOSSIER_REGISTERED, ("nl", "fr", "en")[n % 3])
        email = replace(email, idempotency_key=f"bench-{n}")
        messages.append(build_message(email, render(email), sender=SENDER, now=NOW))
    def over_sessions(share):
        with transport.session() as session:
            for message in share:
                session.send(message)

    result = {}
    for name, workers, send, shares in (
            ("a connection per message, sequential", 1, transport.send, messages),
            ("one session (connection), sequential", 1, over_sessions, [messages]),
            (f"{CONCURRENCY} sessions in parallel", CONCURRENCY, over_sessions,
             [messages[n::CONCURRENCY] for n in range(CONCURRENCY)])):
        sink.reset()
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(send, shares))
        assert sink.count() == count
        result[name] = count / (time.perf_counter() - started)
    return result


# -- reminder scan -----------------------------------------------------------------------------------
def projection_rows(count, seed=11):
    rng = random.Random(seed)
    today = NOW.date()
    dossiers, requests_ = [], []
    for n in range(count):
        dossiers.append({"dossier_id": f"dos-{n:07d}", "sequence": 1,
                         "recipient": f"ouder{n}@example.org", "language": ("nl", "fr", "en")[n % 3],
                         "applicant_first_name": "An", "restricted": False})
        requests_.append({"request_id": f"req-{n:07d}", "dossier_id": f"dos-{n:07d}",
                          "child_first_name": "Mila",
                          "desired_start_date": today + timedelta(days=rng.randint(-200, 400)),
                          "status": "active" if rng.random() < 0.6 else
                          rng.choice(("enrolled", "cancelled", "expired")),
                          "near_sent": False, "passed_sent": False})
    return dossiers, requests_


def load(database_url, dossiers, requests_):
    upgrade(ROOT / "services/notification/alembic.ini", database_url)
    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        for start in range(0, len(dossiers), 2000):
            for table, rows in ((DossierProjection, dossiers), (RequestProjectionRow, requests_)):
                chunk = rows[start:start + 2000]
                if engine.dialect.name == "sqlite":
                    connection.execute(insert(table), chunk)
                else:  # one multi-row INSERT: pg8000 would make a round trip per row
                    connection.execute(insert(table).values(chunk))
        connection.exec_driver_sql("ANALYZE")
    return engine


def query_only(engine, indexed, now=NOW):
    """The scan's SELECT (both reminder kinds, every due row fetched), on or off the index."""
    total = 0
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql" and not indexed:
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                connection.exec_driver_sql(f"SET LOCAL {setting} = off")
        table = "request_projections r" if indexed or engine.dialect.name != "sqlite" \
            else "request_projections r NOT INDEXED"
        for where, params in reminder_sql(now, WEEKS).values():
            total += len(connection.execute(text(
                f"SELECT r.request_id, d.recipient, d.language FROM {table} "
                f"JOIN dossier_projections d ON d.dossier_id = r.dossier_id WHERE {where}"),
                params).all())
    return total


def pure_rule(engine):
    session = Session(engine)
    try:
        rows = session.execute(projection._joined()).all()
        return len(due_reminders([RequestProjection(*row) for row in rows], NOW, WEEKS))
    finally:
        session.close()


def service_scan(engine, now):
    db = DatabaseAccess(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))
    queued = 0
    while True:
        with db.transaction() as session:
            due = operations.queue_due_reminders(session, site=SAMPLE_SITE, now=now, wall_now=now,
                                                 weeks_before=WEEKS, limit=500)
        queued += due
        if due < 500:
            return queued


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def scan_once(database_url, count):
    dossiers, requests_ = projection_rows(count)
    started = time.perf_counter()
    engine = load(database_url, dossiers, requests_)
    loaded = time.perf_counter() - started
    try:
        due_indexed, indexed = timed(query_only, engine, True)
        due_unindexed, unindexed = timed(query_only, engine, False)
        due_pure, pure = timed(pure_rule, engine)
        assert due_indexed == due_unindexed == due_pure, (due_indexed, due_unindexed, due_pure)
        queued, catch_up = timed(service_scan, engine, NOW)
        assert queued == due_indexed
        tomorrow = NOW + timedelta(days=1)
        due_tomorrow, tomorrow_indexed = timed(query_only, engine, True, tomorrow)
        _, tomorrow_unindexed = timed(query_only, engine, False, tomorrow)
        next_day, steady = timed(service_scan, engine, tomorrow)
        assert next_day == due_tomorrow
        again, rescan = timed(service_scan, engine, tomorrow)
        assert again == 0  # each reminder once
    finally:
        engine.dispose()
    return {"load": loaded, "due": due_indexed, "query": indexed, "query_unindexed": unindexed,
            "pure": pure, "catch_up": catch_up, "next_day_due": next_day, "next_day": steady,
            "next_day_query": tomorrow_indexed, "next_day_query_unindexed": tomorrow_unindexed,
            "rescan": rescan}


# -- main --------------------------------------------------------------------------------------------
def databases():
    """(name, url factory) pairs: a fresh SQLite file or PostgreSQL database per use."""
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")

    class Fresh:
        def __init__(self, kind):
            self.kind = kind

        def __enter__(self):
            if self.kind == "sqlite":
                self.tmp = tempfile.TemporaryDirectory()
                return f"sqlite:///{self.tmp.name}/notification.sqlite"
            self.name = f"loket_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            return PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

        def __exit__(self, *exc):
            if self.kind == "sqlite":
                self.tmp.cleanup()
            else:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    return [("sqlite", lambda: Fresh("sqlite")), ("postgresql", lambda: Fresh("postgresql"))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--projections", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--instances", type=int, default=1, help="service processes")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--profile", metavar="PREFIX", help="sample the service's CPU (see above)")
    args = parser.parse_args()

    sink = Sink()
    sink_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    controller.start()
    try:
        print(f"Throughput: {args.emails} dossier_registered events -> emails at an aiosmtpd sink, "
              f"{args.instances} service process(es) (per second; {args.repeat} runs)")
        for run in range(args.repeat):
            baseline = transport_baseline(sink, sink_port, min(args.emails, 1000))
            print(f"  run {run + 1} baseline SMTP transport alone: " + ", ".join(
                f"{name} {rate:.0f}/s" for name, rate in baseline.items()))
            for name, fresh in databases():
                batch = events(args.emails)
                profile = f"{args.profile}-{run + 1}-{name}" if args.profile else None
                with fresh() as url:
                    result = throughput_once(url, sink, sink_port, batch, args.instances, profile)
                print(f"  run {run + 1} {name:10s} service: events published {result['publish']:.0f}/s, "
                      f"end to end {result['end_to_end']:.0f}/s, sustained (p10-p90) "
                      f"{result['sustained']:.0f}/s; service CPU {result['cpu_ms']:.1f} ms per "
                      f"email; every email once; load average {os.getloadavg()[0]:.1f}")
                if profile:
                    parts = where_the_time_goes(f"{profile}-0.txt", result["cpu_ms"])
                    print("    where the time goes (ms per email, sampler included): " + ", ".join(
                        f"{part} {ms:.2f}" for part, ms in sorted(parts.items(), key=lambda p: -p[1])))
    finally:
        controller.stop()

    if args.skip_scan:
        return
    print(f"Reminder scan over {args.projections} requests (seconds; {args.repeat} runs)")
    for name, fresh in databases():
        runs = []
        for _ in range(args.repeat):
            with fresh() as url:
                runs.append(scan_once(url, args.projections))
        first = runs[0]
        median = {key: statistics.median(run[key] for run in runs) for key in first}
        print(f"  {name:10s} load {median['load']:.1f}; due at go-live {first['due']}: "
              f"query indexed {median['query']:.3f}, unindexed {median['query_unindexed']:.3f}, "
              f"pure rule over all rows {median['pure']:.3f}; service scan catch-up "
              f"{median['catch_up']:.2f}; next day ({first['next_day_due']} due): query indexed "
              f"{median['next_day_query']:.3f}, unindexed {median['next_day_query_unindexed']:.3f}, "
              f"service scan {median['next_day']:.3f}; rescan (0 due) {median['rescan']:.3f}")


if __name__ == "__main__":
    main()
