from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from gateway.models import Account

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)


def test_datetimes_come_back_aware_and_in_utc(db):
    brussels = timezone(timedelta(hours=2))
    db.add(Account(id="acc-1", email="a@example.org", password_hash="x", role="parent", facility_ids=["fac-1"],
                   created_at=NOW.astimezone(brussels)))
    db.commit()
    db.expunge_all()
    stored = db.get(Account, "acc-1")
    assert stored.created_at == NOW and stored.created_at.tzinfo == timezone.utc
    assert stored.facility_ids == ["fac-1"]


def test_a_naive_datetime_never_reaches_the_database(db):
    db.add(Account(id="acc-1", email="a@example.org", password_hash="x", role="parent", facility_ids=[],
                   created_at=datetime(2025, 6, 15, 12, 0)))
    with pytest.raises(StatementError):
        db.flush()
