"""Finding the dossiers due for erasure among 1,000,000 retention clocks (target: under 5 s).

    .venv/bin/python bench/retention_due.py [--rows 1000000] [--repeat 5] [--no-postgres]

Loads the same rows into SQLite (a temporary file, the service's engine settings) and into
PostgreSQL (a schema created for the run and dropped afterwards), indexed on
(has_active_request, last_activity_at). Then it times the service's query,

    SELECT dossier_id FROM retention_clock
    WHERE has_active_request = false AND erased = false AND last_activity_at <= :cutoff

with the cutoff from `retention.clocks.erasure_cutoff(now)`, against a full scan of the same table
that is kept off the index (baseline), for two instants:
- backlog: last activity spread over 8 years, so about 3/8 of the dossiers without an active
  request are due at once (the first run after deployment);
- nightly: the cutoff one day past the oldest activity, so only one day of dossiers is due (the
  steady state of a daily job, which erased everything older the nights before).
Each query is run --repeat times, fetching every id; min and median are reported.
"""
import argparse
import io
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, bindparam,
                        insert, text)

from loket.db import create_db_engine
from retention.clocks import erasure_cutoff, retention_ends_at

PG_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc)
SPAN = timedelta(days=8 * 365)
ACTIVE_SHARE = 0.2
DUE = ("SELECT dossier_id FROM {table} WHERE has_active_request = false AND erased = false "
       "AND last_activity_at <= :cutoff")


def clock_table(metadata):
    table = Table(
        "retention_clock", metadata,
        Column("dossier_id", String(64), primary_key=True),
        Column("last_activity_at", DateTime(timezone=True), nullable=False),
        Column("has_active_request", Boolean, nullable=False),
        Column("erased", Boolean, nullable=False),
        Column("sequence", Integer, nullable=False),
    )
    Index("ix_retention_clock_due", table.c.has_active_request, table.c.last_activity_at)
    return table


def make_rows(count, seed=20260601):
    generator = random.Random(seed)
    oldest = NOW - SPAN
    span_seconds = int(SPAN.total_seconds())
    for number in range(count):
        yield {
            "dossier_id": f"dos-{number:07d}",
            "last_activity_at": oldest + timedelta(seconds=generator.randrange(span_seconds)),
            "has_active_request": generator.random() < ACTIVE_SHARE,
            "erased": False,
            "sequence": generator.randrange(1, 40),
        }


def query(sql):
    # Bound through the column type, so SQLite compares the cutoff in the format it stores.
    return text(sql).bindparams(bindparam("cutoff", type_=DateTime(timezone=True)))


def timed(connection, sql, cutoff, repeat, setup=()):
    durations, found = [], 0
    for _ in range(repeat):
        with connection.begin():
            for statement in setup:
                connection.execute(text(statement))
            started = time.perf_counter()
            found = len(connection.execute(query(sql), {"cutoff": cutoff}).fetchall())
            durations.append(time.perf_counter() - started)
    return found, min(durations), statistics.median(durations)


def plan(connection, explain, sql, cutoff, setup=()):
    with connection.begin():
        for statement in setup:
            connection.execute(text(statement))
        rows = connection.execute(query(f"{explain} {sql}"), {"cutoff": cutoff}).fetchall()
    return " / ".join(str(row[-1]) for row in rows)


def load_sqlite(path, rows):
    engine = create_db_engine(f"sqlite:///{path}")
    table = clock_table(MetaData())
    table.metadata.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000:
                connection.execute(insert(table), batch)
                batch = []
        if batch:
            connection.execute(insert(table), batch)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    return engine, time.perf_counter() - started


def load_postgres(url, schema, rows):
    engine = create_db_engine(url)
    table = clock_table(MetaData(schema=schema))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    table.metadata.create_all(engine)
    buffer = io.StringIO()
    for row in rows:
        buffer.write(f"{row['dossier_id']},{row['last_activity_at'].isoformat()},"
                     f"{str(row['has_active_request']).lower()},false,{row['sequence']}\n")
    buffer.seek(0)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f'COPY "{schema}".retention_clock (dossier_id, last_activity_at, has_active_request, '
                       "erased, sequence) FROM STDIN WITH (FORMAT csv)", stream=buffer)
        cursor.execute(f'ANALYZE "{schema}".retention_clock')
        raw.commit()
    finally:
        raw.close()
    return engine, time.perf_counter() - started


def measure(name, engine, table_name, explain, baseline_setup, baseline_table, repeat, report):
    nightly_now = retention_ends_at(NOW - SPAN + timedelta(days=1))  # one day of activity has come due
    for label, now in (("backlog", NOW), ("nightly", nightly_now)):
        cutoff = erasure_cutoff(now)
        row = f"| {name} | {label} | {cutoff:%Y-%m-%d %H:%M} |"
        with engine.connect() as connection:
            indexed_sql = DUE.format(table=table_name)
            scan_sql = DUE.format(table=baseline_table)
            found, best, median = timed(connection, indexed_sql, cutoff, repeat)
            found_scan, best_scan, median_scan = timed(connection, scan_sql, cutoff, repeat, baseline_setup)
            assert found == found_scan, "the index and the scan disagree"
            report.append(f"{row} {found:,} | with the index | "
                          f"{best:.3f} | {median:.3f} | {plan(connection, explain, indexed_sql, cutoff)} |")
            report.append(f"{row} {found_scan:,} | full scan, index off (baseline) | "
                          f"{best_scan:.3f} | {median_scan:.3f} | "
                          f"{plan(connection, explain, scan_sql, cutoff, baseline_setup)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()

    report = ["| database | run | cutoff | due dossiers | query | min s | median s | plan chosen |",
              "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as directory:
        engine, load_seconds = load_sqlite(Path(directory) / "retention.sqlite", make_rows(args.rows))
        print(f"SQLite: {args.rows:,} rows loaded and indexed in {load_seconds:.1f} s")
        measure("SQLite", engine, "retention_clock", "EXPLAIN QUERY PLAN", (),
                "retention_clock NOT INDEXED", args.repeat, report)
        engine.dispose()

    if not args.no_postgres:
        schema = f"bench_retention_{uuid.uuid4().hex[:8]}"
        engine, load_seconds = load_postgres(args.pg_url, schema, make_rows(args.rows))
        try:
            print(f"PostgreSQL: {args.rows:,} rows copied and analysed in {load_seconds:.1f} s (schema {schema})")
            no_index = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_indexonlyscan = off",
                        "SET LOCAL enable_bitmapscan = off")
            measure("PostgreSQL", engine, f'"{schema}".retention_clock', "EXPLAIN", no_index,
                    f'"{schema}".retention_clock', args.repeat, report)
        finally:
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    print("\n".join(report))


if __name__ == "__main__":
    main()
