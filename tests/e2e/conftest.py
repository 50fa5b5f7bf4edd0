"""End-to-end: every service as its own `nameko run` process, real broker (a fresh vhost), SQLite files,
the embedded mail and partner folders, one shared test clock (CLOCK_FILE). Tests talk HTTP to the
gateway, and RPC where an operator or a facility portal would."""
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from loket.crypto import Keyring
from loket.migrations import upgrade
from loket.testing import free_port, fresh_vhost

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVICES = [name for name in ("registration", "matching", "notification", "consent_export", "retention", "gateway")
            if (ROOT / "services" / name / name / "service.py").exists()]
STAFF_PASSWORD = "Kinderopvang-Brussel-2026"


class System:
    def __init__(self, root, amqp_uri, ports):
        self.root = root
        self.amqp_uri = amqp_uri
        self.ports = ports
        self.clock_file = root / "now"
        self.mail = root / "mail"
        self.exports = root / "exports"

    @property
    def gateway(self):
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def set_clock(self, instant: datetime):
        self.clock_file.write_text(instant.astimezone(timezone.utc).isoformat())

    def rpc(self):
        from nameko.standalone.rpc import ClusterRpcProxy
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=30)

    def environment(self, name, root):
        upper = name.upper()
        return {
            **os.environ, "PYTHONWARNINGS": "ignore",
            "AMQP_URI": self.amqp_uri, f"{upper}_DATABASE_URL": f"sqlite:///{root / name}.sqlite",
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports[name]}", "CLOCK_FILE": str(self.clock_file),
            "ENCRYPTION_KEYS": self.encryption_key, "MAIL_TRANSPORT": "folder", "MAIL_FOLDER": str(self.mail),
            "EXPORT_FOLDER": str(self.exports), "KIND_EN_GEZIN_TRANSPORT": "folder", "LOP_TRANSPORT": "folder",
            "GATEWAY_EXPOSE_CONFIRMATION_TOKENS": "true", "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "8",
            "SEND_INTERVAL": "0.2", "OFFER_LAPSE_INTERVAL": "1", "ERASURE_SCAN_INTERVAL": "1",
            "ERASURE_RETRY_AFTER": "5", "REMINDER_INTERVAL": "1", "GATEWAY_STAFF_PASSWORD": STAFF_PASSWORD,
        }

    def create_staff(self, email, role, *options):
        subprocess.run([str(BIN / "python"), "-m", "gateway.admin", "--config", str(ROOT / "services/gateway/config.yaml"),
                        "create-staff", "--email", email, "--role", role, *options],
                       cwd=self.root, env=self.environment("gateway", self.root), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def log_in(self, email, password=STAFF_PASSWORD):
        response = requests.post(f"{self.gateway}/sessions", json={"email": email, "password": password}, timeout=30)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def _wait_healthy(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    root = tmp_path_factory.mktemp("system")
    with fresh_vhost("loket-e2e") as amqp_uri:
        system = System(root, amqp_uri, {name: free_port() for name in SERVICES})
        system.encryption_key = Keyring.generate_key()
        processes = {}
        try:
            for name in SERVICES:
                url = f"sqlite:///{root / name}.sqlite"
                ini = ROOT / "services" / name / "alembic.ini"
                if ini.exists():
                    upgrade(ini, url)
                if (ROOT / "services" / name / name / "demo.py").exists():
                    subprocess.run([str(BIN / "python"), "-m", f"{name}.demo", url], cwd=root, check=True,
                                   env=system.environment(name, root), stdout=subprocess.DEVNULL)
                log = open(root / f"{name}.log", "wb")
                processes[name] = subprocess.Popen(
                    [str(BIN / "nameko"), "run", "--config", str(ROOT / "services" / name / "config.yaml"),
                     f"{name}.service"], cwd=root, env=system.environment(name, root), stdout=log, stderr=log)
            for name, process in processes.items():
                if not _wait_healthy(f"http://127.0.0.1:{system.ports[name]}/health", process):
                    tail = (root / f"{name}.log").read_text(errors="replace")[-3000:]
                    pytest.fail(f"{name} did not become healthy:\n{tail}")
            yield system
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
