"""The gateway's Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL."""
from gateway.service import GatewayService
from loket.migrations import check_round_trip
from loket.testing import alembic_ini


def test_the_migrations_match_the_models_down_and_up_again(database_url):
    check_round_trip(alembic_ini(GatewayService), database_url)
