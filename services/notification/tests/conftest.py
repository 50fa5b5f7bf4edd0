import copy
import uuid

import pytest

from notification.emails import Site
from notification.samples import sample_snapshot


@pytest.fixture
def site():
    return Site(
        portal_url="https://loket.test/login",
        confirm_email_url="https://loket.test/confirm-email",
        helpdesk_email="helpdesk@loket.test",
        confirmation_secret=b"test secret",
    )


@pytest.fixture
def snapshot():
    """A fresh, freely mutable dossier snapshot per test (language nl)."""
    return copy.deepcopy(sample_snapshot("nl"))


@pytest.fixture
def envelope():
    """envelope(event_type, dossier, **data) -> a registration event envelope (events.md)."""
    def make(event_type, dossier, **data):
        return {
            "id": str(uuid.uuid4()), "type": f"registration.{event_type}", "version": 1,
            "occurred_at": "2026-06-15T12:30:00+00:00", "correlation_id": "corr-1",
            "producer": "registration", "aggregate_id": dossier["id"], "sequence": 3,
            "data": {"dossier": dossier, **data},
        }
    return make


@pytest.fixture
def db(tmp_path):
    """The service's tables on a SQLite file, as loket.db configures it: a DatabaseAccess."""
    yield from _database(f"sqlite:///{tmp_path / 'notification.sqlite'}")


@pytest.fixture
def any_db(database_url):
    """`db`, once on SQLite and once on PostgreSQL (loket.testing's `database_url`)."""
    yield from _database(database_url)


def _database(url):
    from sqlalchemy.orm import Session, sessionmaker

    from loket.db import DatabaseAccess, create_db_engine
    from loket.tables import platform_metadata
    from notification.models import metadata

    engine = create_db_engine(url)
    metadata.create_all(engine)
    platform_metadata.create_all(engine)
    yield DatabaseAccess(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))
    engine.dispose()
