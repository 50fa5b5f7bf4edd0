"""Registration's consumers: an accepted offer enrolls; erasure requests erase and answer with a receipt
each (version 2, listing every dossier of the request; version-1 requests, one dossier each, queued
before an upgrade, are still answered)."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket import contracts, parking
from loket.crypto import Keyring
from loket.db import create_db_engine
from loket.errors import NotFound
from loket.outbox import EventRecorder
from loket.tables import outbox
from loket.testing import drain_queue, erasure_batch_requested, erasure_requested, publish_raw, wait_for
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


def answers(receipt) -> tuple:
    """What a receipt answers (it is valid, version 2, of registration): its request's aggregate and
    sequence, and {dossier id: (run id, rows erased)} in its order."""
    contracts.parse(receipt)
    assert (receipt["type"], receipt["version"], receipt["producer"], receipt["data"]["service"]) == (
        "erasure_receipt.registration", 2, "registration", "registration")
    return receipt["aggregate_id"], receipt["sequence"], {
        erased["dossier_id"]: (erased["run_id"], erased["erased_rows"]) for erased in receipt["data"]["erased"]}


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
    assert len(receipts) == 1
    # Answered in version 2, for the request's aggregate (the dossier) and sequence.
    aggregate_id, sequence, erased = answers(receipts[0])
    assert (aggregate_id, sequence, list(erased)) == (dossier["id"], 1, [dossier["id"]])
    assert erased[dossier["id"]][0] == "run-1" and erased[dossier["id"]][1] >= 8
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


def relayed_then_stopped(start_registration, service_config, clock, amqp_uri, count) -> list:
    """`count` dossiers registered into the stopped service's database, then relayed by a first run
    of it, which stops once its outbox is empty: ids. Their dossier_registered events are taken from
    notification's queue; an erasure backlog published next waits when the service starts again
    (had it been queued at the first start, erasure could drop a registration before its relay)."""
    dossier_ids = register_before_start(service_config["DATABASE_URL"], service_config["ENCRYPTION_KEYS"],
                                        clock.now(), count)
    container = start_registration()
    published = drain_queue(amqp_uri, "notification.registration_events", count, timeout=10)
    assert sorted((e["type"], e["aggregate_id"]) for e in published) == [
        ("registration.dossier_registered", dossier_id) for dossier_id in sorted(dossier_ids)]
    assert wait_for(lambda: outbox_rows(service_config["DATABASE_URL"]) == 0)
    container.stop()
    return dossier_ids


def outbox_rows(database_url) -> int:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(outbox))
    finally:
        engine.dispose()


def test_a_backlog_of_erasure_requests_is_erased_and_each_request_answered(
        start_registration, rpc, clock, amqp_uri, service_config):
    dossier_ids = relayed_then_stopped(start_registration, service_config, clock, amqp_uri, 30)
    # Retention starts its erasures at once: the whole backlog waits in the queue when the service
    # starts, with a redelivered request and one for a dossier registration does not know (erased before).
    requests = [erasure_requested(dossier_id, run_id="run-9") for dossier_id in [*dossier_ids, "unknown-dossier"]]
    for request in [*requests, requests[4]]:
        publish_raw(amqp_uri, request["type"], request)
    start_registration()

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 31, timeout=15)
    assert drain_queue(amqp_uri, "retention.erasure_receipts", 1, timeout=1) == []  # none for the redelivery
    # One receipt per request, each naming the request's one dossier (its aggregate).
    answered = [answers(receipt) for receipt in receipts]
    assert sorted(aggregate_id for aggregate_id, _, _ in answered) == sorted([*dossier_ids, "unknown-dossier"])
    assert all(list(erased) == [aggregate_id] and sequence == 1 for aggregate_id, sequence, erased in answered)
    erased = {dossier_id: item for _, _, one in answered for dossier_id, item in one.items()}
    assert {run_id for run_id, _ in erased.values()} == {"run-9"}
    erased_rows = {dossier_id: rows for dossier_id, (_, rows) in erased.items()}
    assert erased_rows.pop("unknown-dossier") == 0 and min(erased_rows.values()) >= 8
    # Nothing of the dossiers is left but the audit entry of each erasure. The others are not told
    # again: retention asked each of them too (only the 30 registrations reach them).
    assert rows_left(service_config["DATABASE_URL"], dossier_ids) == {"audit_log": 30}
    assert drain_queue(amqp_uri, "notification.registration_events", 1, timeout=2) == []
    with pytest.raises(NotFound):
        rpc.get_dossier(dossier_ids[0], HELPDESK)


def test_a_batch_erasure_request_erases_every_dossier_it_names_and_is_answered_by_one_receipt(
        start_registration, rpc, clock, amqp_uri, service_config):
    dossier_ids = relayed_then_stopped(start_registration, service_config, clock, amqp_uri, 13)
    erased_ids, kept_id = dossier_ids[:12], dossier_ids[12]
    # Retention's version 2: a run per dossier, many dossiers per request; one of them registration
    # does not know (erased before). The first request is redelivered.
    first = erasure_batch_requested({**{dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased_ids[:7])},
                                     "unknown-dossier": "run-x"})
    second = erasure_batch_requested({dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased_ids[7:], 7)})
    for request in (first, second, first):
        publish_raw(amqp_uri, request["type"], request)
    start_registration()

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 3, timeout=15)
    assert drain_queue(amqp_uri, "retention.erasure_receipts", 1, timeout=1) == []
    assert len(receipts) == 2  # one per request, none for the redelivery
    answered = {aggregate_id: (sequence, erased) for aggregate_id, sequence, erased in map(answers, receipts)}
    assert set(answered) == {first["aggregate_id"], second["aggregate_id"]}
    for request in (first, second):
        sequence, erased = answered[request["aggregate_id"]]
        assert sequence == request["sequence"]
        # every dossier of the request, in its order, with its own run
        assert [(dossier_id, run_id) for dossier_id, (run_id, _) in erased.items()] == [
            (item["dossier_id"], item["run_id"]) for item in request["data"]["requests"]]
    erased_rows = {dossier_id: rows for _, erased in answered.values() for dossier_id, (_, rows) in erased.items()}
    assert erased_rows.pop("unknown-dossier") == 0 and min(erased_rows.values()) >= 8
    assert rows_left(service_config["DATABASE_URL"], erased_ids) == {"audit_log": 12}
    for dossier_id in erased_ids:
        with pytest.raises(NotFound):
            rpc.get_dossier(dossier_id, HELPDESK)
    assert rpc.get_dossier(kept_id, HELPDESK)["id"] == kept_id
    assert rows_left(service_config["DATABASE_URL"], [kept_id]) != {}
    # No dossier_erased: retention asked the other holders itself.
    assert drain_queue(amqp_uri, "notification.registration_events", 1, timeout=2) == []


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
