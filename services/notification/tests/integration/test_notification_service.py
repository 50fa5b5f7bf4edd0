"""The notification service in a real nameko container, on the real broker, sending to a real
SMTP server (aiosmtpd); with the real registration service where its events matter."""
import copy
import json
import time
from datetime import datetime, timezone

import requests
from kombu import Connection
from sqlalchemy import create_engine, func, select

from loket import parking
from loket.contracts import envelope, parse
from loket.db import normalise_url
from loket.tables import inbox, outbox
from loket.testing import drain_queue, erasure_batch_requested, erasure_requested, publish_raw, wait_for
from notification.confirmation import confirmation_code
from notification.models import DossierProjection, EmailLogEntry, ErasedDossier, RequestProjectionRow
from notification.samples import sample_snapshot
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-1"}
HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}
SARA = "sara.peeters@example.org"
REGISTRATION_EVENTS = "notification.registration_events"


def registration_event(event_type, snapshot, sequence, **data):
    """A registration event checked against registration's contract."""
    return envelope(f"registration.{event_type}", {"dossier": snapshot, **data},
                    aggregate_id=snapshot["id"], sequence=sequence, producer="registration")


def flagged(snapshot, sequence, message="Vul je adres aan."):
    return registration_event("dossier_flagged", snapshot, sequence, flag="incomplete",
                              message=message, flagged_by=HELPDESK)


def publish(amqp_uri, event):
    publish_raw(amqp_uri, event["type"], event)


def settled(mailbox, expected, timeout=10.0):
    """Wait for `expected` messages, then a little longer: a duplicate would show up by then."""
    assert wait_for(lambda: len(mailbox.messages) >= expected, timeout=timeout), \
        f"{len(mailbox.messages)} of {expected} emails arrived"
    time.sleep(0.6)  # several sender rounds and retry delays
    assert len(mailbox.messages) == expected
    return mailbox.messages


def handled(database_url, event_id):
    """The service has taken this event (its inbox row is committed with its effect)."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(select(inbox.c.event_id)
                                      .where(inbox.c.event_id == event_id)).first() is not None
    finally:
        engine.dispose()


def kinds_by_message_id(rpc, dossier_id):
    return {entry["message_id"]: entry["kind"] for entry in rpc.personal_data(dossier_id)["emails"]}


def test_a_registration_sends_one_confirmation_email_in_the_parents_language(
        start_registration, start_notification, notification_rpc, notification_config, smtp,
        clock):
    start_notification()
    with start_registration() as registration:
        payload = sample_registration(clock.now().date(), 1)  # n = 1: French
        dossier_id = registration.register_dossier(payload, PARENT)["dossier"]["id"]

    [message] = settled(smtp.mailbox, 1)
    assert message["To"] == "ouder1@example.org"
    assert message["Content-Language"] == "fr"
    assert message["Subject"] == \
        "Votre demande d'accueil est enregistrée : confirmez votre adresse e-mail"
    secret = notification_config["CONFIRMATION_SECRET"].encode()
    code = confirmation_code(secret, dossier_id, "ouder1@example.org")
    assert code in message.get_body(("plain",)).get_content()
    [logged] = notification_rpc.personal_data(dossier_id)["emails"]
    assert (logged["kind"], logged["status"], logged["message_id"]) == \
        ("dossier_registered", "sent", message["Message-ID"])


def test_helpdesk_changes_and_cancellation_reach_the_parent(
        start_registration, start_notification, notification_rpc, smtp, clock):
    start_notification()
    with start_registration() as registration:
        registered = registration.register_dossier(sample_registration(clock.now().date(), 3),
                                                   PARENT)["dossier"]  # n = 3: Dutch
        dossier_id, request_id = registered["id"], registered["requests"][0]["id"]
        registration.change_facilities(dossier_id, {"request_id": request_id,
                                                    "facility_ids": ["fac-0003"]}, HELPDESK)
        registration.cancel_request(dossier_id, {"request_id": request_id,
                                                 "reason": "Dubbele aanvraag, zie dossier 12."},
                                    HELPDESK)

    messages = settled(smtp.mailbox, 3)
    kinds = kinds_by_message_id(notification_rpc, dossier_id)
    by_kind = {kinds[m["Message-ID"]]: m for m in messages}
    assert set(by_kind) == {"dossier_registered", "dossier_changed_by_helpdesk",
                            "request_cancelled_by_helpdesk"}
    changed = by_kind["dossier_changed_by_helpdesk"].get_body(("plain",)).get_content()
    assert "de opvanglocaties die je koos voor je opvangvraag" in changed
    cancelled = by_kind["request_cancelled_by_helpdesk"].get_body(("plain",)).get_content()
    assert "Dubbele aanvraag, zie dossier 12." in cancelled
    assert all(m["Content-Language"] == "nl" for m in messages)


def test_a_redelivered_event_sends_one_email(start_notification, amqp_uri, smtp):
    start_notification()
    event = flagged(sample_snapshot("en"), 1)
    publish(amqp_uri, event)
    publish(amqp_uri, copy.deepcopy(event))
    [message] = settled(smtp.mailbox, 1)
    assert message["To"] == SARA


def test_emails_queued_while_the_mail_server_is_down_arrive_once_it_is_back(
        start_notification, notification_rpc, amqp_uri, smtp, mail_server):
    start_notification()
    port = mail_server.port
    smtp.stop(mail_server)
    snapshot = sample_snapshot("nl")
    for sequence in range(1, 6):
        publish(amqp_uri, flagged(snapshot, sequence, message=f"Bericht {sequence}"))

    def retried():
        emails = notification_rpc.personal_data(snapshot["id"])["emails"]
        return len(emails) == 5 and all(e["attempts"] >= 2 for e in emails)
    assert wait_for(retried, timeout=10)
    assert all(e["status"] == "queued" and e["last_error"].startswith("TransientMailError")
               for e in notification_rpc.personal_data(snapshot["id"])["emails"])

    smtp.start(port=port)
    messages = settled(smtp.mailbox, 5)
    assert len({m["Message-ID"] for m in messages}) == 5
    bodies = {m.get_body(("plain",)).get_content() for m in messages}
    assert all(any(f"Bericht {n}" in body for body in bodies) for n in range(1, 6))
    assert {e["status"] for e in notification_rpc.personal_data(snapshot["id"])["emails"]} == \
        {"sent"}


def parked_gauge(config):
    metrics = requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/metrics", timeout=5).text
    return next(line for line in metrics.splitlines()
                if line.startswith('loket_notification_emails{status="parked"}'))


def test_a_refused_recipient_is_parked_listed_and_replayed_after_the_fix(
        start_notification, notification_rpc, notification_config, amqp_uri, smtp):
    start_notification()
    smtp.mailbox.rcpt_replies[SARA] = "550 5.1.1 <sara.peeters@example.org>: no such user"
    event = flagged(sample_snapshot("fr"), 1)
    publish(amqp_uri, event)
    assert wait_for(lambda: notification_rpc.parked_emails(), timeout=10)
    [parked] = notification_rpc.parked_emails()
    assert parked["idempotency_key"] == f"{event['id']}:dossier_flagged"
    assert (parked["attempts"], parked["last_error"]) == \
        (1, "PermanentMailError: recipient refused (SMTP 550)")
    assert smtp.mailbox.messages == []
    assert parked_gauge(notification_config).endswith(" 1")

    del smtp.mailbox.rcpt_replies[SARA]  # the mailbox exists again
    assert notification_rpc.replay_email(parked["idempotency_key"])["status"] == "queued"
    [message] = settled(smtp.mailbox, 1)
    assert message["To"] == SARA and message["Content-Language"] == "fr"
    assert notification_rpc.parked_emails() == []
    assert parked_gauge(notification_config).endswith(" 0")


def test_an_invalid_address_is_parked_and_replayed_to_the_corrected_one(
        start_notification, notification_rpc, notification_config, amqp_uri, smtp):
    start_notification()
    snapshot = sample_snapshot("en")
    snapshot["applicant"]["email"] = "sara@localhost"  # valid for the contract, not for mail
    publish(amqp_uri, registration_event("dossier_registered", snapshot, 1))
    assert wait_for(lambda: notification_rpc.parked_emails(), timeout=10)
    [parked] = notification_rpc.parked_emails()
    assert parked["last_error"] == "UndeliverableEmail: recipient address invalid"

    corrected = {**snapshot, "applicant": {**snapshot["applicant"], "email": SARA}}
    publish(amqp_uri, registration_event("dossier_updated", corrected, 2, changed_by=PARENT,
                                         changed_sections=["contact"]))
    assert wait_for(lambda: notification_rpc.personal_data(snapshot["id"])["projection"]
                    ["recipient"] == SARA, timeout=10)
    notification_rpc.replay_email(parked["idempotency_key"])
    [message] = settled(smtp.mailbox, 1)
    assert message["To"] == SARA
    secret = notification_config["CONFIRMATION_SECRET"].encode()
    assert confirmation_code(secret, snapshot["id"], SARA) in \
        message.get_body(("plain",)).get_content()


def test_time_travel_sends_each_start_date_reminder_once(
        start_notification, notification_rpc, amqp_uri, smtp, clock):
    start_notification(REMINDER_INTERVAL=0.2)
    snapshot = sample_snapshot("nl")  # desired start date 1 September 2026
    publish(amqp_uri, registration_event("dossier_registered", snapshot, 1))
    settled(smtp.mailbox, 1)

    clock.set(datetime(2026, 8, 10, 8, 0, tzinfo=timezone.utc))  # 3 weeks before
    settled(smtp.mailbox, 2)
    clock.set(datetime(2026, 8, 31, 8, 0, tzinfo=timezone.utc))  # the day before
    time.sleep(0.5)
    clock.set(datetime(2026, 9, 2, 8, 0, tzinfo=timezone.utc))  # the day after
    messages = settled(smtp.mailbox, 3)
    kinds = kinds_by_message_id(notification_rpc, snapshot["id"])
    assert [kinds[m["Message-ID"]] for m in messages] == [
        "dossier_registered", "start_date_near", "start_date_passed"]
    assert "1 september 2026" in messages[1].get_body(("plain",)).get_content()


def receipt_of(request, erased_rows):
    """What notification answers `request` with: its aggregate and sequence, version 2, every dossier
    of it in order with its run and `erased_rows[dossier id]`."""
    items = request["data"]["requests"] if request["version"] == 2 else [request["data"]]
    return ("erasure_receipt.notification", 2, request["aggregate_id"], request["sequence"], {
        "service": "notification", "erased": [
            {"dossier_id": item["dossier_id"], "run_id": item["run_id"], "erased_rows": erased_rows[item["dossier_id"]]}
            for item in items]})


def answered(receipts) -> dict:
    """{aggregate: (type, version, aggregate, sequence, data)} of valid receipts, one per aggregate."""
    answers = {parse(r)["aggregate_id"]: (r["type"], r["version"], r["aggregate_id"], r["sequence"], r["data"])
               for r in receipts}
    assert len(answers) == len(receipts)
    return answers


def test_an_erasure_request_erases_everything_and_answers_with_a_receipt(
        start_notification, notification_rpc, database_url, amqp_uri, smtp):
    start_notification(DATABASE_URL=database_url)
    snapshot = sample_snapshot("nl")
    publish(amqp_uri, registration_event("dossier_registered", snapshot, 1))
    settled(smtp.mailbox, 1)
    assert notification_rpc.personal_data(snapshot["id"])["projection"] is not None

    request = erasure_requested(snapshot["id"])  # version 1, still answered
    publish(amqp_uri, request)
    [receipt] = drain_queue(amqp_uri, "retention.erasure_receipts", 1)
    # in version 2: one email, the dossier, its request and the inbox row of the registration event
    assert answered([receipt]) == {snapshot["id"]: receipt_of(request, {snapshot["id"]: 4})}
    assert receipt["data"] == {"service": "notification", "erased": [
        {"dossier_id": snapshot["id"], "run_id": "run-1", "erased_rows": 4}]}
    assert notification_rpc.personal_data(snapshot["id"]) == {
        "dossier_id": snapshot["id"], "projection": None, "emails": []}

    late = flagged(snapshot, 2)  # it was still in a retry queue
    publish(amqp_uri, late)
    assert wait_for(lambda: handled(database_url, late["id"]))
    time.sleep(0.3)
    assert notification_rpc.personal_data(snapshot["id"])["emails"] == []
    assert len(smtp.mailbox.messages) == 1


def offer(event_type, snapshot, **extra):
    return envelope(event_type, {
        "offer_id": "off-1", "place_id": "pla-1", "dossier_id": snapshot["id"],
        "request_id": snapshot["requests"][0]["id"], "facility_id": "fac-0007",
        "facility_name": "Crèche Les Petits Pas", "start_date": "2026-10-01",
        "answer_deadline": "2026-06-11T21:59:00+00:00", **extra},
        aggregate_id=snapshot["id"], sequence=1, producer="matching")


def test_an_offer_reaches_the_parent_once_even_when_it_overtakes_the_registration(
        start_notification, notification_rpc, amqp_uri, smtp):
    start_notification()
    snapshot = sample_snapshot("fr")
    made = offer("matching.offer_made", snapshot, rule_set_version="kg-2013")
    publish(amqp_uri, made)  # before notification knows the request: retried
    time.sleep(0.05)
    publish(amqp_uri, registration_event("dossier_registered", snapshot, 1))
    publish(amqp_uri, copy.deepcopy(made))  # redelivered
    publish(amqp_uri, offer("matching.offer_lapsed", snapshot))

    messages = settled(smtp.mailbox, 3)
    kinds = kinds_by_message_id(notification_rpc, snapshot["id"])
    by_kind = {kinds[m["Message-ID"]]: m for m in messages}
    assert set(by_kind) == {"dossier_registered", "offer_received", "offer_lapsed"}
    received = by_kind["offer_received"].get_body(("plain",)).get_content()
    assert "Crèche Les Petits Pas" in received
    assert "1er octobre 2026" in received  # the place's start date
    assert "11 juin 2026 à 23 h 59" in received  # the deadline, Brussels time


def test_postgresql_smoke(start_notification, notification_rpc, amqp_uri, smtp, postgres_url):
    start_notification(DATABASE_URL=postgres_url)
    event = registration_event("dossier_registered", sample_snapshot("fr"), 1)
    publish(amqp_uri, event)
    publish(amqp_uri, copy.deepcopy(event))
    [message] = settled(smtp.mailbox, 1)
    assert message["Content-Language"] == "fr"
    [logged] = notification_rpc.personal_data("dos-0042")["emails"]
    assert (logged["status"], logged["message_id"]) == ("sent", message["Message-ID"])


def publish_all(amqp_uri, events):
    """Publish over one connection, back to back, so that the service takes them in one batch."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for event in events:
            producer.publish(json.dumps(event), exchange="loket.events", routing_key=event["type"],
                             content_type="application/json", delivery_mode=2,
                             message_id=event["id"])


def test_an_event_without_a_buildable_email_is_parked_alone_and_its_batch_goes_through(
        start_notification, notification_config, amqp_uri, smtp):
    start_notification()
    dossiers = []
    for n in range(6):
        snapshot = sample_snapshot("nl")
        snapshot["id"], snapshot["applicant"]["email"] = f"dos-{n}", f"ouder{n}@example.org"
        dossiers.append(snapshot)
    good = [flagged(snapshot, 1) for snapshot in dossiers[:3] + dossiers[4:]]
    # A cancellation of a request its own snapshot does not hold: no email can say which one.
    bad = registration_event("request_cancelled", dossiers[3], 1, request_id="req-gone",
                             reason=None, cancelled_by=HELPDESK)
    publish_all(amqp_uri, good[:3] + [bad] + good[3:])

    messages = settled(smtp.mailbox, 5)
    assert sorted(m["To"] for m in messages) == [f"ouder{n}@example.org" for n in (0, 1, 2, 4, 5)]
    assert wait_for(lambda: parking.counts(amqp_uri)[REGISTRATION_EVENTS] == 1, timeout=10)
    [parked] = parking.list_parked(amqp_uri, REGISTRATION_EVENTS)
    assert (parked["event_id"], parked["attempts"]) == (bad["id"], 1)  # parked at once
    assert parked["error"] == "PermanentError: request req-gone not in dossier dos-3"
    assert not handled(notification_config["DATABASE_URL"], bad["id"])  # nothing of it applied
    assert all(handled(notification_config["DATABASE_URL"], event["id"]) for event in good)


def rows_about(database_url, dossier_ids):
    """{table: rows still about these dossiers} over the service's tables, the inbox (but the
    erasure requests themselves) and the outbox."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            counts = {name: connection.execute(select(func.count()).select_from(table).where(
                table.c.dossier_id.in_(dossier_ids))).scalar()
                for name, table in (("email_log", EmailLogEntry.__table__),
                                    ("dossier_projections", DossierProjection.__table__),
                                    ("request_projections", RequestProjectionRow.__table__))}
            counts["inbox"] = connection.execute(select(func.count()).select_from(inbox).where(
                inbox.c.aggregate_id.in_(dossier_ids),
                inbox.c.consumer != "notification.erasure_requests")).scalar()
            counts["outbox"] = connection.execute(select(func.count()).select_from(outbox).where(
                outbox.c.aggregate_id.in_(dossier_ids))).scalar()
            counts["erased_dossiers"] = connection.execute(
                select(func.count()).select_from(ErasedDossier).where(
                    ErasedDossier.dossier_id.in_(dossier_ids))).scalar()
            return counts
    finally:
        engine.dispose()


def registered(amqp_uri, database_url, count) -> list:
    """`count` dossiers (dos-0, ...) with one request each, registered: their ids."""
    snapshots = []
    for n in range(count):
        snapshot = sample_snapshot("nl")
        snapshot["id"], snapshot["applicant"]["email"] = f"dos-{n}", f"ouder{n}@example.org"
        snapshot["requests"] = [{**snapshot["requests"][0], "id": f"req-{n}"}]
        snapshots.append(snapshot)
    registrations = [registration_event("dossier_registered", snapshot, 1) for snapshot in snapshots]
    publish_all(amqp_uri, registrations)
    assert wait_for(lambda: all(handled(database_url, event["id"]) for event in registrations))
    return [snapshot["id"] for snapshot in snapshots]


def only_the_kept_dossier_is_left(database_url, erased, kept):
    assert rows_about(database_url, erased) == {
        "email_log": 0, "dossier_projections": 0, "request_projections": 0, "inbox": 0,
        "outbox": 0, "erased_dossiers": len(erased)}
    assert rows_about(database_url, [kept]) == {
        "email_log": 1, "dossier_projections": 1, "request_projections": 1, "inbox": 1,
        "outbox": 0, "erased_dossiers": 0}


def test_a_batch_of_erasure_requests_is_answered_one_receipt_each_and_leaves_nothing(
        start_notification, database_url, amqp_uri, smtp):
    start_notification(DATABASE_URL=database_url)
    *erased, kept = registered(amqp_uri, database_url, 31)
    requests = [erasure_requested(dossier_id, run_id="run-7") for dossier_id in erased]  # version 1
    publish_all(amqp_uri, requests + [copy.deepcopy(requests[3])])  # and one redelivered

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 30, timeout=60)
    # one per request, in version 2, naming its dossier: sent or still queued, each had one email,
    # its dossier, its request and the inbox row of its registration
    assert answered(receipts) == {request["aggregate_id"]: receipt_of(request, dict.fromkeys(erased, 4))
                                  for request in requests}
    assert {item["run_id"] for receipt in receipts for item in receipt["data"]["erased"]} == {"run-7"}
    only_the_kept_dossier_is_left(database_url, erased, kept)
    assert drain_queue(amqp_uri, "retention.erasure_receipts", 1, timeout=0.5) == []  # none twice


def test_a_batch_erasure_request_erases_every_dossier_it_names_and_is_answered_by_one_receipt(
        start_notification, database_url, amqp_uri, smtp):
    start_notification(DATABASE_URL=database_url)
    *erased, kept = registered(amqp_uri, database_url, 11)
    # Version 2: a run per dossier, many dossiers per request, one unknown to notification (erased
    # before); the first request delivered twice.
    first = erasure_batch_requested({**{dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased[:6])},
                                   "unknown-dossier": "run-x"})
    second = erasure_batch_requested({dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased[6:], 6)})
    publish_all(amqp_uri, [first, second, copy.deepcopy(first)])

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 3, timeout=60)
    # one per request: each dossier of it with its own run; one email, the dossier, its request and
    # the inbox row of its registration (nothing of the unknown one)
    rows = {**dict.fromkeys(erased, 4), "unknown-dossier": 0}
    assert answered(receipts) == {request["aggregate_id"]: receipt_of(request, rows) for request in (first, second)}
    [first_receipt] = [receipt for receipt in receipts if receipt["aggregate_id"] == first["aggregate_id"]]
    assert [item["run_id"] for item in first_receipt["data"]["erased"]] == [
        "run-0", "run-1", "run-2", "run-3", "run-4", "run-5", "run-x"]
    only_the_kept_dossier_is_left(database_url, erased, kept)
    assert drain_queue(amqp_uri, "retention.erasure_receipts", 1, timeout=0.5) == []  # none twice
