"""Dossiers registered per second through the HTTP gateway, and the latency of reading one.

    .venv/bin/python bench/gateway_registrations.py [--dossiers 2000] [--clients 16] [--reads 3000]
        [--databases sqlite,postgresql] [--registrations 1] [--sequential 200]

The gateway and the registration service run as real `nameko run` processes against the real broker,
each on its own database (SQLite files, or two PostgreSQL databases). Each client is a thread with a
requests.Session, logged in as its own parent (accounts made through the API, with production Argon2).
Measured, per database:
  - registrations/s: POST /dossiers until `--dossiers` are registered (HTTP 201 = committed with its
    event in the outbox), and the time until every dossier_registered event reached a subscriber's queue;
  - read latency: GET /dossiers/{id} of the clients' own dossiers (p50, p95, p99);
  - CPU per registration of each process (gateway, registration, RabbitMQ, the HTTP clients) and the
    ceiling it implies on this machine (cores / total CPU per registration);
  - where the time goes: one request at a time (no queueing) through HTTP, for GET /account (HTTP +
    session check, no RPC), and by RPC straight to the registration service (no HTTP, no session).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests
import yaml
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, text

from loket.crypto import Keyring
from loket.db import normalise_url
from loket.migrations import upgrade
from registration.samples import sample_registration

ROOT = Path(__file__).resolve().parents[1]
RABBIT_API = "http://guest:guest@127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
EVENTS_QUEUE = "matching.registration_events"
PASSWORD = "a long passphrase for the benchmark"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Broker:
    """A fresh vhost for one run."""

    def __init__(self):
        self.vhost = f"loket-bench-{uuid.uuid4().hex[:8]}"
        requests.put(f"{RABBIT_API}/vhosts/{self.vhost}", timeout=10).raise_for_status()
        requests.put(f"{RABBIT_API}/permissions/{self.vhost}/guest",
                     json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10).raise_for_status()
        self.uri = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"

    def depth(self, queue):
        """Exact, unlike the management API's sampled counts."""
        with Connection(self.uri) as connection:
            return connection.channel().queue_declare(queue=queue, passive=True).message_count

    def close(self):
        requests.delete(f"{RABBIT_API}/vhosts/{self.vhost}", timeout=10)


class Databases:
    """One database per service."""

    def __init__(self, kind, workdir):
        self.kind = kind
        self.names = {service: f"loket_bench_{service}_{uuid.uuid4().hex[:8]}" for service in ("gateway", "registration")}
        if kind == "sqlite":
            self.urls = {service: f"sqlite:///{workdir}/{service}.sqlite" for service in self.names}
            return
        self.admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            for name in self.names.values():
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.urls = {service: PG_ADMIN.rsplit("/", 1)[0] + "/" + name for service, name in self.names.items()}

    def close(self):
        if self.kind == "sqlite":
            return
        with self.admin.connect() as connection:
            for name in self.names.values():
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def cpu_seconds(pid) -> float:
    """utime + stime of a process, from /proc: robust against other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid():
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return found[0] if found else None


def start(service, config, instances, workdir):
    path = Path(workdir) / f"{service}.yaml"
    path.write_text(yaml.safe_dump(config))
    nameko = str(Path(sys.executable).parent / "nameko")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return [subprocess.Popen([nameko, "run", "--config", str(path), f"{service}.service"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(instances)]


def wait_until(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError("the services did not start")


def new_parent(base_url) -> requests.Session:
    session = requests.Session()
    email = f"bench-{uuid.uuid4().hex[:10]}@example.org"
    signed_up = session.post(f"{base_url}/accounts", json={"email": email, "password": PASSWORD}, timeout=30)
    session.post(f"{base_url}/accounts/confirmation", json={"token": signed_up.json()["confirmation_token"]},
                 timeout=30).raise_for_status()
    logged_in = session.post(f"{base_url}/sessions", json={"email": email, "password": PASSWORD}, timeout=30)
    logged_in.raise_for_status()
    session.headers["Authorization"] = f"Bearer {logged_in.json()['token']}"
    return session


def body(n):
    payload = sample_registration(date.today(), n)
    del payload["registered_by"]
    return payload


def timed(call):
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code >= 300:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return response, elapsed


def register_all(base_url, clients, total):
    """Every client registers until `total` dossiers are registered; returns (seconds, latencies, ids per client)."""
    counter = iter(range(total))
    lock = threading.Lock()
    latencies, ids = [], [[] for _ in clients]

    def work(index):
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            response, elapsed = timed(lambda: clients[index].post(f"{base_url}/dossiers", json=body(n), timeout=60))
            ids[index].append(response.json()["dossier"]["id"])
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(work, range(len(clients))))
    return time.perf_counter() - started, latencies, ids


def read_all(clients, total, url_of):
    """`total` GETs spread over the clients; returns (seconds, latencies)."""
    per_client = max(1, total // len(clients))
    latencies = []

    def work(index):
        for i in range(per_client):
            latencies.append(timed(lambda: clients[index].get(url_of(index, i), timeout=60))[1])

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(work, range(len(clients))))
    return time.perf_counter() - started, latencies


def sequential(call, count):
    """Latencies of `count` calls one after the other: the cost of one request without queueing."""
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - started)
    return latencies


def checked(response):
    if response.status_code >= 300:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return response


def summary(latencies):
    return {"p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


def run(kind, args):
    broker = Broker()
    with tempfile.TemporaryDirectory() as workdir:
        databases = Databases(kind, workdir)
        processes = []
        try:
            upgrade(ROOT / "services/registration/alembic.ini", databases.urls["registration"])
            upgrade(ROOT / "services/gateway/alembic.ini", databases.urls["gateway"])
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            registrations = start("registration", {
                "AMQP_URI": broker.uri, "DATABASE_URL": databases.urls["registration"],
                "ENCRYPTION_KEYS": Keyring.generate_key(), "WEB_SERVER_ADDRESS": "127.0.0.1:0",
                "max_workers": 10}, args.registrations, workdir)
            processes += registrations
            gateways = start("gateway", {
                "AMQP_URI": broker.uri, "DATABASE_URL": databases.urls["gateway"],
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "GATEWAY_EXPOSE_CONFIRMATION_TOKENS": True,
                "max_workers": 10}, 1, workdir)
            processes += gateways
            wait_until(lambda: requests.get(f"{base_url}/health", timeout=2).status_code == 200)
            clients = [new_parent(base_url) for _ in range(args.clients)]
            wait_until(lambda: clients[0].post(f"{base_url}/dossiers", json=body(0), timeout=10).status_code == 201)
            register_all(base_url, clients, args.clients * 5)  # warm-up: connections, pools, caches
            warm_events = broker.depth(EVENTS_QUEUE)

            rabbit = broker_pid()
            groups = {"gateway": [p.pid for p in gateways], "registration": [p.pid for p in registrations],
                      "rabbitmq": [rabbit] if rabbit else []}
            cpu_before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
            clients_cpu = time.process_time()
            started = time.perf_counter()
            seconds, write_latencies, ids = register_all(base_url, clients, args.dossiers)
            wait_until(lambda: broker.depth(EVENTS_QUEUE) >= warm_events + args.dossiers, timeout=300)
            events_seconds = time.perf_counter() - started
            cpu_ms = {name: round(1000 * (sum(cpu_seconds(pid) for pid in pids) - cpu_before[name]) / args.dossiers, 2)
                      for name, pids in groups.items()}
            cpu_ms["http_clients"] = round(1000 * (time.process_time() - clients_cpu) / args.dossiers, 2)
            cpu_ms["total"] = round(sum(cpu_ms.values()), 2)
            cpu_ms["ceiling_per_second_on_this_machine"] = round(os.cpu_count() * 1000 / cpu_ms["total"])
            read_seconds, read_latencies = read_all(
                clients, args.reads, lambda index, i: f"{base_url}/dossiers/{ids[index][i % len(ids[index])]}")
            client, own = clients[0], ids[0]
            account = checked(client.get(f"{base_url}/account", timeout=10)).json()
            actor = {"role": "parent", "actor_id": account["account_id"], "facility_ids": [], "organisation_id": None}
            one = {
                "register_http": sequential(lambda i: checked(client.post(
                    f"{base_url}/dossiers", json=body(i), timeout=60)), args.sequential),
                "read_dossier_http": sequential(lambda i: checked(client.get(
                    f"{base_url}/dossiers/{own[i % len(own)]}", timeout=60)), args.sequential),
                "account_http_no_rpc": sequential(lambda i: checked(client.get(f"{base_url}/account", timeout=60)),
                                                  args.sequential),
            }
            with ServiceRpcProxy("registration", {"AMQP_URI": broker.uri}) as registration:
                one["register_rpc_no_http"] = sequential(lambda i: registration.register_dossier(body(i), actor),
                                                         args.sequential)
                one["read_dossier_rpc_no_http"] = sequential(
                    lambda i: registration.get_dossier(own[i % len(own)], actor), args.sequential)
            return {
                "database": kind, "dossiers": args.dossiers, "clients": args.clients,
                "registrations_per_second": round(args.dossiers / seconds, 1),
                "registrations_per_second_with_events_delivered": round(args.dossiers / events_seconds, 1),
                "register": summary(write_latencies),
                "cpu_ms_per_registration": cpu_ms,
                "reads_per_second": round(len(read_latencies) / read_seconds, 1),
                "read_dossier": summary(read_latencies),
                "one_client_at_a_time": {name: summary(latencies) for name, latencies in one.items()},
                "load_average_1m_at_end": round(os.getloadavg()[0], 1),
                "cpus": os.cpu_count(),
            }
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            databases.close()
            broker.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--registrations", type=int, default=1)
    parser.add_argument("--sequential", type=int, default=200, help="calls per one-at-a-time measurement")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        print(yaml.safe_dump(run(kind, args), sort_keys=False), flush=True)


if __name__ == "__main__":
    main()
