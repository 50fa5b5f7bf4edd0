"""Health and metrics for operators: every service inherits `Observable`.

    GET /health   200 {"status": "ok", ...} when the database and the broker answer, else 503
    GET /metrics  Prometheus text: events handled, handler failures, messages parked by this process,
                  outbox backlog, parked messages waiting in this service's parked queues

The HTTP port is WEB_SERVER_ADDRESS (one per service when several run on one machine).
"""
import json
import logging
import threading
from collections import Counter

from kombu import Connection
from nameko.web.handlers import http
from sqlalchemy import func, select, text

from loket import topology
from loket.tables import outbox

log = logging.getLogger(__name__)

_lock = threading.Lock()
_counters = Counter()


def count(name, subscription, amount=1):
    with _lock:
        _counters[(name, subscription)] += amount


def counters() -> dict:
    with _lock:
        return dict(_counters)


def _parked(amqp_uri, service) -> dict:
    result = {}
    with Connection(amqp_uri, connect_timeout=3) as connection:
        channel = connection.channel()
        for name in topology.SUBSCRIPTIONS:
            if name.startswith(f"{service}."):
                result[name] = channel.queue_declare(
                    queue=topology.parked_queue_name(name), passive=True).message_count
    return result


class Observable:
    """Mixin for a nameko service class with a `db` (loket.db.Database) dependency."""

    def _check_database(self):
        with self.db.transaction() as session:
            session.execute(text("SELECT 1"))

    def _check_broker(self):
        with Connection(self.config["AMQP_URI"], connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)

    @http("GET", "/health")
    def health(self, request):
        checks = {}
        for name, check in (("database", self._check_database), ("broker", self._check_broker)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure makes the service unhealthy
                log.warning("health check %s failed: %s", name, type(exc).__name__)
                checks[name] = "failing"
        healthy = all(value == "ok" for value in checks.values())
        body = json.dumps({"status": "ok" if healthy else "failing", "service": self.name, **checks})
        return 200 if healthy else 503, {"Content-Type": "application/json"}, body

    @http("GET", "/metrics")
    def metrics(self, request):
        lines = []
        for metric, help_text in (("events_handled_total", "Events a handler applied"),
                                  ("handler_failures_total", "Handler failures (each retry counts)"),
                                  ("messages_parked_total", "Messages this process parked")):
            lines += [f"# HELP loket_{metric} {help_text}.", f"# TYPE loket_{metric} counter"]
            for (name, subscription), value in sorted(counters().items()):
                if name == metric:
                    lines.append(f'loket_{metric}{{service="{self.name}",subscription="{subscription}"}} {value}')
        with self.db.transaction() as session:
            backlog = session.execute(select(func.count()).select_from(outbox)).scalar_one()
        lines += ["# HELP loket_outbox_backlog Events committed but not yet confirmed by the broker.",
                  "# TYPE loket_outbox_backlog gauge", f'loket_outbox_backlog{{service="{self.name}"}} {backlog}']
        try:
            parked = _parked(self.config["AMQP_URI"], self.name)
        except Exception as exc:  # noqa: BLE001 - metrics stay available while the broker is away
            log.warning("cannot read parked queue depths: %s", type(exc).__name__)
            parked = {}
        lines += ["# HELP loket_parked_messages Messages waiting in a parked queue for an operator.",
                  "# TYPE loket_parked_messages gauge"]
        lines += [f'loket_parked_messages{{service="{self.name}",subscription="{name}"}} {depth}'
                  for name, depth in sorted(parked.items())]
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, "\n".join(lines) + "\n"
