"""The registration service in a real nameko container, on the real broker, on SQLite and PostgreSQL."""
import json

import pytest
from sqlalchemy import func, select, text

from loket.db import create_db_engine
from loket.errors import InvalidInput, NotFound
from loket.tables import outbox
from loket.testing import drain_queue, queue_depth, wait_for
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-1"}
HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}
QUEUE = "notification.registration_events"


def outbox_rows(url):
    engine = create_db_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
    engine.dispose()
    return count


def test_a_registration_is_stored_and_its_event_published(start_registration, rpc, clock, amqp_uri):
    start_registration()
    result = rpc.register_dossier(sample_registration(clock.now().date(), 1), PARENT)
    dossier_id = result["dossier"]["id"]

    stored = rpc.get_dossier(dossier_id, PARENT)
    assert stored["applicant"]["email"] == "ouder1@example.org"
    assert stored["situation"]["health"]["detail"] is None or isinstance(stored["situation"]["health"], dict)

    [event] = drain_queue(amqp_uri, QUEUE, 1)
    assert event["type"] == "registration.dossier_registered"
    assert event["aggregate_id"] == dossier_id
    assert event["sequence"] == result["dossier"].get("version", event["sequence"])
    assert event["data"]["dossier"]["applicant"]["email"] == "ouder1@example.org"


def test_the_health_detail_is_encrypted_at_rest_and_never_in_an_event(start_registration, rpc, clock,
                                                                     amqp_uri, service_config):
    start_registration()
    payload = sample_registration(clock.now().date(), 5)  # n % 5 == 0: a care situation with detail
    payload["situation"]["health"]["detail"] = "Broer heeft een motorische beperking"
    dossier_id = rpc.register_dossier(payload, PARENT)["dossier"]["id"]

    assert rpc.get_dossier(dossier_id, PARENT)["situation"]["health"]["detail"] == \
        "Broer heeft een motorische beperking"
    [event] = drain_queue(amqp_uri, QUEUE, 1)
    assert "motorische" not in json.dumps(event)
    assert event["data"]["dossier"]["priority"]["health_or_care_situation"] is True
    engine = create_db_engine(service_config["DATABASE_URL"])
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT health_situation_encrypted FROM priority_data")).scalar_one()
    engine.dispose()
    assert raw and "motorische" not in raw


def test_bad_input_gets_field_errors_and_changes_nothing(start_registration, rpc, clock, amqp_uri,
                                                        service_config):
    start_registration()
    payload = sample_registration(clock.now().date(), 2)
    payload["children"][0]["request"]["facility_ids"] = [f"fac-{n:04d}" for n in range(1, 7)]
    payload["applicant"]["email"] = "not-an-email"
    payload["unexpected"] = True
    with pytest.raises(InvalidInput) as refused:
        rpc.register_dossier(payload, PARENT)
    errors = refused.value.errors
    assert "facility_ids" in errors["children"]["0"]["request"] or "facility_ids" in errors["children"][0]["request"]
    assert "email" in errors["applicant"]
    assert "unexpected" in errors
    assert outbox_rows(service_config["DATABASE_URL"]) == 0
    assert queue_depth(amqp_uri, QUEUE) == 0


def test_helpdesk_cancellation_records_the_reason_and_emits_the_event(start_registration, rpc, clock, amqp_uri):
    start_registration()
    registered = rpc.register_dossier(sample_registration(clock.now().date(), 3), PARENT)["dossier"]
    request_id = registered["requests"][0]["id"]
    rpc.cancel_request(registered["id"], {"request_id": request_id, "reason": "Dubbele aanvraag"}, HELPDESK)
    events = drain_queue(amqp_uri, QUEUE, 2)
    assert [e["type"] for e in events] == ["registration.dossier_registered", "registration.request_cancelled"]
    assert events[1]["data"]["reason"] == "Dubbele aanvraag"
    assert events[1]["sequence"] > events[0]["sequence"]


def test_an_unknown_dossier_is_not_found(start_registration, rpc):
    start_registration()
    with pytest.raises(NotFound):
        rpc.get_dossier("00000000-0000-0000-0000-000000000000", HELPDESK)


def test_expiry_closes_requests_whose_start_passed_long_ago(start_registration, rpc, clock, amqp_uri):
    start_registration()
    dossier = rpc.register_dossier(sample_registration(clock.now().date(), 4), PARENT)["dossier"]
    start = dossier["requests"][0]["desired_start_date"]
    assert rpc.expire_requests() == 0
    clock.advance(days=90 + 200 + 120)  # well past the desired start plus the grace period
    assert rpc.expire_requests() == 1
    assert rpc.get_dossier(dossier["id"], HELPDESK)["requests"][0]["status"] == "expired"
    assert wait_for(lambda: queue_depth(amqp_uri, QUEUE) == 2)
    assert start  # the sample had a start date
