"""What the entrypoints do, on the real tables (SQLite): projection, emails, reminders, erasure."""
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from loket.contracts import envelope as contract_envelope
from notification import operations, projection
from notification.emails import UndeliverableEmail
from notification.models import (
    DossierProjection, EmailLogEntry, ErasedDossier, RequestProjectionRow,
)
from notification.reminders import Reminder, RequestProjection, due_reminders

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}


def apply(db, site, event, now=NOW):
    with db.transaction() as session:
        return operations.apply_registration_event(session, event, site=site, now=now,
                                                   wall_now=now)


def logged(db, dossier_id="dos-0042"):
    with db.transaction() as session:
        return [(e.kind, e.status) for e in session.scalars(
            select(EmailLogEntry).where(EmailLogEntry.dossier_id == dossier_id)
            .order_by(EmailLogEntry.id))]


def projected(db, request_id="req-1"):
    with db.transaction() as session:
        return projection.request(session, request_id)


def event(envelope, event_type, snapshot, sequence, **data):
    built = envelope(event_type, snapshot, **data)
    built["sequence"] = sequence
    return built


def test_a_registration_projects_the_dossier_and_queues_its_email(db, site, snapshot, envelope):
    assert apply(db, site, event(envelope, "dossier_registered", snapshot, 1)) == 1
    assert logged(db) == [("dossier_registered", "queued")]
    assert projected(db) == RequestProjection(
        request_id="req-1", dossier_id="dos-0042", desired_start_date=date(2026, 9, 1),
        status="active", language="nl", recipient="sara.peeters@example.org", near_sent=False,
        passed_sent=False, applicant_first_name="Sara", child_first_name="Lina")


def test_an_older_event_sends_its_email_but_does_not_roll_the_projection_back(
        db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    later = {**snapshot, "preferred_language": "fr"}
    later["requests"] = [{**snapshot["requests"][0], "status": "cancelled"}]
    apply(db, site, event(envelope, "request_cancelled", later, 3, request_id="req-1",
                          cancelled_by=HELPDESK, reason=None))
    # The flag of sequence 2 was held up in a retry queue and arrives last.
    apply(db, site, event(envelope, "dossier_flagged", snapshot, 2, flag="mistake", message="m",
                          flagged_by=HELPDESK))
    assert projected(db).status == "cancelled" and projected(db).language == "fr"
    assert [kind for kind, _ in logged(db)] == [
        "dossier_registered", "request_cancelled_by_helpdesk", "dossier_flagged"]


def test_refreshing_the_projection_keeps_what_was_sent(db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    with db.transaction() as session:
        [due] = projection.due_reminders(session, datetime(2026, 8, 20, tzinfo=UTC), 4, 10)
        projection.mark_reminders_sent(session, [due])
    moved = {**snapshot, "requests": [{**snapshot["requests"][0],
                                       "desired_start_date": "2026-09-15"}]}
    apply(db, site, event(envelope, "dossier_updated", moved, 2, changed_by=HELPDESK,
                          changed_sections=["children"]))
    assert projected(db).desired_start_date == date(2026, 9, 15)
    assert projected(db).near_sent is True


def test_an_inconsistent_event_raises_and_changes_nothing(db, site, snapshot, envelope):
    with pytest.raises(UndeliverableEmail):
        apply(db, site, event(envelope, "request_cancelled", snapshot, 1, request_id="req-404",
                              cancelled_by=HELPDESK, reason=None))
    assert logged(db) == [] and projected(db) is None


def test_each_reminder_is_queued_once_as_time_goes_by(db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))  # starts 1 Sept 2026

    def scan(day):
        with db.transaction() as session:
            return operations.queue_due_reminders(
                session, site=site, now=datetime.combine(day, datetime.min.time(), UTC)
                + timedelta(hours=10), wall_now=NOW, weeks_before=4, limit=100)

    counts = {day: scan(day) for day in (date(2026, 8, 3), date(2026, 8, 4), date(2026, 8, 5),
                                         date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 30))}
    assert counts == {date(2026, 8, 3): 0, date(2026, 8, 4): 1, date(2026, 8, 5): 0,
                      date(2026, 9, 1): 0, date(2026, 9, 2): 1, date(2026, 9, 30): 0}
    assert [kind for kind, _ in logged(db)] == ["dossier_registered", "start_date_near",
                                                "start_date_passed"]


def test_a_restricted_dossier_still_gets_its_reminders(db, site, snapshot, envelope):
    snapshot["restricted"] = True
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    with db.transaction() as session:
        assert operations.queue_due_reminders(
            session, site=site, now=datetime(2026, 8, 20, tzinfo=UTC), wall_now=NOW,
            weeks_before=4, limit=10) == 1


def test_the_indexed_scan_finds_exactly_what_the_rule_finds(db):
    rng = random.Random(3)
    today = date(2026, 6, 1)
    dossiers, requests, expected_input = [], [], []
    for n in range(2000):
        row = {"request_id": f"req-{n}", "dossier_id": f"dos-{n}",
               "child_first_name": None, "desired_start_date": today + timedelta(rng.randint(-90, 200)),
               "status": rng.choice(["active", "active", "enrolled", "cancelled"]),
               "near_sent": rng.random() < 0.3, "passed_sent": rng.random() < 0.2}
        requests.append(row)
        dossiers.append({"dossier_id": f"dos-{n}", "sequence": 1, "recipient": f"p{n}@example.org",
                         "language": "fr", "applicant_first_name": "A", "restricted": False})
        expected_input.append(RequestProjection(
            row["request_id"], row["dossier_id"], row["desired_start_date"], row["status"], "fr",
            f"p{n}@example.org", row["near_sent"], row["passed_sent"], "A", None))
    with db.transaction() as session:
        session.execute(insert(DossierProjection), dossiers)
        session.execute(insert(RequestProjectionRow), requests)
        found = projection.due_reminders(session, NOW, 4, limit=10_000)
    assert {(d.projection, d.kind) for d in found} == \
        {(d.projection, d.kind) for d in due_reminders(expected_input, NOW, 4)}
    assert {d.kind for d in found} == set(Reminder)


def test_dossier_erased_erases_and_keeps_the_dossier_from_coming_back(db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    erased = envelope("dossier_erased", snapshot)
    erased.update(data={"dossier_id": "dos-0042"}, sequence=5)
    apply(db, site, erased)
    assert logged(db) == [] and projected(db) is None
    apply(db, site, event(envelope, "dossier_flagged", snapshot, 4, flag="mistake", message="m",
                          flagged_by=HELPDESK))
    assert logged(db) == [] and projected(db) is None


def apply_batch(db, site, events, now=NOW):
    with db.transaction() as session:
        return operations.apply_registration_events(session, events, site=site, now=now,
                                                    wall_now=now)


def test_a_batch_applies_its_events_in_order_as_one_by_one_would(db, site, snapshot, envelope):
    other = {**snapshot, "id": "dos-0043",
             "requests": [{**snapshot["requests"][0], "id": "req-2"}]}
    erased = envelope("dossier_erased", snapshot)
    erased.update(data={"dossier_id": "dos-0042"}, sequence=5)
    flag = dict(flag="mistake", message="m", flagged_by=HELPDESK)
    queued = apply_batch(db, site, [
        event(envelope, "dossier_registered", snapshot, 1),
        event(envelope, "dossier_registered", other, 1),
        erased,  # erases what the first event of this very batch logged and projected
        event(envelope, "dossier_flagged", snapshot, 4, **flag),  # late: must not bring it back
        event(envelope, "dossier_flagged", other, 2, **flag),
    ])
    assert queued == 3  # counted as queued, even the one the erasure then deleted
    assert logged(db, "dos-0042") == [] and projected(db) is None
    assert projected(db, "req-2").dossier_id == "dos-0043"
    assert logged(db, "dos-0043") == [("dossier_registered", "queued"),
                                      ("dossier_flagged", "queued")]
    # A later batch still knows the dossier is erased.
    assert apply_batch(db, site, [event(envelope, "dossier_flagged", snapshot, 6, **flag)]) == 0
    assert logged(db, "dos-0042") == []


def test_a_batch_names_the_event_whose_email_cannot_be_built(db, site, snapshot, envelope):
    bad = event(envelope, "request_cancelled", snapshot, 2, request_id="req-404",
                cancelled_by=HELPDESK, reason=None)
    with pytest.raises(operations.UndeliverableEvent) as raised:
        apply_batch(db, site, [event(envelope, "dossier_registered", snapshot, 1), bad])
    assert (raised.value.event_id, raised.value.reason) == \
        (bad["id"], "request req-404 not in dossier dos-0042")
    assert logged(db) == [] and projected(db) is None  # the transaction rolled back


def test_erasure_deletes_log_and_projection_and_counts_rows(any_db, site, snapshot, envelope):
    db = any_db
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    apply(db, site, event(envelope, "dossier_flagged", snapshot, 2, flag="mistake", message="m",
                          flagged_by=HELPDESK))
    with db.transaction() as session:
        assert operations.personal_data(session, "dos-0042")["projection"]["requests"][0][
            "request_id"] == "req-1"
        # 2 emails + 1 dossier + 1 request
        assert operations.erase_dossier(session, "dos-0042", NOW) == 4
        assert operations.erase_dossier(session, "dos-0042", NOW) == 0
        assert session.scalar(select(func.count()).select_from(ErasedDossier)) == 1
        assert operations.personal_data(session, "dos-0042") == {
            "dossier_id": "dos-0042", "projection": None, "emails": []}


def erased_at(db):
    with db.transaction() as session:
        return {row.dossier_id: row.erased_at for row in session.scalars(select(ErasedDossier))}


def test_a_batch_erases_each_dossier_as_one_by_one_would_and_nothing_else(
        any_db, site, snapshot, envelope):
    db = any_db
    for n in range(4):
        dossier = {**snapshot, "id": f"dos-{n}",
                   "requests": [{**snapshot["requests"][0], "id": f"req-{n}"}]}
        apply(db, site, event(envelope, "dossier_registered", dossier, 1))
        if n == 1:
            apply(db, site, event(envelope, "dossier_flagged", dossier, 2, flag="mistake",
                                  message="m", flagged_by=HELPDESK))

    with db.transaction() as session:
        erased = operations.erase_dossiers(
            session, ["dos-0", "dos-1", "dos-unknown", "dos-0", "dos-2"], NOW)
    # emails + dossier + request; an unknown dossier 0; one named twice counted once
    assert erased == {"dos-0": 3, "dos-1": 4, "dos-unknown": 0, "dos-2": 3}
    for n in range(3):
        assert logged(db, f"dos-{n}") == [] and projected(db, f"req-{n}") is None
    assert logged(db, "dos-3") == [("dossier_registered", "queued")]
    assert projected(db, "req-3").dossier_id == "dos-3"
    # Remembered, the unknown one too: its registration events must not bring it in later.
    assert erased_at(db) == dict.fromkeys(["dos-0", "dos-1", "dos-2", "dos-unknown"], NOW)
    apply(db, site, event(envelope, "dossier_registered", {**snapshot, "id": "dos-unknown"}, 1))
    assert logged(db, "dos-unknown") == []

    later = NOW + timedelta(days=1)
    with db.transaction() as session:  # erased again: nothing left to delete, first date kept
        assert operations.erase_dossiers(session, ["dos-1", "dos-3"], later) == {"dos-1": 0, "dos-3": 3}
        assert operations.erase_dossiers(session, [], later) == {}
    assert erased_at(db) == {**dict.fromkeys(["dos-0", "dos-1", "dos-2", "dos-unknown"], NOW),
                             "dos-3": later}
    assert logged(db, "dos-3") == [] and projected(db, "req-3") is None


def test_personal_data_holds_the_projection_and_every_email(db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    with db.transaction() as session:
        data = operations.personal_data(session, "dos-0042")
    assert data["projection"]["recipient"] == "sara.peeters@example.org"
    assert data["projection"]["requests"] == [{
        "request_id": "req-1", "child_first_name": "Lina", "desired_start_date": "2026-09-01",
        "status": "active", "start_date_near_sent": False, "start_date_passed_sent": False}]
    [registered] = data["emails"]
    assert (registered["kind"], registered["status"], registered["recipient"]) == \
        ("dossier_registered", "queued", "sara.peeters@example.org")


def offer_event(event_type="matching.offer_made", request_id="req-1", offer_id="off-1"):
    data = {"offer_id": offer_id, "place_id": "pla-1", "dossier_id": "dos-0042",
            "request_id": request_id, "facility_id": "fac-0007",
            "facility_name": "Kinderdagverblijf De Speelvogel", "start_date": "2026-10-01"}
    if event_type in ("matching.offer_made", "matching.offer_lapsed"):
        data["answer_deadline"] = "2026-06-11T21:59:00+00:00"
    if event_type == "matching.offer_made":
        data["rule_set_version"] = "kg-2013"
    return contract_envelope(event_type, data, aggregate_id="dos-0042", sequence=1,
                             producer="matching")


def apply_offer(db, site, event):
    with db.transaction() as session:
        return operations.apply_matching_event(session, event, site=site, now=NOW, wall_now=NOW)


def test_an_offer_and_its_lapse_each_send_one_email_to_the_projected_request(
        db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    restricted = {**snapshot, "restricted": True}  # the request's legal course goes on
    apply(db, site, event(envelope, "dossier_updated", restricted, 2,
                          changed_by={"role": "parent", "actor_id": "acc-1"},
                          changed_sections=["restriction"]))
    assert apply_offer(db, site, offer_event()) == 1
    assert apply_offer(db, site, offer_event()) == 0  # another event about the same offer
    assert apply_offer(db, site, offer_event("matching.offer_lapsed")) == 1
    with db.transaction() as session:
        emails = operations.personal_data(session, "dos-0042")["emails"]
    assert [(e["kind"], e["idempotency_key"]) for e in emails] == [
        ("dossier_registered", emails[0]["idempotency_key"]),
        ("offer_received", "off-1:offer_received"), ("offer_lapsed", "off-1:offer_lapsed")]
    assert emails[1]["content"]["start_date"] == "2026-10-01"
    assert emails[1]["content"]["child_first_name"] == "Lina"


@pytest.mark.parametrize("event_type", ["matching.offer_accepted", "matching.offer_declined"])
def test_the_parents_own_answers_send_nothing(db, site, snapshot, envelope, event_type):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    assert apply_offer(db, site, offer_event(event_type)) == 0


def test_an_offer_before_its_request_is_projected_is_retried(db, site):
    with pytest.raises(operations.RequestNotProjected):
        apply_offer(db, site, offer_event())


def test_an_offer_for_an_erased_dossier_sends_nothing(db, site, snapshot, envelope):
    apply(db, site, event(envelope, "dossier_registered", snapshot, 1))
    with db.transaction() as session:
        operations.erase_dossier(session, "dos-0042", NOW)
    assert apply_offer(db, site, offer_event()) == 0
