import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket import contracts
from loket.amqp import PublishFailed
from loket.db import create_db_engine
from loket.outbox import EventRecorder, OutboxRelay
from loket.tables import outbox, platform_metadata
from loket.testing import drain_queue

PING = "registration.test_ping"
QUEUE = "matching.registration_events"  # bound to registration.#


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    platform_metadata.create_all(engine)
    yield engine
    engine.dispose()


def record(engine, count, aggregates=3):
    recorder = EventRecorder("registration")
    with Session(engine) as session, session.begin():
        for n in range(count):
            recorder.record(session, PING, aggregate_id=f"d{n % aggregates}", sequence=n, data={"n": n})


def backlog(engine):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)).scalar_one()


def relay_all(relay):
    total = 0
    while (published := relay.relay_once()):
        total += published
    return total


def test_relay_publishes_in_order_and_empties_the_outbox(engine, amqp_uri):
    record(engine, 1200)
    relay = OutboxRelay(engine, amqp_uri, "registration.outbox", batch_size=500)
    assert relay_all(relay) == 1200
    assert backlog(engine) == 0
    bodies = drain_queue(amqp_uri, QUEUE, 1200)
    assert [b["data"]["n"] for b in bodies] == list(range(1200))
    assert {b["producer"] for b in bodies} == {"registration"}
    relay.close()


def test_rolled_back_change_publishes_nothing(engine):
    recorder = EventRecorder("registration")
    with pytest.raises(RuntimeError):
        with Session(engine) as session, session.begin():
            recorder.record(session, PING, aggregate_id="d1", sequence=1, data={"n": 1})
            raise RuntimeError("the change failed")
    assert backlog(engine) == 0


def test_an_event_that_breaks_its_contract_is_refused_at_write(engine):
    with Session(engine) as session, session.begin():
        with pytest.raises(contracts.ContractError):
            EventRecorder("registration").record(session, PING, "d1", 1, {"n": "not a number"})


def test_while_the_broker_is_down_rows_wait_and_go_out_once_it_is_back(engine, amqp_uri):
    record(engine, 50)
    down = OutboxRelay(engine, "amqp://guest:guest@127.0.0.1:1//", "registration.outbox")
    with pytest.raises(PublishFailed):
        down.relay_once()
    assert backlog(engine) == 50
    down.release_lease()
    up = OutboxRelay(engine, amqp_uri, "registration.outbox")
    assert relay_all(up) == 50
    assert len(drain_queue(amqp_uri, QUEUE, 50)) == 50
    up.close()


def test_only_the_lease_holder_relays(engine, amqp_uri):
    record(engine, 10)
    first = OutboxRelay(engine, amqp_uri, "registration.outbox", batch_size=5)
    second = OutboxRelay(engine, amqp_uri, "registration.outbox", batch_size=5)
    assert first.relay_once() == 5
    assert second.relay_once() == 0  # first still holds the lease
    assert first.relay_once() == 5
    first.close()
    second.close()


def test_the_relay_is_woken_once_per_committed_transaction(engine):
    wakes = []
    recorder = EventRecorder("registration", on_commit=lambda: wakes.append(1))
    with Session(engine) as session, session.begin():
        for n in range(3):
            recorder.record(session, PING, aggregate_id="d1", sequence=n, data={"n": n})
        assert wakes == []  # not before the commit: the relay would find nothing yet
    assert wakes == [1]

    with pytest.raises(RuntimeError):
        with Session(engine) as session, session.begin():
            recorder.record(session, PING, aggregate_id="d1", sequence=9, data={"n": 9})
            raise RuntimeError("the change failed")
    assert wakes == [1]

    with Session(engine) as session:
        with session.begin():
            recorder.record(session, PING, aggregate_id="d2", sequence=1, data={"n": 1})
        with session.begin():  # the same session, a second transaction: woken again
            recorder.record(session, PING, aggregate_id="d2", sequence=2, data={"n": 2})
    assert wakes == [1, 1, 1]


def test_many_events_are_recorded_as_one_would_be_each_and_relayed_in_order(engine, amqp_uri):
    wakes = []
    recorder = EventRecorder("registration", correlation_id="corr-1", on_commit=lambda: wakes.append(1))
    with Session(engine) as session, session.begin():
        bodies = recorder.record_many(session, [(PING, f"d{n}", n, {"n": n}) for n in range(3)])
        assert recorder.record_many(session, []) == []
    assert wakes == [1]
    assert [(b["aggregate_id"], b["sequence"], b["data"]) for b in bodies] == [
        ("d0", 0, {"n": 0}), ("d1", 1, {"n": 1}), ("d2", 2, {"n": 2})]
    assert {(b["producer"], b["correlation_id"], b["type"]) for b in bodies} == {("registration", "corr-1", PING)}
    assert len({b["id"] for b in bodies}) == 3
    with engine.connect() as connection:
        stored = connection.execute(select(outbox.c.event_id, outbox.c.aggregate_id).order_by(outbox.c.id)).all()
    assert stored == [(b["id"], b["aggregate_id"]) for b in bodies]
    relay = OutboxRelay(engine, amqp_uri, "registration.outbox")
    assert relay_all(relay) == 3
    assert drain_queue(amqp_uri, QUEUE, 3) == bodies
    relay.close()


def test_many_events_with_one_that_breaks_its_contract_write_nothing(engine):
    with Session(engine) as session, session.begin():
        with pytest.raises(contracts.ContractError):
            EventRecorder("registration").record_many(session, [(PING, "d1", 1, {"n": 1}),
                                                                (PING, "d2", 1, {"n": "not a number"})])
        assert session.execute(select(func.count()).select_from(outbox)).scalar_one() == 0


def test_the_relay_loop_survives_an_unexpected_error_and_goes_on():
    """An error the relay does not expect (seen: eventlet's 'second simultaneous read' while the driver
    connects) must not end the loop: nameko would kill the whole service with its managed thread."""
    import threading

    from loket.outbox import Outbox

    class FlakyRelay:
        batch_size = 500

        def __init__(self):
            self.calls = 0

        def relay_once(self):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("Second simultaneous read on fileno 133 detected")
            if self.calls == 3:
                provider._stopping.set()
            return 0

    provider = Outbox(idle_interval=0.01)
    provider._wake, provider._stopping = threading.Event(), threading.Event()
    provider.relay = FlakyRelay()
    provider._run()  # returns once stopped, instead of raising
    assert provider.relay.calls == 3


def test_a_stopped_service_hands_its_relay_lease_over_at_once(container_factory, amqp_uri, sqlite_url):
    """A restart or redeploy relays at once instead of waiting for the old instance's lease to expire."""
    import time

    from nameko.rpc import rpc

    from loket.db import Database
    from loket.outbox import Outbox
    from loket.testing import wait_for

    class Recording:
        name = "registration"
        db = Database()
        events = Outbox()

        @rpc
        def ping(self, n):
            with self.db.transaction() as session:
                self.events.record(session, PING, aggregate_id="d1", sequence=n, data={"n": n})

    engine = create_db_engine(sqlite_url)
    platform_metadata.create_all(engine)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": sqlite_url}
    first = container_factory(Recording, config)
    first.start()
    record(engine, 1)
    assert wait_for(lambda: backlog(engine) == 0)  # relayed: the first instance holds the lease
    first.stop()
    second = container_factory(Recording, config)
    second.start()
    record(engine, 1)
    began = time.monotonic()
    assert wait_for(lambda: backlog(engine) == 0, timeout=10)
    assert time.monotonic() - began < 5  # the lease lasts 15 s
    engine.dispose()
