"""The replay for matching's rebuild, on the service's migrated tables (SQLite and PostgreSQL) with the real outbox
recorder: one contract-valid event per dossier, carrying its current snapshot at its current version,
in batches; the dossiers themselves stay as they were."""
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from loket import contracts
from loket.contracts.registration_replay import DOSSIER_SNAPSHOT
from loket.db import DatabaseAccess, create_db_engine
from loket.migrations import upgrade
from loket.outbox import EventRecorder
from loket.tables import outbox
from registration import dossiers, replay, schemas
from registration.models import AuditEntry, Dossier

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
HELPDESK = {"role": "helpdesk", "actor_id": "staff-7"}


@pytest.fixture
def migrated_url(database_url):
    """loket.testing's database_url (SQLite, then PostgreSQL), migrated."""
    upgrade(ALEMBIC_INI, database_url)
    return database_url


@pytest.fixture
def db(migrated_url):
    engine = create_db_engine(migrated_url)
    yield DatabaseAccess(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))
    engine.dispose()


@pytest.fixture
def recorder():
    return EventRecorder("registration")


def recorded(db, event_type=None) -> list[dict]:
    """The outbox's events in order, of one type if given."""
    with db.transaction() as session:
        bodies = [json.loads(body) for body in session.scalars(select(outbox.c.body).order_by(outbox.c.id))]
    return [body for body in bodies if event_type in (None, body["type"])]


@pytest.fixture
def dossier_ids(db, recorder, payload, now, today, keyring):
    """Five registered dossiers; the second flagged and restricted (version 3), the last erased."""
    ids = []
    with db.transaction() as session:
        for n in range(5):
            data = schemas.validate(schemas.RegisterDossierInput, payload(), today)
            ids.append(dossiers.register_dossier(session, now, data, {"role": "parent", "actor_id": f"a-{n}"},
                                                 recorder, keyring)["dossier"]["id"])
    with db.transaction() as session:
        flag = schemas.validate(schemas.FlagDossierInput, {"flag": "mistake", "message": "Typo"}, today)
        dossiers.flag_dossier(session, now, ids[1], flag, HELPDESK, recorder)
        dossiers.set_restriction(session, now, ids[1], {"restricted": True}, HELPDESK, recorder)
        dossiers.erase_dossier(session, now, ids[4], HELPDESK, recorder)
    return ids[:4]


def state(db):
    with db.transaction() as session:
        return ([(d.id, d.version, d.last_activity_at) for d in session.scalars(select(Dossier).order_by(Dossier.id))],
                session.scalars(select(AuditEntry.id)).all())


def test_every_dossier_is_replayed_once_with_its_current_snapshot_and_version(db, recorder, dossier_ids, caplog):
    last_events = {}
    for body in recorded(db):
        last_events[body["aggregate_id"]] = body
    before = state(db)

    with caplog.at_level(logging.INFO):
        assert replay.replay_snapshots(db, recorder, batch=3) == 4

    replayed = recorded(db, DOSSIER_SNAPSHOT)
    assert [body["aggregate_id"] for body in replayed] == sorted(dossier_ids)  # the erased one is gone
    for body in replayed:
        assert contracts.parse(json.loads(json.dumps(body))) == body
        last = last_events[body["aggregate_id"]]
        # the sequence and snapshot of the dossier's last registration event: matching has it already
        assert (body["sequence"], body["data"]) == (last["sequence"], {"dossier": last["data"]["dossier"]})
        assert body["producer"] == "registration" and set(body["data"]) == {"dossier"}
    restricted = next(body for body in replayed if body["aggregate_id"] == dossier_ids[1])
    assert restricted["sequence"] == 3 and restricted["data"]["dossier"]["restricted"]
    assert state(db) == before  # no version, no activity, no audit entry
    logged = caplog.text
    assert "replay: 3 dossiers" in logged and "replay: 4 dossiers" in logged
    assert not any(word in logged for word in ("Peeters", "Janssens", "example.org", *dossier_ids))


@pytest.mark.parametrize("batch", [1, 2, 4, 500])
def test_the_batches_cover_every_dossier_once_whatever_their_size(db, recorder, dossier_ids, batch):
    transactions = []
    real = db.transaction

    def counted():
        transactions.append(1)
        return real()

    db.transaction = counted
    assert replay.replay_snapshots(db, recorder, batch=batch) == 4
    db.transaction = real
    assert sorted(body["aggregate_id"] for body in recorded(db, DOSSIER_SNAPSHOT)) == sorted(dossier_ids)
    assert len(transactions) == 4 // batch + 1  # a batch per transaction, the last one short (or empty)


def test_an_empty_database_replays_nothing(db, recorder):
    assert replay.replay_snapshots(db, recorder) == 0 and recorded(db) == []


def test_the_command_replays_from_a_url_or_the_services_config(db, migrated_url, dossier_ids, tmp_path, capsys,
                                                                monkeypatch):
    assert replay.main([migrated_url]) == 0
    assert "4 dossier snapshots" in capsys.readouterr().out
    config = tmp_path / "config.yaml"
    config.write_text("DATABASE_URL: ${REPLAY_TEST_DATABASE_URL:sqlite:///nowhere.sqlite}\n")
    monkeypatch.setenv("REPLAY_TEST_DATABASE_URL", migrated_url)
    assert replay.main(["--config", str(config), "--batch", "2"]) == 0
    events = recorded(db, DOSSIER_SNAPSHOT)
    assert len(events) == 8 and len({body["correlation_id"] for body in events}) == 2  # one per run
    with pytest.raises(SystemExit):
        replay.main([])
