"""The Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL."""
from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def test_migrations_match_the_models_and_go_down_and_up_again(database_url):
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = database_url

    command.upgrade(config, "head")
    command.check(config)  # raises when the models and the migrated schema differ
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)
