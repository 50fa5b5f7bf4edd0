"""consent_export in a real nameko container on the real broker, fed by the real registration
service, sending to local HTTP servers that stand in for Kind en Gezin and LOP."""
import time
from pathlib import Path

import pytest
import requests
from kombu import Connection
from sqlalchemy import MetaData, select

from loket.contracts.retention import receipt_type
from loket.db import create_db_engine
from loket.errors import InvalidInput
from loket.migrations import upgrade
from loket.testing import drain_queue, erasure_batch_requested, erasure_requested, publish_raw, wait_for

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
PARENT = {"role": "parent", "actor_id": "account-1"}
CONSENT = {"policy_version": "2024-05", "method": "web"}
# P10 and P11, written out here independently of consent_export.fields.
KIND_EN_GEZIN_FIELDS = {
    "dossier_id", "applicant.last_name", "applicant.first_name", "applicant.birth_date",
    "applicant.gender", "applicant.email", "applicant.phone", "applicant.address.street",
    "applicant.address.house_number", "applicant.address.postal_code",
    "applicant.address.municipality", "children[].id", "children[].last_name",
    "children[].first_name", "children[].birth_date",
}
LOP_FIELDS = {"dossier_id", "applicant.email", "partner.email", "children[].id", "children[].birth_date"}


def names(document, prefix=""):
    if isinstance(document, dict):
        return {name for key, value in document.items()
                for name in names(value, f"{prefix}.{key}" if prefix else key)}
    if isinstance(document, list):
        return {name for item in document for name in names(item, prefix + "[]")}
    return {prefix}


def methods(server):
    return [request["method"] for request in list(server.requests)]


def settle():
    """Long enough for a wrongly queued transfer to go out (SEND_INTERVAL and backoff are 0.1 s)."""
    time.sleep(0.6)


def test_consent_to_kind_en_gezin_pushes_exactly_the_allowed_fields_and_nothing_to_lop(
        both_running, register, applied, kind_en_gezin, lop, consent_export):
    dossier = register(1)
    applied(1)

    assert wait_for(lambda: len(kind_en_gezin.requests) == 1)
    settle()
    [push] = kind_en_gezin.requests
    assert (push["method"], push["path"]) == ("POST", "/kg/dossiers")
    assert names(push["json"]) == KIND_EN_GEZIN_FIELDS
    assert "partner" not in push["json"]
    assert push["json"]["applicant"]["email"] == dossier["applicant"]["email"]
    assert push["json"]["children"][0]["birth_date"] == dossier["children"][0]["birth_date"]
    assert push["headers"]["Authorization"] == "Bearer kg-token"
    assert push["headers"]["Idempotency-Key"].endswith(":kind_en_gezin")
    assert lop.requests == []

    [entry] = consent_export.transfer_log(dossier["id"])
    assert (entry["partner"], entry["kind"], entry["status"], entry["partner_status"]) == (
        "kind_en_gezin", "push", "delivered", 201)
    assert set(entry["field_names"]) == KIND_EN_GEZIN_FIELDS
    assert entry["consent_id"] == dossier["consents"]["kind_en_gezin"]["id"]
    assert dossier["applicant"]["email"] not in str(entry)


def test_consent_to_lop_sends_the_emails_and_birth_dates_only(
        both_running, register, applied, kind_en_gezin, lop):
    dossier = register(2, lop=True)
    applied(1)

    assert wait_for(lambda: len(lop.requests) == 1)
    [push] = lop.requests
    assert names(push["json"]) == LOP_FIELDS
    assert push["json"]["partner"] == {"email": dossier["partner"]["email"]}
    assert push["headers"]["Authorization"].startswith("Basic ")
    settle()
    assert kind_en_gezin.requests == []


def test_refused_consent_sends_no_request_at_all(
        both_running, register, applied, kind_en_gezin, lop, consent_export):
    dossier = register(3, kind_en_gezin=False, lop=False)
    applied(1)
    settle()

    assert kind_en_gezin.requests == [] and lop.requests == []
    assert consent_export.transfer_log(dossier["id"]) == []


def test_a_partner_that_fails_twice_then_recovers_gets_the_change_exactly_once(
        both_running, register, kind_en_gezin, consent_export):
    kind_en_gezin.script = [{"status": 500, "answer": "down"}, {"status": 503, "answer": "still down"}]
    dossier = register(4)

    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)
    settle()
    assert [r["status"] for r in kind_en_gezin.requests] == [500, 503, 201]
    assert len({r["headers"]["Idempotency-Key"] for r in kind_en_gezin.requests}) == 1
    [entry] = consent_export.transfer_log(dossier["id"])
    assert (entry["status"], entry["attempts"]) == ("delivered", 3)


def test_a_partner_that_times_out_gets_the_same_transfer_again(
        both_running, register, kind_en_gezin, consent_export):
    kind_en_gezin.script = [{"delay": 3.0}]  # longer than the 1 s read timeout
    dossier = register(5)

    assert wait_for(lambda: len(kind_en_gezin.requests) == 2, timeout=15)
    assert wait_for(lambda: consent_export.transfer_log(dossier["id"])[0]["status"] == "delivered")
    first, second = kind_en_gezin.requests
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
    assert first["json"] == second["json"]


def test_a_rejection_is_parked_with_the_answer_holds_the_dossier_back_and_can_be_replayed(
        both_running, register, registration, applied, kind_en_gezin, consent_export,
        consent_export_config):
    kind_en_gezin.script = [{"status": 400, "answer": '{"error": "unknown municipality"}'}]
    dossier = register(6)
    assert wait_for(lambda: consent_export.parked_transfers() != [])
    [parked] = consent_export.parked_transfers()
    assert (parked["dossier_id"], parked["kind"], parked["partner_status"], parked["partner_answer"]) == (
        dossier["id"], "push", 400, '{"error": "unknown municipality"}')

    registration.update_contact(dossier["id"], {"applicant": {"phone": "+32 2 555 01 01"}}, PARENT)
    applied(2)
    settle()
    assert methods(kind_en_gezin) == ["POST"]  # the update waits behind the parked push

    metrics = requests.get(f"http://{consent_export_config['WEB_SERVER_ADDRESS']}/metrics", timeout=5).text
    assert 'loket_consent_export_transfers{partner="kind_en_gezin",status="parked"} 1' in metrics
    assert 'loket_consent_export_transfers{partner="kind_en_gezin",status="queued"} 1' in metrics

    with pytest.raises(InvalidInput):
        consent_export.replay_transfer("1; DROP TABLE transfers")
    consent_export.replay_transfer(parked["id"])

    assert wait_for(lambda: methods(kind_en_gezin) == ["POST", "POST", "PUT"])
    assert kind_en_gezin.requests[2]["json"]["applicant"]["phone"] == "+32 2 555 01 01"
    assert consent_export.parked_transfers() == []


def test_a_withdrawal_during_retries_supersedes_the_update_and_only_the_delete_goes_out(
        both_running, register, registration, applied, kind_en_gezin, consent_export):
    dossier = register(7)
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)
    kind_en_gezin.status = 503
    registration.update_contact(dossier["id"], {"applicant": {"phone": "+32 2 555 02 02"}}, PARENT)
    assert wait_for(lambda: methods(kind_en_gezin).count("PUT") >= 2)

    registration.withdraw_consent(dossier["id"], {"partner": "kind_en_gezin", **CONSENT}, PARENT)
    applied(3)
    assert wait_for(lambda: "DELETE" in methods(kind_en_gezin))
    updates_tried = methods(kind_en_gezin).count("PUT")
    kind_en_gezin.status = 204

    assert wait_for(lambda: [r["method"] for r in kind_en_gezin.accepted] == ["POST", "DELETE"])
    settle()
    assert methods(kind_en_gezin).count("PUT") == updates_tried  # never again after the withdrawal
    assert [r["method"] for r in kind_en_gezin.accepted] == ["POST", "DELETE"]
    assert kind_en_gezin.accepted[1]["json"] == {"dossier_id": dossier["id"]}
    assert [(e["kind"], e["status"]) for e in consent_export.transfer_log(dossier["id"])] == [
        ("push", "delivered"), ("update", "superseded"), ("delete", "delivered")]


def test_lop_down_does_not_hold_back_kind_en_gezin(
        both_running, register, registration, kind_en_gezin, lop):
    lop.status = 503
    dossier = register(8, kind_en_gezin=True, lop=True)
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)

    registration.update_contact(dossier["id"], {"applicant": {"email": "nieuw8@example.org"}}, PARENT)

    assert wait_for(lambda: [r["method"] for r in kind_en_gezin.accepted] == ["POST", "PUT"])
    assert kind_en_gezin.accepted[1]["json"]["applicant"]["email"] == "nieuw8@example.org"
    assert lop.accepted == [] and len(lop.requests) >= 2
    lop.status = 201
    assert wait_for(lambda: [r["method"] for r in lop.accepted] == ["POST", "PUT"])


def test_once_a_partner_answers_again_the_waiting_retries_go_at_once(
        start_registration, start_consent_export, register, applied, kind_en_gezin):
    start_registration()
    start_consent_export(BACKOFF_BASE=4.0, BACKOFF_CAP=60.0)  # retries seconds apart
    kind_en_gezin.status = 503
    waiting = [register(20 + n)["id"] for n in range(3)]
    applied(3)
    assert wait_for(lambda: len(kind_en_gezin.requests) >= 6, timeout=20)  # each retried by now

    kind_en_gezin.status = 201
    register(23)  # a fresh transfer goes at once and finds the partner back

    assert wait_for(lambda: len(kind_en_gezin.accepted) == 4, timeout=3)
    assert {r["json"]["dossier_id"] for r in kind_en_gezin.accepted} >= set(waiting)


def test_a_redelivered_or_older_event_sends_nothing_more(
        both_running, register, registration, applied, amqp_uri, kind_en_gezin):
    dossier = register(9)
    [registered] = drain_queue(amqp_uri, "matching.registration_events", 1)
    registration.update_contact(dossier["id"], {"applicant": {"phone": "+32 2 555 03 03"}}, PARENT)
    applied(2)
    assert wait_for(lambda: methods(kind_en_gezin) == ["POST", "PUT"])

    publish_raw(amqp_uri, registered["type"], registered)  # the same event again
    older = {**registered, "id": "a-later-copy-of-the-first-event"}  # sequence 1 < 2 applied
    publish_raw(amqp_uri, older["type"], older)
    applied(3)
    settle()

    assert methods(kind_en_gezin) == ["POST", "PUT"]


def test_a_restricted_dossier_sends_no_update_but_still_its_delete(
        both_running, register, registration, applied, kind_en_gezin):
    dossier = register(10)
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)
    registration.set_restriction(dossier["id"], {"restricted": True}, PARENT)
    registration.update_contact(dossier["id"], {"applicant": {"phone": "+32 2 555 04 04"}}, PARENT)
    applied(3)
    settle()
    assert methods(kind_en_gezin) == ["POST"]

    registration.withdraw_consent(dossier["id"], {"partner": "kind_en_gezin", **CONSENT}, PARENT)

    assert wait_for(lambda: methods(kind_en_gezin) == ["POST", "DELETE"])


def test_an_erasure_request_deletes_at_the_partner_erases_the_rows_and_answers(
        both_running, register, applied, amqp_uri, kind_en_gezin, consent_export,
        consent_export_db):
    dossier = register(11)
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)
    request = erasure_requested(dossier["id"], "run-1", "parent_request")  # version 1, queued before an upgrade

    publish_raw(amqp_uri, request["type"], request)

    # registration answers too (and erases the dossier, whose dossier_erased event follows)
    receipts = {r["type"]: r for r in drain_queue(amqp_uri, "retention.erasure_receipts", 2)}
    receipt = receipts["erasure_receipt.consent_export"]
    # answered by a version-2 receipt for the request's aggregate and sequence
    assert (receipt["version"], receipt["aggregate_id"], receipt["sequence"]) == (2, dossier["id"], request["sequence"])
    assert receipt["data"]["service"] == "consent_export"
    [erased] = receipt["data"]["erased"]
    assert (erased["dossier_id"], erased["run_id"]) == (dossier["id"], "run-1") and erased["erased_rows"] > 0
    assert wait_for(lambda: [r["method"] for r in kind_en_gezin.accepted] == ["POST", "DELETE"])
    assert kind_en_gezin.accepted[1]["headers"]["Idempotency-Key"] == "run-1:kind_en_gezin"
    assert wait_for(lambda: set(rows_mentioning(consent_export_db, dossier["id"])) == {"inbox"})
    assert consent_export.personal_data(dossier["id"])["transfers"] == []
    log = consent_export.transfer_log(dossier["id"])
    assert [(e["kind"], e["status"], e["pseudonymised"]) for e in log] == [
        ("push", "delivered", True), ("delete", "delivered", True)]


def rows_mentioning(url, text):
    """{table: rows holding `text` anywhere}. Only the inbox may still name the dossier: the
    erasure request's row (so that a redelivered request is recognised, loket.erasure) and the
    ids of events that arrived after the erasure and were ignored."""
    engine = create_db_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    found = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            hits = sum(text in str(tuple(row)) for row in connection.execute(select(table)))
            if hits:
                found[table.name] = hits
    engine.dispose()
    return found


def test_on_postgresql_too(start_registration, start_consent_export, register, registration,
                           amqp_uri, kind_en_gezin, postgres_url, consent_export):
    upgrade(ALEMBIC_INI, postgres_url)
    start_registration()
    start_consent_export(DATABASE_URL=postgres_url)
    kind_en_gezin.script = [{"status": 502}]
    dossier = register(12)
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 1)
    assert kind_en_gezin.accepted[0]["json"]["dossier_id"] == dossier["id"]

    kind_en_gezin.status = 503
    registration.update_contact(dossier["id"], {"applicant": {"phone": "+32 2 555 05 05"}}, PARENT)
    assert wait_for(lambda: methods(kind_en_gezin).count("PUT") >= 2)
    registration.withdraw_consent(dossier["id"], {"partner": "kind_en_gezin", **CONSENT}, PARENT)
    assert wait_for(lambda: "DELETE" in methods(kind_en_gezin))
    kind_en_gezin.status = 204
    assert wait_for(lambda: [r["method"] for r in kind_en_gezin.accepted] == ["POST", "DELETE"])

    request = erasure_requested(dossier["id"], "run-pg", "parent_request")
    publish_raw(amqp_uri, request["type"], request)
    receipts = {r["type"]: r for r in drain_queue(amqp_uri, "retention.erasure_receipts", 2)}
    [erased] = receipts["erasure_receipt.consent_export"]["data"]["erased"]
    assert (erased["dossier_id"], erased["run_id"]) == (dossier["id"], "run-pg") and erased["erased_rows"] > 0
    assert [(e["kind"], e["status"], e["pseudonymised"]) for e in consent_export.transfer_log(dossier["id"])] == [
        ("push", "delivered", True), ("update", "superseded", True), ("delete", "delivered", True)]


def deletes(partner):
    """(dossier id, Idempotency-Key) of each delete the partner accepted, sorted."""
    return sorted((request["path"].rsplit("/", 1)[1], request["headers"]["Idempotency-Key"])
                  for request in partner.accepted if request["method"] == "DELETE")


def publish_at_once(amqp_uri, events):
    """Publish the events right after one another over one connection, as an outbox relay does."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for event in events:
            producer.publish(event, exchange="loket.events", routing_key=event["type"], serializer="json",
                             delivery_mode=2, message_id=event["id"])


def receipts_of(amqp_uri, service, expected, timeout=30.0):
    """The erasure receipts `service` published (the other services' are drained and dropped), once
    `expected` are in or `timeout` has passed."""
    receipts, deadline = [], time.monotonic() + timeout
    while len(receipts) < expected and time.monotonic() < deadline:
        receipts += [receipt for receipt in drain_queue(amqp_uri, "retention.erasure_receipts", 1000, timeout=1.0)
                     if receipt["type"] == receipt_type(service)]
    return receipts


def test_erasure_requests_published_at_once_are_answered_each_and_leave_nothing(
        start_registration, start_consent_export, register, amqp_uri, kind_en_gezin, lop, database_url):
    upgrade(ALEMBIC_INI, database_url)
    start_registration()
    start_consent_export(DATABASE_URL=database_url)
    dossiers = [register(30 + n, kind_en_gezin=True, lop=True)["id"] for n in range(5)]
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 5 and len(lop.accepted) == 5)
    never_seen = [f"dossier-never-seen-{n}" for n in range(24)]
    # 30 version-1 requests, one run per dossier; the first dossier twice (retention asked again)
    named = dossiers + never_seen + dossiers[:1]
    run_of = {dossier_id: f"run-{n}" for n, dossier_id in enumerate(dossiers + never_seen)}

    publish_at_once(amqp_uri, [erasure_requested(dossier_id, run_of[dossier_id]) for dossier_id in named])

    receipts = receipts_of(amqp_uri, "consent_export", len(named))
    assert all(receipt["version"] == 2 and len(receipt["data"]["erased"]) == 1 for receipt in receipts)
    answered = [item for receipt in receipts for item in receipt["data"]["erased"]]
    assert sorted((item["dossier_id"], item["run_id"]) for item in answered) == sorted(
        (dossier_id, run_of[dossier_id]) for dossier_id in named)
    erased = {}
    for item in answered:
        erased.setdefault(item["dossier_id"], []).append(item["erased_rows"])
    assert all(max(erased[dossier_id]) > 0 for dossier_id in dossiers)
    assert all(erased[dossier_id] == [0] for dossier_id in never_seen)
    # each partner told once to delete each dossier it held, keyed by the dossier's run
    for partner, name in ((kind_en_gezin, "kind_en_gezin"), (lop, "lop")):
        assert wait_for(lambda: deletes(partner) == sorted(
            (dossier_id, f"{run_of[dossier_id]}:{name}") for dossier_id in dossiers))
    assert wait_for(lambda: all(set(rows_mentioning(database_url, dossier_id)) == {"inbox"}
                                for dossier_id in dossiers))
    assert all(set(rows_mentioning(database_url, dossier_id)) <= {"inbox"} for dossier_id in never_seen)
    settle()
    assert receipts_of(amqp_uri, "consent_export", 1, timeout=1.0) == []  # one receipt per request, no more


def test_a_batch_erasure_request_erases_every_dossier_and_is_answered_by_one_receipt(
        start_registration, start_consent_export, register, amqp_uri, kind_en_gezin, lop, database_url):
    upgrade(ALEMBIC_INI, database_url)
    registration = start_registration()
    start_consent_export(DATABASE_URL=database_url)
    held = [register(40 + n, kind_en_gezin=True, lop=n % 2 == 0)["id"] for n in range(4)]
    old = register(44)["id"]  # the sample's consent: Kind en Gezin only
    assert wait_for(lambda: len(kind_en_gezin.accepted) == 5 and len(lop.accepted) == 2)
    # Registration stops: its dossier_erased events would reach the inbox here after the erasure.
    registration.stop()
    never_seen = [f"dossier-never-seen-{n}" for n in range(3)]
    runs = {dossier_id: f"run-{n}" for n, dossier_id in enumerate(held + never_seen)}
    batch = erasure_batch_requested(runs)
    queued_before = erasure_requested(old, "run-old")  # version 1, queued before an upgrade

    publish_at_once(amqp_uri, [batch, queued_before])

    receipts = {receipt["aggregate_id"]: receipt for receipt in receipts_of(amqp_uri, "consent_export", 2)}
    assert set(receipts) == {batch["aggregate_id"], old}
    receipt = receipts[batch["aggregate_id"]]
    assert (receipt["type"], receipt["version"], receipt["sequence"], receipt["data"]["service"]) == (
        "erasure_receipt.consent_export", 2, 1, "consent_export")
    assert [(item["dossier_id"], item["run_id"]) for item in receipt["data"]["erased"]] == list(runs.items())
    erased_rows = {item["dossier_id"]: item["erased_rows"] for item in receipt["data"]["erased"]}
    assert all(erased_rows[dossier_id] > 0 for dossier_id in held)
    assert all(erased_rows[dossier_id] == 0 for dossier_id in never_seen)
    [answer] = receipts[old]["data"]["erased"]
    assert (receipts[old]["version"], receipts[old]["sequence"]) == (2, queued_before["sequence"])
    assert (answer["dossier_id"], answer["run_id"]) == (old, "run-old") and answer["erased_rows"] > 0
    told = {"kind_en_gezin": sorted([(dossier_id, f"{runs[dossier_id]}:kind_en_gezin") for dossier_id in held]
                                    + [(old, "run-old:kind_en_gezin")]),
            "lop": sorted((dossier_id, f"{runs[dossier_id]}:lop") for dossier_id in held[::2])}
    assert wait_for(lambda: deletes(kind_en_gezin) == told["kind_en_gezin"] and deletes(lop) == told["lop"])
    # Nothing names the batch's dossiers any more (the batch's inbox row names the batch); the
    # version-1 request's inbox row names its dossier.
    assert wait_for(lambda: all(rows_mentioning(database_url, dossier_id) == {} for dossier_id in held + never_seen))
    assert rows_mentioning(database_url, old) == {"inbox": 1}

    # The same request again (a redelivery): already answered, nothing more. Then retention asks
    # again for the batch's runs (a new request): nothing more is erased, and it is answered.
    publish_raw(amqp_uri, batch["type"], batch)
    asked_again = erasure_batch_requested(runs)
    publish_raw(amqp_uri, asked_again["type"], asked_again)

    [again] = receipts_of(amqp_uri, "consent_export", 1)
    assert (again["aggregate_id"], again["version"], again["sequence"]) == (asked_again["aggregate_id"], 2, 1)
    assert again["data"]["erased"] == [{"dossier_id": dossier_id, "run_id": run_id, "erased_rows": 0}
                                       for dossier_id, run_id in runs.items()]
    settle()
    assert receipts_of(amqp_uri, "consent_export", 1, timeout=1.0) == []  # none for the redelivery
    assert deletes(kind_en_gezin) == told["kind_en_gezin"] and deletes(lop) == told["lop"]
    # the pushes and the deletes, nothing more
    assert len(kind_en_gezin.requests) == 5 + len(told["kind_en_gezin"]) and len(lop.requests) == 2 + len(told["lop"])
