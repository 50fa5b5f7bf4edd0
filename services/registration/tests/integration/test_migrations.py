"""The Alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL, fill what a
new column needs for the rows that exist, and go down again."""
from pathlib import Path

from sqlalchemy import create_engine, text

from loket.db import normalise_url
from loket.migrations import check_round_trip, upgrade

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def test_the_migrations_match_the_models_and_go_down_and_up(database_url):
    check_round_trip(ALEMBIC_INI, database_url)


def test_last_names_registered_before_search_get_their_search_keys(database_url):
    upgrade(ALEMBIC_INI, database_url, "0001")
    engine = create_engine(normalise_url(database_url))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO dossiers (id, version, registered_at, last_activity_at, registered_by_role,"
            " preferred_language, restricted, flagged) VALUES ('d-1', 1, :at, :at, 'parent', 'nl', false, false)"),
            {"at": "2025-03-10 09:30:00+00:00"})
        connection.execute(text(
            "INSERT INTO applicants (dossier_id, last_name, first_name, birth_date, gender, email, street,"
            " house_number, postal_code, municipality) VALUES ('d-1', 'Özdemir', 'Ayşe', '1990-01-02', 'f',"
            " 'a@example.org', 'Hoogstraat', '1', '1000', 'Brussel')"))
        connection.execute(text(
            "INSERT INTO partners (dossier_id, last_name, first_name, birth_date, gender)"
            " VALUES ('d-1', 'STRAẞER', 'Bart', '1988-06-30', 'm')"))
    upgrade(ALEMBIC_INI, database_url)
    with engine.connect() as connection:
        keys = [connection.execute(text(f"SELECT last_name_key FROM {table}")).scalar_one()
                for table in ("applicants", "partners")]
    engine.dispose()
    assert keys == ["ozdemir", "strasser"]
