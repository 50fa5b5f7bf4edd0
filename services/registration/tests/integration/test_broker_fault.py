"""Fault test: the relay's link to the broker is cut while dossiers are being registered.

Every registration succeeds (the change and its event commit together in the outbox), every event
arrives once the link is back, none is lost, and a consumer applies each one exactly once even if
the relay republishes a batch whose confirms were lost with the connection.
"""
from urllib.parse import urlparse

import eventlet
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from loket.consumer import event_handler
from loket.db import Database, create_db_engine
from loket.inbox import claim
from loket.tables import platform_metadata
from loket.testing import TcpProxy, wait_for
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-fault"}
SUBSCRIPTION = "matching.registration_events"
COUNT = 60

effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("dossier_id", String(64)), Column("event_id", String(64)))


class EffectCounter:
    """A downstream consumer: one row per applied event, deduplicated by the inbox."""
    name = "effect_counter"
    db = Database()

    @event_handler(SUBSCRIPTION)
    def on_event(self, event):
        with self.db.transaction() as session:
            if claim(session, SUBSCRIPTION, event):
                session.execute(insert(effects).values(dossier_id=event["aggregate_id"], event_id=event["id"]))


def test_registrations_survive_a_cut_broker_link_and_every_event_arrives_once(
        start_registration, rpc, clock, amqp_uri, container_factory, tmp_path):
    broker = urlparse(amqp_uri)
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    relay_uri = amqp_uri.replace(f"{broker.hostname}:{broker.port or 5672}", f"127.0.0.1:{proxy.port}")
    start_registration(OUTBOX_AMQP_URI=relay_uri)

    consumer_db = f"sqlite:///{tmp_path / 'consumer.sqlite'}"
    engine = create_db_engine(consumer_db)
    platform_metadata.create_all(engine)
    effects_metadata.create_all(engine)
    container_factory(EffectCounter, {"AMQP_URI": amqp_uri, "DATABASE_URL": consumer_db}).start()

    def applied():
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(effects)).scalar_one()

    registered = []
    today = clock.now().date()
    for n in range(COUNT):
        if n == COUNT // 3:
            proxy.cut()  # mid-stream: some events are out, some in flight, the rest wait
        registered.append(rpc.register_dossier(sample_registration(today, n), PARENT)["dossier"]["id"])
        eventlet.sleep(0.01)
    assert len(set(registered)) == COUNT  # every registration succeeded while the link was down

    eventlet.sleep(1.0)
    assert applied() < COUNT  # the relay could not deliver everything without the broker
    proxy.restore()

    assert wait_for(lambda: applied() == COUNT, timeout=30)
    eventlet.sleep(1.0)  # give any republished duplicate time to arrive
    with engine.connect() as connection:
        rows = connection.execute(select(effects.c.dossier_id, effects.c.event_id)).all()
    assert len(rows) == COUNT
    assert sorted(dossier for dossier, _ in rows) == sorted(registered)
    assert len({event for _, event in rows}) == COUNT
    proxy.close()
    engine.dispose()
