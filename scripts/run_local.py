"""Run the whole system on this machine: RabbitMQ (started if installed and not running), every
service on its own SQLite file under var/, each as its own `nameko run` process. Ctrl-C stops all.

Each service's migrations run first, as the one-off job they are in production. A service that has
a `demo` module (matching's facilities) loads its demo data after its migrations.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
BIN = Path(sys.executable).parent


def port_open(port, host="127.0.0.1"):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_rabbitmq():
    if port_open(5672):
        return
    if not shutil.which("rabbitmq-server"):
        sys.exit("RabbitMQ is not running on 127.0.0.1:5672 and is not installed (apt-get install rabbitmq-server)")
    print("starting RabbitMQ ...", flush=True)
    subprocess.run(["rabbitmq-server", "-detached"], check=True)
    for _ in range(60):
        if port_open(5672):
            return
        time.sleep(1)
    sys.exit("RabbitMQ did not start within 60 s")


def services():
    return sorted(path.parent.name for path in (ROOT / "services").glob("*/config.yaml")
                  if (path.parent / path.parent.name / "service.py").exists())


def migrate(name):
    ini = ROOT / "services" / name / "alembic.ini"
    if not ini.exists():
        return
    from loket.config import load_config
    from loket.migrations import upgrade
    url = load_config(ROOT / "services" / name / "config.yaml")["DATABASE_URL"]
    upgrade(ini, url)
    demo = ROOT / "services" / name / name / "demo.py"
    if demo.exists():
        subprocess.run([str(BIN / "python"), "-m", f"{name}.demo", url], cwd=ROOT, check=True)


def pipe(prefix, stream):
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{prefix:>15} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def main():
    VAR.mkdir(exist_ok=True)
    ensure_rabbitmq()
    names = services()
    for name in names:
        print(f"migrating {name} ...", flush=True)
        migrate(name)
    processes = []
    for name in names:
        process = subprocess.Popen(
            [str(BIN / "nameko"), "run", "--config", f"services/{name}/config.yaml", f"{name}.service"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"})
        threading.Thread(target=pipe, args=(name, process.stdout), daemon=True).start()
        processes.append(process)
    print(f"running: {', '.join(names)}. Ctrl-C stops everything.", flush=True)

    def stop(*_):
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for name, process in zip(names, processes):
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the rest", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
