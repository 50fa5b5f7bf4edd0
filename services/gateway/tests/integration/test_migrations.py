"""The gateway's Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL."""
from loket.migrations import check_round_trip

from .conftest import GATEWAY_INI


def test_the_migrations_match_the_models_down_and_up_again(database_url):
    check_round_trip(GATEWAY_INI, database_url)
