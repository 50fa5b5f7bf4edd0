"""Dossiers registered per second through RPC, with events published end to end.

    .venv/bin/python bench/registration_rpc.py [--dossiers 1500] [--clients 16] [--instances 1]

The registration service runs as real `nameko run` processes (1 or more instances on one database),
against the real broker, on SQLite and on PostgreSQL. Clients are concurrent nameko RPC proxies.
The clock stops when the last dossier_registered event has reached a subscriber's queue.
Baseline in the same run: an RPC that only reads (get_dossier), to separate RPC cost from the write path.
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


def queue_depth(vhost):
    response = requests.get(f"{API}/queues/{quote(vhost, safe='')}/{QUEUE}", timeout=10)
    return response.json().get("messages", 0) if response.ok else 0


def start_service(config, instances, workdir):
    path = Path(workdir) / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    processes = [subprocess.Popen([str(Path(sys.executable).parent / "nameko"), "run", "--config", str(path),
                                   "registration.service"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(instances)]
    return processes


def cpu_seconds(pid):
    """utime + stime of a process (and its threads), from /proc: robust against other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(database_url, dossiers, clients, instances):
    vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/vhosts/{vhost}", timeout=10).raise_for_status()
    requests.put(f"{API}/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"},
                 timeout=10).raise_for_status()
    amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
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
            client_cpu = time.process_time()
            started = time.perf_counter()
            pool = eventlet.GreenPool(clients)
            list(pool.imap(client, range(clients)))
            rpc_done = time.perf_counter()
            while queue_depth(vhost) < total + 1:
                time.sleep(0.05)
            published = time.perf_counter()
            service_cpu = sum(cpu_seconds(process.pid) for process in processes) - service_cpu
            client_cpu = time.process_time() - client_cpu
            list(pool.imap(reader, range(clients)))
            read_done = time.perf_counter()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            requests.delete(f"{API}/vhosts/{quote(vhost, safe='')}", timeout=30)
    return {"rpc": total / (rpc_done - started), "end_to_end": total / (published - started),
            "reads": total / (read_done - published),
            "service_cpu_ms": 1000 * service_cpu / total, "client_cpu_ms": 1000 * client_cpu / total}


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
    for _ in range(args.repeat):
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
    for database, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"  {database:10s} registered (RPC answered) {median['rpc']:6.0f}   "
              f"registered + event published {median['end_to_end']:6.0f}   baseline reads {median['reads']:6.0f}   "
              f"CPU per dossier: service {median['service_cpu_ms']:.1f} ms, clients {median['client_cpu_ms']:.1f} ms")


if __name__ == "__main__":
    main()
