"""The batch event handler: events arrive as lists, in order, one transaction per batch; a failed batch
falls back to per-message retries and parking, and redeliveries still have no second effect."""
import time
from urllib.parse import urlparse

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from loket import contracts, parking, topology
from loket.consumer import EventsFailed, PermanentError, batch_event_handler
from loket.db import Database, create_db_engine
from loket.inbox import claim
from loket.tables import platform_metadata
from loket.testing import TcpProxy, publish_raw, queue_depth, wait_for

PING = "registration.test_ping"
SUBSCRIPTION = "matching.registration_events"
metadata = MetaData()
applied = Table("applied", metadata, Column("event_id", String(64)), Column("n", Integer))
batches = []
state = {"fail_n": None, "failing": {}}  # failing: n -> exception class, until it is retried that often
attempts = {}


class BatchConsumer:
    name = "batch_consumer"
    db = Database()

    @batch_event_handler(SUBSCRIPTION, batch_size=50, max_wait=0.05)
    def on_events(self, events):
        batches.append(len(events))
        failed = {}
        with self.db.transaction() as session:
            for event in events:
                n = event["data"]["n"]
                attempts[n] = attempts.get(n, 0) + 1
                if state["fail_n"] is not None and n == state["fail_n"]:
                    raise RuntimeError("one poisonous event")
                failing = state["failing"].get(n)
                if failing is not None and (failing is PermanentError or attempts[n] == 1):
                    failed[event["id"]] = failing(f"event {n}")
                    continue
                if claim(session, SUBSCRIPTION, event):
                    session.execute(insert(applied).values(event_id=event["id"], n=n))
        if failed:
            raise EventsFailed(failed)


def reset():
    batches.clear()
    attempts.clear()
    state["fail_n"] = None
    state["failing"] = {}


def start_consumer(container_factory, amqp_uri, database_url):
    container = container_factory(BatchConsumer, {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url,
                                                  "RETRY_DELAYS_MS": [100]})
    container.start()
    return container


@pytest.fixture
def database(sqlite_url):
    reset()
    engine = create_db_engine(sqlite_url)
    platform_metadata.create_all(engine)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def consumer(container_factory, amqp_uri, database):
    start_consumer(container_factory, amqp_uri, str(database.url))
    return database, amqp_uri


def publish(amqp_uri, count, start=0):
    from kombu import Connection
    import json
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for n in range(start, start + count):
            body = contracts.envelope(PING, {"n": n}, aggregate_id="d1", sequence=n, producer="test")
            producer.publish(json.dumps(body), exchange="loket.events", routing_key=PING,
                             content_type="application/json", message_id=body["id"])


def applied_ns(engine):
    with engine.connect() as connection:
        return [n for (n,) in connection.execute(select(applied.c.n))]


def test_events_are_applied_in_batches_and_in_order(consumer):
    engine, amqp_uri = consumer
    publish(amqp_uri, 400)
    assert wait_for(lambda: len(applied_ns(engine)) == 400)
    assert applied_ns(engine) == list(range(400))
    assert max(batches) > 1 and len(batches) < 400


def test_a_failing_batch_retries_each_event_and_parks_only_the_poison(consumer):
    engine, amqp_uri = consumer
    state["fail_n"] = 7
    publish(amqp_uri, 20)
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1, timeout=15)
    assert wait_for(lambda: sorted(applied_ns(engine)) == [n for n in range(20) if n != 7], timeout=15)
    assert parking.list_parked(amqp_uri, SUBSCRIPTION)[0]["error"].startswith("RuntimeError")


def test_events_failed_retries_or_parks_only_the_named_events_and_acks_the_rest(consumer):
    engine, amqp_uri = consumer
    state["failing"] = {3: PermanentError, 11: RuntimeError}
    publish(amqp_uri, 20)
    # 11 failed once, was retried alone and applied; 3 was parked at once; the rest once each.
    assert wait_for(lambda: sorted(applied_ns(engine)) == [n for n in range(20) if n != 3], timeout=15)
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1, timeout=15)
    [parked] = parking.list_parked(amqp_uri, SUBSCRIPTION)
    assert parked["error"] == "PermanentError: event 3"
    time.sleep(0.5)  # a wrongly retried neighbour would come back by now (RETRY_DELAYS_MS 100)
    assert {n: count for n, count in attempts.items() if count != 1} == {11: 2}
    assert sorted(applied_ns(engine)) == [n for n in range(20) if n != 3]


def publish_broken(amqp_uri):
    publish_raw(amqp_uri, PING, {"id": "broken", "type": PING})  # no version, no data: breaks the envelope


def test_a_message_breaking_its_contract_is_parked_and_its_neighbours_are_handled_once(
        container_factory, amqp_uri, database):
    engine = database
    topology.declare_all(amqp_uri)
    publish(amqp_uri, 10)
    publish_broken(amqp_uri)
    publish(amqp_uri, 10, start=10)
    start_consumer(container_factory, amqp_uri, str(database.url))
    assert wait_for(lambda: len(applied_ns(engine)) == 20, timeout=15)
    assert wait_for(lambda: parking.counts(amqp_uri)[SUBSCRIPTION] == 1, timeout=15)
    time.sleep(0.5)
    # Acked alone: had its ack taken the events received before it along (multiple), their own
    # batch's ack would have closed the channel and they would have been delivered a second time.
    assert set(attempts.values()) == {1}
    assert queue_depth(amqp_uri, SUBSCRIPTION) == 0


def test_a_backlog_is_handled_in_full_batches_and_acked(container_factory, amqp_uri, database):
    topology.declare_all(amqp_uri)
    publish(amqp_uri, 1000)  # waiting before the consumer starts
    start_consumer(container_factory, amqp_uri, str(database.url))
    assert wait_for(lambda: len(applied_ns(database)) == 1000, timeout=30)
    assert wait_for(lambda: queue_depth(amqp_uri, SUBSCRIPTION) == 0)  # neither ready nor unacked
    assert applied_ns(database) == list(range(1000))
    assert set(attempts.values()) == {1}
    assert batches == [50] * 20


def test_a_lost_broker_connection_loses_nothing_and_applies_nothing_twice(container_factory, amqp_uri, database,
                                                                         caplog):
    broker = urlparse(amqp_uri)
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    proxied = amqp_uri.replace(f"{broker.hostname}:{broker.port or 5672}", f"127.0.0.1:{proxy.port}")
    container = None
    try:
        topology.declare_all(amqp_uri)
        publish(amqp_uri, 3000)
        container = start_consumer(container_factory, proxied, str(database.url))
        assert wait_for(lambda: len(applied_ns(database)) >= 200, timeout=20, interval=0.01)
        proxy.cut()  # mid-stream: some batches handled, one perhaps in flight, the rest waiting
        time.sleep(1.5)
        proxy.restore()
        assert wait_for(lambda: len(applied_ns(database)) == 3000, timeout=60)
        assert wait_for(lambda: queue_depth(amqp_uri, SUBSCRIPTION) == 0)
        assert sorted(applied_ns(database)) == list(range(3000))  # each once, none lost
        assert parking.counts(amqp_uri)[SUBSCRIPTION] == 0
        assert "lost its broker connection" in caplog.text  # the cut came while it was consuming
    finally:
        if container is not None:
            container.stop()
        proxy.close()


def test_stopping_hands_back_what_was_received_but_not_handled(container_factory, amqp_uri, database):
    topology.declare_all(amqp_uri)
    publish(amqp_uri, 3000)
    container = start_consumer(container_factory, amqp_uri, str(database.url))
    assert wait_for(lambda: len(applied_ns(database)) >= 100, timeout=20, interval=0.01)
    container.stop()
    done = len(applied_ns(database))
    assert done < 3000
    assert wait_for(lambda: queue_depth(amqp_uri, SUBSCRIPTION) == 3000 - done)
    start_consumer(container_factory, amqp_uri, str(database.url))
    assert wait_for(lambda: len(applied_ns(database)) == 3000, timeout=30)
    assert sorted(applied_ns(database)) == list(range(3000))


def test_apply_batch_commits_a_batch_at_once_and_else_each_event_alone(database):
    from sqlalchemy.orm import sessionmaker

    from loket.consumer import apply_batch
    from loket.db import DatabaseAccess
    db = DatabaseAccess(database, sessionmaker(database))
    transactions = []

    def apply(session, batch):
        transactions.append([event["data"]["n"] for event in batch])
        for event in batch:
            if event["data"]["n"] == 3:
                raise ValueError("event 3 cannot be applied")
            session.execute(insert(applied).values(event_id=event["id"], n=event["data"]["n"]))
        return [event["data"]["n"] for event in batch]

    events = [contracts.envelope(PING, {"n": n}, aggregate_id="d1", sequence=n, producer="test") for n in range(5)]
    results, failed = apply_batch(db, events[:3], apply)
    assert (results, failed, transactions) == ([0, 1, 2], {}, [[0, 1, 2]])
    transactions.clear()
    results, failed = apply_batch(db, events[2:], apply)
    assert transactions == [[2, 3, 4], [2], [3], [4]]  # the batch rolled back, then each alone
    assert results == [2, 4] and list(failed) == [events[3]["id"]] and isinstance(failed[events[3]["id"]], ValueError)
    assert sorted(applied_ns(database)) == [0, 1, 2, 2, 4]  # 2 twice: apply itself is not idempotent here
