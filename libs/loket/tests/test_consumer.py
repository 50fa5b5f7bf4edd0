"""The event handler entrypoint on the real broker: retries, parking, replay, idempotency."""
import time
import uuid

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from loket import contracts, parking
from loket.consumer import PermanentError, event_handler
from loket.db import Database, create_db_engine
from loket.inbox import claim
from loket.tables import platform_metadata
from loket.testing import publish_raw

PING = "registration.test_ping"
SUBSCRIPTION = "matching.registration_events"

effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("event_id", String(64), primary_key=False))

behaviour = {"fail_times": 0, "calls": 0, "permanent": False}


class PingConsumer:
    name = "ping_consumer"
    db = Database()

    @event_handler(SUBSCRIPTION)
    def on_event(self, event):
        behaviour["calls"] += 1
        if behaviour["permanent"]:
            raise PermanentError("this event can never be handled")
        if behaviour["calls"] <= behaviour["fail_times"]:
            raise ConnectionError("transient failure")
        with self.db.transaction() as session:
            if not claim(session, SUBSCRIPTION, event):
                return
            session.execute(insert(effects).values(event_id=event["id"]))


@pytest.fixture
def service(container_factory, amqp_uri, sqlite_url):
    behaviour.update(fail_times=0, calls=0, permanent=False)
    engine = create_db_engine(sqlite_url)
    platform_metadata.create_all(engine)
    effects_metadata.create_all(engine)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": sqlite_url, "RETRY_DELAYS_MS": [100, 200]}
    container = container_factory(PingConsumer, config)
    container.start()
    yield container, engine, amqp_uri
    container.stop()
    engine.dispose()


def ping(amqp_uri, event_id=None, n=1):
    body = contracts.envelope(PING, {"n": n}, aggregate_id="d1", sequence=n, producer="test",
                              event_id=event_id)
    publish_raw(amqp_uri, PING, body)
    return body


def effect_count(engine):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(effects)).scalar_one()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_transient_failure_is_retried_until_it_succeeds(service):
    _, engine, amqp_uri = service
    behaviour["fail_times"] = 2
    ping(amqp_uri)
    assert wait_for(lambda: effect_count(engine) == 1)
    assert behaviour["calls"] == 3
    assert parking.counts(amqp_uri)[SUBSCRIPTION] == 0


def test_a_redelivered_event_has_no_second_effect(service):
    _, engine, amqp_uri = service
    event_id = str(uuid.uuid4())
    ping(amqp_uri, event_id=event_id)
    ping(amqp_uri, event_id=event_id)
    assert wait_for(lambda: behaviour["calls"] == 2)
    assert effect_count(engine) == 1


def test_what_keeps_failing_is_parked_then_replayed(service):
    _, engine, amqp_uri = service
    behaviour["fail_times"] = 100
    body = ping(amqp_uri)
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1)
    assert behaviour["calls"] == 3  # first try + two retries
    listed = parking.list_parked(amqp_uri, SUBSCRIPTION)
    assert listed[0]["event_id"] == body["id"]
    assert listed[0]["error"].startswith("ConnectionError")
    assert parking.counts(amqp_uri)[SUBSCRIPTION] == 1  # listing consumed nothing

    behaviour["fail_times"] = 0  # the operator fixed the cause
    assert parking.replay(amqp_uri, SUBSCRIPTION) == 1
    assert wait_for(lambda: effect_count(engine) == 1)
    assert parking.counts(amqp_uri)[SUBSCRIPTION] == 0


def test_a_permanent_error_is_parked_without_retries(service):
    _, _, amqp_uri = service
    behaviour["permanent"] = True
    ping(amqp_uri)
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1)
    assert behaviour["calls"] == 1


def test_a_message_that_breaks_its_contract_is_parked_and_never_handled(service):
    _, _, amqp_uri = service
    publish_raw(amqp_uri, PING, {"id": "x", "type": PING})
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1)
    assert behaviour["calls"] == 0
    assert "contract" in parking.list_parked(amqp_uri, SUBSCRIPTION)[0]["error"]


def test_an_event_published_before_the_consumer_ever_started_is_not_lost(container_factory, amqp_uri, sqlite_url):
    from loket.topology import declare_all
    behaviour.update(fail_times=0, calls=0, permanent=False)
    declare_all(amqp_uri)  # what every producer does before it publishes
    ping(amqp_uri)
    engine = create_db_engine(sqlite_url)
    platform_metadata.create_all(engine)
    effects_metadata.create_all(engine)
    container = container_factory(PingConsumer, {"AMQP_URI": amqp_uri, "DATABASE_URL": sqlite_url})
    container.start()
    assert wait_for(lambda: effect_count(engine) == 1)
    container.stop()
