"""Health and metrics endpoints, on a real service container, real broker and database."""
import requests
from sqlalchemy import text

from loket import contracts
from loket.consumer import event_handler
from loket.db import Database, create_db_engine
from loket.inbox import claim
from loket.observability import Observable
from loket.tables import platform_metadata
from loket.testing import PG_ADMIN_URL, free_port, publish_raw, wait_for
from nameko.dependency_providers import Config

PING = "registration.test_ping"
SUBSCRIPTION = "matching.registration_events"


class ObservedService(Observable):
    name = "matching"  # so that its parked queues are the matching.* ones
    db = Database()
    config = Config()

    @event_handler(SUBSCRIPTION)
    def on_event(self, event):
        with self.db.transaction() as session:
            claim(session, SUBSCRIPTION, event)


def start(container_factory, amqp_uri, database_url):
    port = free_port()
    container = container_factory(ObservedService, {
        "AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
    container.start()
    return f"http://127.0.0.1:{port}"


def test_health_and_metrics_of_a_working_service(container_factory, amqp_uri, sqlite_url):
    platform_metadata.create_all(create_db_engine(sqlite_url))
    base = start(container_factory, amqp_uri, sqlite_url)
    health = requests.get(f"{base}/health", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "matching", "database": "ok", "broker": "ok"}

    body = contracts.envelope(PING, {"n": 1}, aggregate_id="d1", sequence=1, producer="test")
    publish_raw(amqp_uri, PING, body)

    def handled():
        return 'loket_events_handled_total{service="matching",subscription="matching.registration_events"}' \
            in requests.get(f"{base}/metrics", timeout=5).text
    assert wait_for(handled)
    metrics = requests.get(f"{base}/metrics", timeout=5).text
    assert 'loket_outbox_backlog{service="matching"} 0' in metrics
    assert 'loket_parked_messages{service="matching",subscription="matching.registration_events"} 0' in metrics


def test_health_fails_when_the_database_is_gone(container_factory, amqp_uri, postgres_url):
    engine = create_db_engine(postgres_url)
    platform_metadata.create_all(engine)
    engine.dispose()
    base = start(container_factory, amqp_uri, postgres_url)
    assert requests.get(f"{base}/health", timeout=5).status_code == 200

    name = postgres_url.rsplit("/", 1)[1]
    admin = create_db_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()

    response = requests.get(f"{base}/health", timeout=10)
    assert response.status_code == 503
    assert response.json()["database"] == "failing"
    assert response.json()["broker"] == "ok"
