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
