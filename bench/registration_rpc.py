"""Dossiers registered per second through RPC, with events published end to end.

    .venv/bin/python bench/registration_rpc.py [--dossiers 1500] [--clients 16] [--instances 1]

The registration service runs as real `nameko run` processes (1 or more instances on one database),
against the real broker, on SQLite and on PostgreSQL. Clients are concurrent nameko RPC proxies.
The clock stops when the last dossier_registered event has reached a subscriber's queue.
Baselines in the same run: an RPC that only reads (get_dossier), to separate RPC cost from the write
path; and the ceiling of nameko RPC itself on this machine: the same clients calling a service named
`registration` whose register_dossier returns at once (`EchoRegistration` below), no database, no event.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402
import yaml  # noqa: E402
from nameko.exceptions import UnknownService  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from loket.crypto import Keyring  # noqa: E402
from loket.db import normalise_url  # noqa: E402
from loket.migrations import upgrade  # noqa: E402
from registration.samples import sample_registration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PARENT = {"role": "parent", "actor_id": "bench-parent"}
QUEUE = "matching.registration_events"


class EchoRegistration:
    """The no-op ceiling: what nameko RPC alone costs with these clients (run as bench/registration_rpc.py's
    `registration_rpc:EchoRegistration`)."""
    name = "registration"

    @rpc
    def register_dossier(self, payload, actor):
        return {"dossier": {"id": "echo", "applicant": payload["applicant"]}}


def queue_depth(vhost):
    response = requests.get(f"{API}/queues/{quote(vhost, safe='')}/{QUEUE}", timeout=10)
    return response.json().get("messages", 0) if response.ok else 0


def start_service(config, instances, workdir, service="registration.service"):
    path = Path(workdir) / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT / "bench")}
    processes = [subprocess.Popen([str(Path(sys.executable).parent / "nameko"), "run", "--config", str(path),
                                   service], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(instances)]
    return processes


def cpu_seconds(pid):
    """utime + stime of a process (and its threads), from /proc: robust against other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_vhost():
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"},
                 timeout=10).raise_for_status()
    return vhost, f"amqp://guest:guest@127.0.0.1:5672/{vhost}"


def stop_and_clean(processes, vhost):
    """Stop the service processes and delete the run's vhost."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=30)


def broker_cpu_seconds():
    """CPU of the RabbitMQ node (beam.smp), when it runs on this machine."""
    try:
        pid = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()[0]
        return cpu_seconds(pid)
    except (IndexError, OSError):
        return float("nan")


def noop_ceiling(dossiers, clients, instances):
    """Registrations per second the same clients reach against a service that does nothing."""
    vhost, amqp_uri = fresh_vhost()
    today = date.today()
    per_client = dossiers // clients
    with tempfile.TemporaryDirectory() as workdir:
        processes = start_service({"AMQP_URI": amqp_uri, "max_workers": 10}, instances, workdir,
                                  service="registration_rpc:EchoRegistration")
        try:
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
                for _ in range(60):
                    try:
                        cluster.registration.register_dossier(sample_registration(today, 0), PARENT)
                        break
                    except UnknownService:
                        time.sleep(0.5)

            def client(index):
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
                    for n in range(per_client):
                        cluster.registration.register_dossier(
                            sample_registration(today, index * per_client + n + 1), PARENT)

            service_cpu = sum(cpu_seconds(process.pid) for process in processes)
            client_cpu, broker_cpu = time.process_time(), broker_cpu_seconds()
            started = time.perf_counter()
            list(eventlet.GreenPool(clients).imap(client, range(clients)))
            elapsed = time.perf_counter() - started
            service_cpu = sum(cpu_seconds(process.pid) for process in processes) - service_cpu
            client_cpu, broker_cpu = time.process_time() - client_cpu, broker_cpu_seconds() - broker_cpu
        finally:
            stop_and_clean(processes, vhost)
    total = per_client * clients
    return {"rpc": total / elapsed, "service_cpu_ms": 1000 * service_cpu / total,
            "client_cpu_ms": 1000 * client_cpu / total, "broker_cpu_ms": 1000 * broker_cpu / total}


def run_once(database_url, dossiers, clients, instances):
    vhost, amqp_uri = fresh_vhost()
    upgrade(ROOT / "services/registration/alembic.ini", database_url)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "ENCRYPTION_KEYS": Keyring.generate_key(),
              "max_workers": 10, "parallel_calls": 20, "WEB_SERVER_ADDRESS": "127.0.0.1:0"}
    with tempfile.TemporaryDirectory() as workdir:
        processes = start_service(config, instances, workdir)
        try:
            today = date.today()
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
                for _ in range(60):  # wait for the processes to start
                    try:
                        first = cluster.registration.register_dossier(sample_registration(today, 0), PARENT)
                        break
                    except UnknownService:
                        time.sleep(0.5)
                deadline = time.time() + 30
                while queue_depth(vhost) < 1 and time.time() < deadline:
                    time.sleep(0.2)
            per_client = dossiers // clients

            def client(index):
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
                    for n in range(per_client):
                        cluster.registration.register_dossier(
                            sample_registration(today, index * per_client + n + 1), PARENT)

            def reader(_):
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as cluster:
                    for _ in range(per_client):
                        cluster.registration.get_dossier(first["dossier"]["id"], PARENT)

            total = per_client * clients
            if os.environ.get("PROFILE_SERVICE"):  # py-spy flame data of the first instance, for "where the time goes"
                subprocess.Popen(["py-spy", "record", "--format", "raw", "-o", os.environ["PROFILE_SERVICE"],
                                  "--pid", str(processes[0].pid), "--duration", "15", "--nonblocking"])
            service_cpu = sum(cpu_seconds(process.pid) for process in processes)
            client_cpu, broker_cpu = time.process_time(), broker_cpu_seconds()
            started = time.perf_counter()
            pool = eventlet.GreenPool(clients)
            list(pool.imap(client, range(clients)))
            rpc_done = time.perf_counter()
            while queue_depth(vhost) < total + 1:
                time.sleep(0.05)
            published = time.perf_counter()
            service_cpu = sum(cpu_seconds(process.pid) for process in processes) - service_cpu
            client_cpu, broker_cpu = time.process_time() - client_cpu, broker_cpu_seconds() - broker_cpu
            list(pool.imap(reader, range(clients)))
            read_done = time.perf_counter()
        finally:
            stop_and_clean(processes, vhost)
    return {"rpc": total / (rpc_done - started), "end_to_end": total / (published - started),
            "reads": total / (read_done - published),
            "service_cpu_ms": 1000 * service_cpu / total, "client_cpu_ms": 1000 * client_cpu / total,
            "broker_cpu_ms": 1000 * broker_cpu / total}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    results = {"sqlite": [], "postgresql": []}
    results = {name: runs for name, runs in results.items() if name in args.databases.split(",")}
    results["no-op"] = []
    for _ in range(args.repeat):
        results["no-op"].append(noop_ceiling(args.dossiers, args.clients, args.instances))
        if "sqlite" in results:
            with tempfile.TemporaryDirectory() as tmp:
                results["sqlite"].append(run_once(f"sqlite:///{tmp}/registration.sqlite", args.dossiers,
                                                  args.clients, args.instances))
        if "postgresql" in results:
            name = f"loket_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                results["postgresql"].append(run_once(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, args.dossiers,
                                                      args.clients, args.instances))
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{args.dossiers} dossiers, {args.clients} concurrent clients, {args.instances} service instance(s); "
          f"medians of {args.repeat} runs (per second):")
    print(f"  (load average {os.getloadavg()[0]:.1f} at the end; CPU per dossier is robust against it, rates are not)")
    for database, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        if database == "no-op":
            print(f"  {'no-op RPC':10s} the ceiling: same clients, a service that returns at once {median['rpc']:6.0f}   "
                  f"CPU per call: service {median['service_cpu_ms']:.1f} ms, clients {median['client_cpu_ms']:.1f} ms, "
                  f"RabbitMQ {median['broker_cpu_ms']:.1f} ms")
            continue
        print(f"  {database:10s} registered (RPC answered) {median['rpc']:6.0f}   "
              f"registered + event published {median['end_to_end']:6.0f}   baseline reads {median['reads']:6.0f}   "
              f"CPU per dossier: service {median['service_cpu_ms']:.1f} ms, clients {median['client_cpu_ms']:.1f} ms, "
              f"RabbitMQ {median['broker_cpu_ms']:.1f} ms")


if __name__ == "__main__":
    main()
