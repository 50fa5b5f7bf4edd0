"""Registration's consumers: an accepted offer enrolls; erasure requests erase and answer with a receipt each."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket import contracts, parking, topology
from loket.crypto import Keyring
from loket.db import create_db_engine
from loket.errors import NotFound
from loket.outbox import EventRecorder
from loket.testing import drain_queue, publish_raw, wait_for
from registration import dossiers, schemas
from registration.models import Dossier, metadata
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-e"}
HELPDESK = {"role": "helpdesk", "actor_id": "staff-e"}


def offer_accepted(dossier, request, facility_id):
    return contracts.envelope("matching.offer_accepted", {
        "offer_id": "offer-1", "place_id": "place-1", "dossier_id": dossier["id"], "request_id": request["id"],
        "facility_id": facility_id, "facility_name": "De Speelvogel", "start_date": request["desired_start_date"],
    }, aggregate_id=dossier["id"], sequence=1, producer="matching")


def test_an_accepted_offer_enrolls_the_request_once(start_registration, rpc, clock, amqp_uri):
    start_registration()
    dossier = rpc.register_dossier(sample_registration(clock.now().date(), 1), PARENT)["dossier"]
    request = dossier["requests"][0]
    event = offer_accepted(dossier, request, request["facility_ids"][0])
    publish_raw(amqp_uri, event["type"], event)
    publish_raw(amqp_uri, event["type"], event)  # redelivered

    def enrolled():
        return rpc.get_dossier(dossier["id"], HELPDESK)["requests"][0]["status"] == "enrolled"
    assert wait_for(enrolled)
    events = drain_queue(amqp_uri, "notification.registration_events", 3, timeout=3)
    assert [e["type"] for e in events] == ["registration.dossier_registered", "registration.request_enrolled"]


def test_an_acceptance_for_a_cancelled_request_is_parked_for_an_operator(start_registration, rpc, clock, amqp_uri):
    start_registration()
    dossier = rpc.register_dossier(sample_registration(clock.now().date(), 2), PARENT)["dossier"]
    request = dossier["requests"][0]
    rpc.cancel_request(dossier["id"], {"request_id": request["id"]}, PARENT)
    event = offer_accepted(dossier, request, request["facility_ids"][0])
    publish_raw(amqp_uri, event["type"], event)
    assert wait_for(lambda: parking.counts(amqp_uri)["registration.matching_events"] == 1)
    assert "enrollment refused" in parking.list_parked(amqp_uri, "registration.matching_events")[0]["error"]


def erasure_requested(dossier_id, run_id="run-1"):
    return contracts.envelope("retention.erasure_requested", {
        "dossier_id": dossier_id, "run_id": run_id, "reason": "retention_expired"},
        aggregate_id=dossier_id, sequence=1, producer="retention")


def rows_left(database_url, dossier_ids) -> dict:
    """{table: rows naming one of the dossiers}, for every table of the service that has any."""
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            counts = {table.name: connection.scalar(select(func.count()).select_from(table).where(
                (table.c.id if table.name == Dossier.__tablename__ else table.c.dossier_id).in_(dossier_ids)))
                for table in metadata.sorted_tables}
    finally:
        engine.dispose()
    return {name: count for name, count in counts.items() if count}


def test_an_erasure_request_erases_the_dossier_and_answers_once(start_registration, rpc, clock, amqp_uri):
    start_registration()
    dossier = rpc.register_dossier(sample_registration(clock.now().date(), 3), PARENT)["dossier"]
    request = erasure_requested(dossier["id"])
    publish_raw(amqp_uri, request["type"], request)
    publish_raw(amqp_uri, request["type"], request)  # a redelivered request answers nothing twice

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 2, timeout=5)
    assert [r["data"]["service"] for r in receipts] == ["registration"]
    assert receipts[0]["data"]["run_id"] == "run-1"
    with pytest.raises(NotFound):
        rpc.get_dossier(dossier["id"], HELPDESK)


def register_before_start(database_url, keys, now, count) -> list:
    """Dossiers registered straight into the (migrated) database, their events in the outbox: ids."""
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            recorder, keyring, today = EventRecorder("registration"), Keyring(keys), now.date()
            return [dossiers.register_dossier(
                session, now, schemas.validate(schemas.RegisterDossierInput, sample_registration(today, n), today),
                PARENT, recorder, keyring)["dossier"]["id"] for n in range(count)]
    finally:
        engine.dispose()


def test_a_backlog_of_erasure_requests_is_erased_and_each_request_answered(
        start_registration, rpc, clock, amqp_uri, service_config):
    dossier_ids = register_before_start(service_config["DATABASE_URL"], service_config["ENCRYPTION_KEYS"],
                                        clock.now(), 30)
    # Retention starts its erasures at once: the whole backlog waits in the queue when the service
    # starts, with a redelivered request and one for a dossier registration does not know (erased before).
    topology.declare_all(amqp_uri, service_config)
    requests = [erasure_requested(dossier_id, run_id="run-9") for dossier_id in [*dossier_ids, "unknown-dossier"]]
    for request in [*requests, requests[4]]:
        publish_raw(amqp_uri, request["type"], request)
    start_registration()

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 31, timeout=15)
    assert drain_queue(amqp_uri, "retention.erasure_receipts", 1, timeout=1) == []  # none for the redelivery
    assert sorted(r["data"]["dossier_id"] for r in receipts) == sorted([*dossier_ids, "unknown-dossier"])
    assert {(r["data"]["service"], r["data"]["run_id"]) for r in receipts} == {("registration", "run-9")}
    erased_rows = {r["data"]["dossier_id"]: r["data"]["erased_rows"] for r in receipts}
    assert erased_rows.pop("unknown-dossier") == 0 and min(erased_rows.values()) >= 8
    # Nothing of the dossiers is left but the audit entry of each erasure. The others are not told
    # again: retention asked each of them too (only the 30 registrations reach them).
    assert rows_left(service_config["DATABASE_URL"], dossier_ids) == {"audit_log": 30}
    published = drain_queue(amqp_uri, "notification.registration_events", 31, timeout=10)
    assert sorted(e["type"] for e in published) == ["registration.dossier_registered"] * 30
    with pytest.raises(NotFound):
        rpc.get_dossier(dossier_ids[0], HELPDESK)


def test_the_parents_erasure_request_erases_by_the_same_rule(start_registration, rpc, clock, amqp_uri,
                                                              service_config):
    start_registration()
    dossier_id = rpc.register_dossier(sample_registration(clock.now().date(), 4), PARENT)["dossier"]["id"]
    assert rpc.erase_dossier(dossier_id, PARENT) == {"dossier_id": dossier_id}

    assert rows_left(service_config["DATABASE_URL"], [dossier_id]) == {"audit_log": 1}
    published = drain_queue(amqp_uri, "notification.registration_events", 2, timeout=10)
    assert [(e["type"], e["sequence"]) for e in published] == [
        ("registration.dossier_registered", 1), ("registration.dossier_erased", 2)]
    with pytest.raises(NotFound):
        rpc.erase_dossier(dossier_id, PARENT)
