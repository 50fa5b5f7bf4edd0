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


def test_a_blocking_driver_would_not_overlap_which_is_why_we_use_pg8000(postgres_url):
    from loket.db import normalise_url
    assert normalise_url(postgres_url).startswith("postgresql+pg8000://")
