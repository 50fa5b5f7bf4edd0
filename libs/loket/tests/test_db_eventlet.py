"""The database dependency must not block the eventlet hub: two slow queries overlap."""
import time

import eventlet
from sqlalchemy import text

from loket.db import create_db_engine


def test_two_slow_postgres_queries_overlap(postgres_url):
    engine = create_db_engine(postgres_url)

    def slow_query():
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.5)"))

    slow_query()  # warm the pool's first connection
    started = time.monotonic()
    pool = eventlet.GreenPool()
    for _ in range(2):
        pool.spawn(slow_query)
    pool.waitall()
    elapsed = time.monotonic() - started
    engine.dispose()
    # Sequential would be >= 1.0 s; overlapping is ~0.5 s.
    assert elapsed < 0.9, f"queries did not overlap: {elapsed:.2f}s"


def test_without_the_wait_callback_the_same_queries_would_not_overlap(postgres_url):
    """The control: plain blocking psycopg2 serialises the two queries, so the test above means something."""
    import psycopg2.extensions
    from sqlalchemy import create_engine

    from loket.db import normalise_url
    create_db_engine(postgres_url).dispose()  # installs the callback, as every service does
    psycopg2.extensions.set_wait_callback(None)
    try:
        engine = create_engine(normalise_url(postgres_url))

        def slow_query():
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_sleep(0.5)"))

        started = time.monotonic()
        pool = eventlet.GreenPool()
        for _ in range(2):
            pool.spawn(slow_query)
        pool.waitall()
        assert time.monotonic() - started >= 1.0
        engine.dispose()
    finally:
        from psycogreen.eventlet import eventlet_wait_callback
        psycopg2.extensions.set_wait_callback(eventlet_wait_callback)


def test_a_sqlite_writer_waits_cooperatively_for_another_that_yields_mid_transaction(sqlite_url):
    """Without the green lock the second BEGIN would block the hub in SQLite's busy wait, so the first
    transaction (sleeping, as if waiting for an RPC reply) could not resume to commit: a stall until the
    busy timeout."""
    engine = create_db_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))

    def holder():
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            eventlet.sleep(0.3)  # yields to the hub while holding SQLite's write lock

    def second_writer():
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))

    started = time.monotonic()
    pool = eventlet.GreenPool()
    pool.spawn(holder)
    eventlet.sleep(0.05)
    pool.spawn(second_writer)
    pool.waitall()
    assert time.monotonic() - started < 2.0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()


def test_two_engines_on_one_sqlite_file_share_the_green_lock(sqlite_url):
    """A test's own engine (or an in-process command) writing to a service's file while the service
    writes: with a lock per engine the second BEGIN would stall the hub until the busy timeout."""
    first, second = create_db_engine(sqlite_url), create_db_engine(sqlite_url)
    with first.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))

    def holder():
        with first.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            eventlet.sleep(0.3)

    def other_engine_writer():
        with second.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))

    started = time.monotonic()
    pool = eventlet.GreenPool()
    pool.spawn(holder)
    eventlet.sleep(0.05)
    pool.spawn(other_engine_writer)
    pool.waitall()
    assert time.monotonic() - started < 2.0
    with first.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    first.dispose()
    second.dispose()


def test_a_failed_begin_releases_the_lock_once_and_never_anothers(sqlite_url):
    """BEGIN IMMEDIATE failing (database locked by another process past the busy timeout) must leave
    the lock free for the next transaction, and must not release a lock another connection holds."""
    from loket import db

    engine = create_db_engine(sqlite_url)
    writer = db._sqlite_writer_lock(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))

    blocker = __import__("sqlite3").connect(engine.url.database, isolation_level=None, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another process's writer, as SQLite sees it
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("PRAGMA busy_timeout=50")  # no autobegin
        try:
            with connection.begin():
                raise AssertionError("BEGIN IMMEDIATE should have failed: the file is locked")
        except Exception as error:  # noqa: BLE001 - sqlite3.OperationalError wrapped by SQLAlchemy
            assert "locked" in str(error)
    assert not writer.locked()
    blocker.execute("ROLLBACK")
    blocker.close()

    with engine.begin() as connection:  # the lock is free: the next transaction proceeds
        connection.execute(text("INSERT INTO t VALUES (1)"))

    writer.acquire()  # someone else's transaction holds the lock ...
    try:
        with engine.connect() as connection:
            connection.rollback()  # ... a rollback on a connection that never began must not release it
        assert writer.locked()
    finally:
        writer.release()
    engine.dispose()
