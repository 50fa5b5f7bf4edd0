"""Erase N due dossiers across all services, the whole system running (issue 6: 100,000 in < 5 minutes).

    .venv/bin/python bench/erasure_all_services.py [--dossiers 100000] [--database sqlite|postgresql]

1. Seed (not timed), each service on its own fresh database (Alembic) as it would be after years of use:
   - registration: N dossiers through its own domain code (`dossiers.register_dossier` with
     `registration.samples.sample_registration`: applicant, partner, child, request, situation with
     encrypted health detail, consent, audit entries), 500 per transaction, registered 6 years before
     the bench clock;
   - matching, notification, consent-export: registration's own dossier_registered events (read back
     from its outbox) applied through each service's own batch code (matching's projection with the 50
     demo facilities, notification's projection and email log, consent-export's transfers), then the
     emails marked sent and the transfers delivered;
   - retention: a clock per dossier, last activity 6 years ago, no active request (due), plus N clocks
     that are not due (active request or recent activity);
   - every outbox emptied: those events were relayed long ago;
   - then settled as years of use leave a database (`Databases.settle`): PostgreSQL vacuumed,
     analysed and checkpointed, SQLite's WAL checkpointed.
2. Erase (timed): the five services start as `nameko run` processes (their config.yaml, environment
   overrides only: databases, a fresh RabbitMQ vhost, the bench clock, folder transports, logging at
   WARNING) and retention's scan finds the N due dossiers. Measured from the start of the processes to
   the moment retention has every erasure run complete (all four receipts) and its outbox empty; also
   from the first run started. CPU seconds of every service process and of RabbitMQ over that time.
3. Check: no registration dossier, matching request, notification projection or email, consent-export
   transfer or export state is left for those dossiers; N not-due clocks untouched.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, func, insert, select, text, update
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SERVICES = ("registration", "matching", "notification", "consent_export", "retention")
NOW = datetime(2032, 6, 1, 9, 0, tzinfo=UTC)  # the bench clock: the dossiers were registered in 2026
REGISTERED = NOW - timedelta(days=6 * 365)

from loket.crypto import Keyring  # noqa: E402
from loket.db import DatabaseAccess, create_db_engine, normalise_url  # noqa: E402
from loket.migrations import upgrade  # noqa: E402
from loket.outbox import EventRecorder  # noqa: E402
from loket.tables import outbox  # noqa: E402
from loket.testing import free_port, fresh_vhost  # noqa: E402


# -- infrastructure -----------------------------------------------------------------------------------
class Databases:
    def __init__(self, kind):
        self.kind = kind
        self.directory = tempfile.TemporaryDirectory()
        self.admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
        self.names = []

    def fresh(self, service) -> str:
        name = f"loket_erase_{service}_{uuid.uuid4().hex[:6]}"
        if self.kind == "sqlite":
            url = f"sqlite:///{self.directory.name}/{name}.sqlite"
        else:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            self.names.append(name)
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        upgrade(ROOT / "services" / service / "alembic.ini", url)
        return url

    def settle(self, urls):
        """Bring the seeded databases to the state years of use leave them in: on PostgreSQL,
        vacuumed and analysed (autovacuum's work; without it autovacuum and the checkpointer
        process the bulk-loaded rows during the timed erasure) and checkpointed; on SQLite,
        the WAL checkpointed into the database file."""
        for url in urls.values():
            engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                if self.kind == "sqlite":
                    connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                else:
                    connection.execute(text("VACUUM (ANALYZE)"))
            engine.dispose()
        if self.kind == "postgresql":
            with self.admin.connect() as connection:
                connection.execute(text("CHECKPOINT"))

    def close(self):
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
        self.directory.cleanup()


def process_cpu(pid) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict:
    """{pid: CPU seconds} of every PostgreSQL server process (backends come and go)."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    found = {}
    for pid in pids:
        try:
            found[int(pid)] = process_cpu(int(pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def rabbitmq_pid():
    out = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def session_factory(url):
    engine = create_db_engine(url)
    return engine, DatabaseAccess(engine, sessionmaker(engine, expire_on_commit=False))


# -- 1. seed ------------------------------------------------------------------------------------------
def seed_registration(url, count, key) -> list[dict]:
    """N dossiers through registration's own code; returns their dossier_registered envelopes."""
    from registration import dossiers, schemas
    from registration.samples import sample_registration
    engine, access = session_factory(url)
    keyring, recorder = Keyring([key]), EventRecorder("registration")
    today = REGISTERED.date()
    for start in range(0, count, 500):
        with access.transaction() as session:
            for n in range(start, min(start + 500, count)):
                data = schemas.validate(schemas.RegisterDossierInput, sample_registration(today, n), today)
                dossiers.register_dossier(session, REGISTERED + timedelta(seconds=n), data,
                                          {"role": "parent", "actor_id": f"account-{n}"}, recorder, keyring)
    with engine.begin() as connection:
        bodies = [json.loads(body) for (body,) in connection.execute(select(outbox.c.body).order_by(outbox.c.id))]
        connection.execute(delete(outbox))
    engine.dispose()
    return [body for body in bodies if body["type"] == "registration.dossier_registered"]


def seed_matching(url, events):
    from matching import demo, projection
    from matching.candidates import CandidatePool
    from matching.rulesets import load_rule_sets
    subprocess.run([str(BIN / "python"), "-m", "matching.demo", url], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    engine, access = session_factory(url)
    rule_sets, pool, recorder = load_rule_sets(), CandidatePool(), EventRecorder("matching")
    for start in range(0, len(events), 200):
        failed = projection.apply(access, events[start:start + 200], recorder, rule_sets, pool)
        assert not failed, failed
    _empty_outbox(engine)
    del demo


def seed_notification(url, events):
    from notification import operations, settings
    from notification.models import EmailLogEntry
    from loket.inbox import claim_all
    engine, access = session_factory(url)
    site = settings.site({"CONFIRMATION_SECRET": "bench-secret"})
    for start in range(0, len(events), 200):
        with access.transaction() as session:
            fresh = claim_all(session, "notification.registration_events", events[start:start + 200])
            operations.apply_registration_events(session, fresh, site=site, now=REGISTERED, wall_now=REGISTERED)
    with engine.begin() as connection:
        connection.execute(update(EmailLogEntry).values(status="sent"))
    _empty_outbox(engine)


def seed_consent_export(url, events, log_key):
    from consent_export import erasure, outbound
    from consent_export.models import DELIVERED, QueuedTransfer
    from loket.inbox import claim_all
    engine, access = session_factory(url)
    for start in range(0, len(events), 200):
        with access.transaction() as session:
            fresh = claim_all(session, "consent_export.registration_events", events[start:start + 200])
            outbound.apply_events(session, fresh, REGISTERED, lambda dossier_id: erasure.pseudonym(log_key, dossier_id))
    with engine.begin() as connection:
        connection.execute(update(QueuedTransfer).values(status=DELIVERED))
    _empty_outbox(engine)


def seed_retention(url, dossier_ids, not_due):
    from retention.models import retention_clocks
    engine = create_db_engine(url)
    generator = random.Random(2032)
    rows = [{"dossier_id": dossier_id, "has_active_request": False, "erased": False, "sequence": 1,
             "last_activity_at": REGISTERED + timedelta(seconds=generator.randrange(86400))}
            for dossier_id in dossier_ids]
    rows += [{"dossier_id": f"kept-{n:07d}", "has_active_request": n % 2 == 0, "erased": False, "sequence": 1,
              "last_activity_at": NOW - timedelta(days=generator.randrange(1, 900))} for n in range(not_due)]
    with engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(insert(retention_clocks), rows[start:start + 20_000])
    engine.dispose()


def _empty_outbox(engine):
    with engine.begin() as connection:
        connection.execute(delete(outbox))
    engine.dispose()


# -- 2. erase -----------------------------------------------------------------------------------------
def start_services(urls, amqp_uri, clock_file, folder, keys):
    processes = {}
    common = {**os.environ, "AMQP_URI": amqp_uri, "CLOCK_FILE": str(clock_file), "LOG_LEVEL": "WARNING",
              "PYTHONWARNINGS": "ignore"}
    extra = {
        "registration": {"ENCRYPTION_KEYS": keys["registration"]},
        "notification": {"MAIL_TRANSPORT": "folder", "MAIL_FOLDER": f"{folder}/mail"},
        "consent_export": {"EXPORT_FOLDER": f"{folder}/export", "CONSENT_EXPORT_LOG_KEY": keys["consent_export"]},
        "retention": {"ERASURE_SCAN_INTERVAL": "1"},
    }
    for service in SERVICES:
        env = {**common, f"{service.upper()}_DATABASE_URL": urls[service],
               "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", **extra.get(service, {})}
        processes[service] = subprocess.Popen(
            [str(BIN / "nameko"), "run", "--config", f"services/{service}/config.yaml", f"{service}.service"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(f"{folder}/{service}.log", "wb"))
    return processes


def progress(retention_engine):
    from retention.models import erasure_runs
    with retention_engine.connect() as connection:
        started = connection.execute(select(func.count()).select_from(erasure_runs)).scalar_one()
        done = connection.execute(select(func.count()).select_from(erasure_runs)
                                  .where(erasure_runs.c.completed_at.is_not(None))).scalar_one()
        waiting = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
    return started, done, waiting


# -- 3. check -----------------------------------------------------------------------------------------
def left_over(urls) -> dict:
    """Rows still about the erased dossiers, per service and table (the not-due clocks are not counted)."""
    checks = {
        "registration": ["SELECT count(*) FROM dossiers"],
        "matching": ["SELECT count(*) FROM requests", "SELECT count(*) FROM dossiers WHERE NOT erased"],
        "notification": ["SELECT count(*) FROM email_log", "SELECT count(*) FROM dossier_projections"],
        "consent_export": ["SELECT count(*) FROM transfers WHERE dossier_id IS NOT NULL",
                           "SELECT count(*) FROM dossier_states", "SELECT count(*) FROM exported"],
        "retention": ["SELECT count(*) FROM retention_clocks WHERE dossier_id NOT LIKE 'kept-%' AND NOT erased"],
    }
    found = {}
    for service, queries in checks.items():
        engine = create_engine(normalise_url(urls[service]))
        with engine.connect() as connection:
            for query in queries:
                found[f"{service}: {query}"] = connection.execute(text(query)).scalar_one()
        engine.dispose()
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    databases = Databases(args.database)
    cleanup = ExitStack()
    amqp_uri = cleanup.enter_context(fresh_vhost(prefix="loket-erase"))
    folder = tempfile.mkdtemp(prefix="loket-erase-")
    processes = {}
    try:
        keys = {"registration": Keyring.generate_key(), "consent_export": "bench-log-key-" + uuid.uuid4().hex}
        urls = {service: databases.fresh(service) for service in SERVICES}
        began = time.perf_counter()
        events = seed_registration(urls["registration"], args.dossiers, keys["registration"])
        seeded_registration = time.perf_counter() - began
        seed_matching(urls["matching"], events)
        seed_notification(urls["notification"], events)
        seed_consent_export(urls["consent_export"], events, keys["consent_export"])
        dossier_ids = [event["aggregate_id"] for event in events]
        seed_retention(urls["retention"], dossier_ids, args.dossiers)
        print(f"seeded {len(dossier_ids):,} dossiers in {time.perf_counter() - began:.0f} s "
              f"(registration {seeded_registration:.0f} s); {args.database}", flush=True)
        settling = time.perf_counter()
        databases.settle(urls)
        print(f"settled (vacuum, analyse, checkpoint) in {time.perf_counter() - settling:.0f} s", flush=True)
        before = left_over(urls)
        clock_file = Path(folder) / "clock"
        clock_file.write_text(NOW.isoformat())
        rabbit = rabbitmq_pid()
        rabbit_cpu = process_cpu(rabbit) if rabbit else 0.0
        postgres_before = postgres_cpu()
        started_at = time.perf_counter()
        processes = start_services(urls, amqp_uri, clock_file, folder, keys)
        retention_engine = create_db_engine(urls["retention"])
        first_run, shown = None, started_at
        while True:
            time.sleep(0.5)
            runs, done, waiting = progress(retention_engine)
            if runs and first_run is None:
                first_run = time.perf_counter()
            if time.perf_counter() - shown >= 10:
                shown = time.perf_counter()
                print(f"  {shown - started_at:5.0f} s: {runs:,} runs started, {done:,} complete", flush=True)
            dead = [name for name, process in processes.items() if process.poll() is not None]
            if dead:
                raise SystemExit(f"service(s) stopped: {dead}; logs in {folder}")
            if done >= len(dossier_ids) and waiting == 0:
                break
            if time.perf_counter() - started_at > args.timeout:
                raise SystemExit(f"not finished after {args.timeout} s: {runs} runs, {done} complete")
        finished = time.perf_counter()
        cpu = {name: process_cpu(process.pid) for name, process in processes.items()}
        cpu["rabbitmq"] = (process_cpu(rabbit) - rabbit_cpu) if rabbit else float("nan")
        cpu["postgresql"] = sum(seconds - postgres_before.get(pid, 0.0) for pid, seconds in postgres_cpu().items())
        retention_engine.dispose()
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=60)
        processes = {}
        after = left_over(urls)
        print(f"erased {len(dossier_ids):,} dossiers across all services: {finished - started_at:.1f} s from the "
              f"start of the services, {finished - first_run:.1f} s from the first erasure run; "
              f"{len(dossier_ids) / (finished - first_run):,.0f} dossiers/s")
        print("CPU seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
        print("rows about the dossiers, before -> after: " + "; ".join(
            f"{check} {before[check]:,} -> {after[check]:,}" for check in before))
        assert all(value == 0 for value in after.values()), after
    finally:
        for process in processes.values():
            process.kill()
        cleanup.close()
        databases.close()


if __name__ == "__main__":
    main()
