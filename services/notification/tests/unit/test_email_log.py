"""The email log as a queue: once per key, claim, settle, park, replay, erase, purge."""
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loket.errors import Conflict, NotFound
from notification import email_log
from notification.confirmation import confirmation_code_matches
from notification.delivery import Failure
from notification.emails import Kind
from notification.models import EmailLogEntry
from notification.samples import sample_email

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # the service clock
WALL = datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC)  # the wall clock of delivery


def email(kind=Kind.DOSSIER_FLAGGED, key=None, dossier_id="dos-0042", recipient=None):
    sample = sample_email(kind, "nl")
    return replace(sample, idempotency_key=key or sample.idempotency_key, dossier_id=dossier_id,
                   recipient=recipient or sample.recipient)


def queue(db, item, now=NOW, wall=WALL):
    with db.transaction() as session:
        statuses = email_log.queue(session, [item], event_id="evt-1", now=now, wall_now=wall)
    return statuses[0] if statuses else None


def row(db, key):
    with db.transaction() as session:
        return session.scalar(select(EmailLogEntry).where(EmailLogEntry.idempotency_key == key))


def claim(db, wall=WALL, lease=60, limit=10):
    with db.transaction() as session:
        return email_log.claim_due(session, wall, lease, limit)


def test_an_email_is_logged_once_per_idempotency_key(db):
    first = email(key="evt-1:dossier_flagged")
    assert queue(db, first) == "queued"
    assert queue(db, first) is None
    assert queue(db, replace(first, context={"other": "context"})) is None
    stored = row(db, "evt-1:dossier_flagged")
    assert (stored.kind, stored.language, stored.recipient, stored.event_id, stored.attempts) == \
        ("dossier_flagged", "nl", "sara.peeters@example.org", "evt-1", 0)
    assert stored.created_at == NOW and stored.next_attempt_at == WALL
    assert stored.context == dict(first.context)


def test_an_undeliverable_address_is_parked_at_once_with_a_reason_and_no_address(db):
    assert queue(db, email(key="k", recipient="sara@localhost")) == "parked"
    assert row(db, "k").last_error == "UndeliverableEmail: recipient address invalid"
    assert row(db, "k").recipient == "sara@localhost"  # as given, for the export
    assert claim(db) == []


def test_many_emails_are_logged_in_one_go_each_once(db):
    emails = [email(key=f"k{n}") for n in range(1200)] + [email(key="bad", recipient="x@y")]
    with db.transaction() as session:
        statuses = email_log.queue(session, emails, event_id=None, now=NOW, wall_now=WALL)
        assert sorted(statuses) == ["parked"] + ["queued"] * 1200
        again = email_log.queue(session, [email(key="k7"), email(key="new")], event_id=None,
                                now=NOW, wall_now=WALL)
    assert again == ["queued"]
    assert row(db, "new").status == "queued" and row(db, "bad").status == "parked"


def test_claiming_takes_due_emails_once_until_their_lease_runs_out(db):
    queue(db, email(key="due-1"))
    queue(db, email(key="due-2"))
    queue(db, email(key="later"), wall=WALL + timedelta(minutes=5))

    claimed = claim(db, lease=60)
    assert [(c.email.idempotency_key, c.attempts) for c in claimed] == [("due-1", 1), ("due-2", 1)]
    assert claimed[0].email == email(key="due-1")  # everything rendering needs
    assert claim(db, wall=WALL + timedelta(seconds=59)) == []
    # A sender that crashed mid-conversation: its emails come back after the lease.
    again = claim(db, wall=WALL + timedelta(seconds=61), lease=3600)
    assert [(c.email.idempotency_key, c.attempts) for c in again] == [("due-1", 2), ("due-2", 2)]
    assert [c.email.idempotency_key for c in claim(db, wall=WALL + timedelta(minutes=10))] == \
        ["later"]


def test_claiming_respects_the_batch_limit_oldest_first(db):
    for n in range(5):
        queue(db, email(key=f"k{n}"), wall=WALL - timedelta(seconds=n))
    assert [c.email.idempotency_key for c in claim(db, limit=2)] == ["k4", "k3"]


def test_a_sent_email_keeps_who_what_when_but_not_its_content(db):
    queue(db, email(key="k"))
    [claimed] = claim(db)
    with db.transaction() as session:
        email_log.mark_sent(session, claimed.id, "<abc@loket.test>", NOW + timedelta(hours=1))
    stored = row(db, "k")
    assert (stored.status, stored.context, stored.next_attempt_at) == ("sent", None, None)
    assert stored.message_id == "<abc@loket.test>"
    assert stored.sent_at == NOW + timedelta(hours=1)
    assert claim(db, wall=WALL + timedelta(days=1)) == []


def test_a_failure_reschedules_or_parks(db):
    queue(db, email(key="k"))
    [claimed] = claim(db)
    with db.transaction() as session:
        status = email_log.mark_failed(session, claimed.id, Failure(30.0, "TransientMailError: x"),
                                       WALL, "<m@loket.test>")
    assert status == "queued"
    stored = row(db, "k")
    assert stored.next_attempt_at == WALL + timedelta(seconds=30)
    assert stored.last_error == "TransientMailError: x"
    [claimed] = claim(db, wall=WALL + timedelta(seconds=30))
    with db.transaction() as session:
        email_log.mark_failed(session, claimed.id, Failure(None, "PermanentMailError: y"), WALL,
                              "<m@loket.test>")
    stored = row(db, "k")
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("parked", 2, None)
    assert stored.context is not None  # kept for the replay


def test_parked_emails_are_listed_without_address_or_content(db):
    queue(db, email(key="good"))
    queue(db, email(key="bad", recipient="nope"))
    with db.transaction() as session:
        [listed] = email_log.parked(session)
    assert listed["idempotency_key"] == "bad"
    assert listed["last_error"] == "UndeliverableEmail: recipient address invalid"
    assert "nope" not in str(listed) and "Sara" not in str(listed)


def replay(db, key, current=None, site=None, wall=WALL):
    from notification.samples import SAMPLE_SITE
    with db.transaction() as session:
        return email_log.replay(session, key, current_recipient=lambda _dossier: current,
                                site=site or SAMPLE_SITE, wall_now=wall)


def test_replay_requeues_a_parked_email_with_a_fresh_budget(db):
    queue(db, email(key="k"))
    [claimed] = claim(db)
    with db.transaction() as session:
        email_log.mark_failed(session, claimed.id, Failure(None, "PermanentMailError: 550"), WALL,
                              None)
    replayed = replay(db, "k", wall=WALL + timedelta(hours=1))
    assert (replayed["status"], replayed["attempts"]) == ("queued", 0)
    [again] = claim(db, wall=WALL + timedelta(hours=1))
    assert again.email == email(key="k")


def test_replay_sends_to_the_corrected_address_with_a_new_confirmation_code(db):
    from notification.samples import SAMPLE_SITE
    registered = email(Kind.DOSSIER_REGISTERED, key="k", recipient="sara@typo")
    queue(db, registered)
    with pytest.raises(Conflict):
        replay(db, "k", current=None)  # nothing corrected yet: it stays parked
    assert row(db, "k").status == "parked"
    replay(db, "k", current="sara@example.org")
    stored = row(db, "k")
    assert (stored.status, stored.recipient) == ("queued", "sara@example.org")
    assert confirmation_code_matches(SAMPLE_SITE.confirmation_secret, "dos-0042",
                                     "sara@example.org", stored.context["confirmation_code"])


def test_only_a_parked_email_can_be_replayed(db):
    with pytest.raises(NotFound):
        replay(db, "missing")
    queue(db, email(key="k"))
    with pytest.raises(Conflict):
        replay(db, "k")


def test_erasure_and_export_are_per_dossier(db):
    queue(db, email(key="a", dossier_id="dos-1"))
    queue(db, email(key="b", dossier_id="dos-1"))
    queue(db, email(key="c", dossier_id="dos-2"))
    with db.transaction() as session:
        exported = email_log.for_dossier(session, "dos-1")
        assert [e["idempotency_key"] for e in exported] == ["a", "b"]
        assert exported[0]["recipient"] == "sara.peeters@example.org"
        assert exported[0]["content"]["first_name"] == "Sara"
        assert email_log.erase(session, "dos-1") == 2
        assert email_log.for_dossier(session, "dos-1") == []
        assert len(email_log.for_dossier(session, "dos-2")) == 1


def test_entries_are_kept_exactly_five_years(db):
    queue(db, email(key="old"), now=datetime(2021, 6, 1, 9, 59, tzinfo=UTC))
    queue(db, email(key="young"), now=datetime(2021, 6, 1, 10, 0, tzinfo=UTC))
    with db.transaction() as session:
        assert email_log.purge_expired(session, NOW) == 1
    assert row(db, "old") is None and row(db, "young") is not None


def test_the_retention_cutoff_of_29_february_is_1_march():
    assert email_log.retention_cutoff(datetime(2028, 2, 29, 8, 0, tzinfo=UTC)) == \
        datetime(2023, 3, 1, 8, 0, tzinfo=UTC)
