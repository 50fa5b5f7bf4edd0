"""The Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL."""
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from loket.db import normalise_url
from loket.migrations import upgrade
from loket.tables import platform_metadata
from notification.models import metadata

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def differences(url):
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            return [diff for target in (metadata, platform_metadata)
                    for diff in compare_metadata(context, target)
                    # each comparison sees the other metadata's tables as extra
                    if not (diff[0] == "remove_table" and diff[1].name in
                            {*metadata.tables, *platform_metadata.tables})
                    and not (diff[0] == "remove_index" and diff[1].table.name in
                             {*metadata.tables, *platform_metadata.tables} - set(target.tables))]
    finally:
        engine.dispose()


def test_migrations_match_the_models_and_go_down_and_up_again(database_url):
    upgrade(ALEMBIC_INI, database_url)
    assert differences(database_url) == []

    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = database_url
    command.downgrade(config, "base")
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as connection:
        left = connection.execute(text(
            "SELECT count(*) FROM alembic_version")).scalar()
    engine.dispose()
    assert left == 0
    upgrade(ALEMBIC_INI, database_url)
    assert differences(database_url) == []
