"""The Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL, go down again, and keep
the rows that exist counting."""
from datetime import date
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from loket.db import normalise_url
from loket.migrations import upgrade
from loket.tables import platform_metadata
from matching import occupancy
from matching.models import metadata

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
TABLES = {*metadata.tables, *platform_metadata.tables}


def differences(url):
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            # Compared with both metadata at once, no table counts as extra.
            return [diff for diff in compare_metadata(context, [metadata, platform_metadata])]
    finally:
        engine.dispose()


def test_the_migration_matches_the_models_and_goes_down_and_up(database_url):
    upgrade(ALEMBIC_INI, database_url)
    assert differences(database_url) == []
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, revision FROM read_model_revision")).all() == [(1, 0)]

    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = database_url
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) & TABLES == set()
    engine.dispose()
    upgrade(ALEMBIC_INI, database_url)
    assert differences(database_url) == []


def test_children_enrolled_before_departures_existed_still_count(database_url):
    upgrade(ALEMBIC_INI, database_url, "0001")
    engine = create_engine(normalise_url(database_url))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO enrollments (request_id, dossier_id, facility_id, enrolled_at, counts_dutch_priority,"
            " counts_vulnerable, counts_other_families) VALUES ('r-1', 'd-1', 'fac-0001', :at, true, false, false)"),
            {"at": "2025-03-10 09:30:00+00:00"})
    upgrade(ALEMBIC_INI, database_url)
    with Session(engine) as session:
        current = occupancy.current(session, "fac-0001", date(2026, 3, 2))
    engine.dispose()
    assert (current.enrolled, current.enrolled_dutch_priority) == (1, 1)
