"""Operating the services: two instances of one service share the work and no effect happens twice;
a graceful shutdown loses no in-flight message. Real broker, real database, real nameko containers."""
import json

import eventlet
from kombu import Connection
from marshmallow import Schema, fields
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from loket import contracts
from loket.consumer import event_handler
from loket.db import Database, create_db_engine
from loket.inbox import claim
from loket.tables import platform_metadata
from loket.testing import wait_for

PING = "registration.test_ping"
SUBSCRIPTION = "matching.registration_events"
effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("event_id", String(64)), Column("instance", String(64)))
contracts.register({(PING, 1): Schema.from_dict({"n": fields.Integer(required=True)})})


WORK = {"seconds": 0.01}


class Worker:
    name = "matching"
    db = Database()

    @event_handler(SUBSCRIPTION)
    def on_event(self, event):
        eventlet.sleep(WORK["seconds"])  # some work, so that several messages are in flight at once
        with self.db.transaction() as session:
            if claim(session, SUBSCRIPTION, event):
                session.execute(insert(effects).values(event_id=event["id"], instance=self.instance_name()))

    def instance_name(self):
        return str(id(self.db))  # one Database access object per container: tells the instances apart


def publish(amqp_uri, count, duplicate_every=None):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for n in range(count):
            body = contracts.envelope(PING, {"n": n}, aggregate_id=f"d{n}", sequence=n, producer="test")
            copies = 2 if duplicate_every and n % duplicate_every == 0 else 1
            for _ in range(copies):
                producer.publish(json.dumps(body), exchange="loket.events", routing_key=PING,
                                 content_type="application/json", message_id=body["id"])


def database(url):
    engine = create_db_engine(url)
    platform_metadata.create_all(engine)
    effects_metadata.create_all(engine)
    return engine


def counts(engine):
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(effects)).scalar_one()
        distinct = connection.execute(select(func.count(effects.c.event_id.distinct()))).scalar_one()
        per_instance = dict(connection.execute(
            select(effects.c.instance, func.count()).group_by(effects.c.instance)).all())
    return total, distinct, per_instance


def test_two_instances_share_the_work_and_nothing_happens_twice(container_factory, amqp_uri, postgres_url):
    WORK["seconds"] = 0.01
    engine = database(postgres_url)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": postgres_url, "max_workers": 5}
    first = container_factory(Worker, config)
    second = container_factory(Worker, config)
    first.start()
    second.start()
    publish(amqp_uri, 300, duplicate_every=10)  # 30 redeliveries on top, racing across the instances

    assert wait_for(lambda: counts(engine)[1] == 300, timeout=60)
    eventlet.sleep(0.5)
    total, distinct, per_instance = counts(engine)
    assert total == distinct == 300  # every event applied exactly once
    assert len(per_instance) == 2 and min(per_instance.values()) > 30  # both instances did real work
    engine.dispose()


def test_a_graceful_shutdown_loses_no_in_flight_message(container_factory, amqp_uri, sqlite_url):
    WORK["seconds"] = 0.1
    engine = database(sqlite_url)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": sqlite_url, "max_workers": 10}
    container = container_factory(Worker, config)
    container.start()
    publish(amqp_uri, 200)
    assert wait_for(lambda: counts(engine)[0] > 20, timeout=20)
    container.stop()  # what SIGTERM does under `nameko run`: finish the running workers, requeue the rest
    stopped_at = counts(engine)[0]
    assert stopped_at < 200  # the stop really happened mid-stream

    replacement = container_factory(Worker, config)
    replacement.start()
    assert wait_for(lambda: counts(engine)[1] == 200, timeout=60)
    total, distinct, _ = counts(engine)
    assert total == distinct == 200
    engine.dispose()
