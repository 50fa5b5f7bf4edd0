"""The erasure saga's contracts (loket.contracts.retention): version 2 carries 1..ERASURES_PER_EVENT
dossiers per event, version 1 one; both are read per dossier by `requested_erasures` and
`receipted_erasures`, and loket.erasure answers each request with one version-2 receipt."""
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket import contracts
from loket.contracts import ContractError, retention
from loket.contracts.retention import (
    ERASURE_COMPLETED, ERASURE_REQUESTED, ERASURES_PER_EVENT, batch_aggregate, receipt_type, receipted_erasures,
    requested_erasures,
)
from loket.db import create_db_engine
from loket.erasure import dossier_ids, record_receipts
from loket.outbox import EventRecorder
from loket.tables import outbox, platform_metadata

TOO_MANY = ["Length must be between 1 and 200."]


def request_item(n, reason="retention_expired"):
    return {"dossier_id": f"dos-{n}", "run_id": f"run-{n}", "reason": reason}


def erased_item(n):
    return {"dossier_id": f"dos-{n}", "run_id": f"run-{n}", "erased_rows": n}


# (event type, list field, one valid item) of every version-2 contract.
BATCHES = [
    (ERASURE_REQUESTED, "requests", request_item),
    (ERASURE_COMPLETED, "completed", request_item),
    *[(receipt_type(service), "erased", erased_item) for service in retention.DATA_HOLDERS],
]
BATCH_IDS = [event_type for event_type, *_ in BATCHES]


def batch_data(event_type, field, item, count):
    data = {field: [item(n) for n in range(count)]}
    if event_type.startswith(retention.RECEIPT_PREFIX):
        data["service"] = event_type.removeprefix(retention.RECEIPT_PREFIX)
    return data


def batch_event(event_type, data):
    return contracts.envelope(event_type, data, aggregate_id=batch_aggregate(str(uuid.uuid4())), sequence=1,
                              producer="retention" if event_type.startswith("retention.") else
                              event_type.removeprefix(retention.RECEIPT_PREFIX), version=2)


def refused_by_parse(event):
    with pytest.raises(ContractError) as refused:
        contracts.parse(json.loads(json.dumps(event)))
    return refused.value.errors


@pytest.mark.parametrize(("event_type", "field", "item"), BATCHES, ids=BATCH_IDS)
@pytest.mark.parametrize("count", [1, 2, ERASURES_PER_EVENT])
def test_a_version_2_event_carries_1_to_200_erasures_and_parses_as_built(event_type, field, item, count):
    data = batch_data(event_type, field, item, count)
    assert contracts.schema_for(event_type, 2).validate(data) == {}
    event = batch_event(event_type, data)
    assert (event["version"], event["sequence"]) == (2, 1)
    assert event["aggregate_id"].startswith("erasure_batch:")
    received = json.loads(json.dumps(event))
    assert contracts.parse(received) == event
    assert len(received["data"][field]) == count


@pytest.mark.parametrize(("event_type", "field", "item"), BATCHES, ids=BATCH_IDS)
@pytest.mark.parametrize("count", [0, ERASURES_PER_EVENT + 1])
def test_a_version_2_event_of_no_or_too_many_erasures_is_refused_on_its_list(event_type, field, item, count):
    data = batch_data(event_type, field, item, count)
    assert contracts.schema_for(event_type, 2).validate(data) == {field: TOO_MANY}
    with pytest.raises(ContractError) as refused:
        batch_event(event_type, data)
    assert refused.value.errors == {"data": {field: TOO_MANY}}
    valid = batch_event(event_type, batch_data(event_type, field, item, 1))
    assert refused_by_parse({**valid, "data": data}) == {"data": {field: TOO_MANY}}


@pytest.mark.parametrize(("event_type", "field", "item"), BATCHES, ids=BATCH_IDS)
def test_an_unknown_field_in_an_item_is_refused_with_its_place(event_type, field, item):
    data = batch_data(event_type, field, item, 3)
    data[field][1]["name"] = "Sara Peeters"
    unknown = {field: {1: {"name": ["Unknown field."]}}}
    assert contracts.schema_for(event_type, 2).validate(data) == unknown
    with pytest.raises(ContractError) as refused:
        batch_event(event_type, data)
    assert refused.value.errors == {"data": unknown}
    valid = batch_event(event_type, batch_data(event_type, field, item, 3))
    assert refused_by_parse({**valid, "data": data}) == {"data": unknown}


@pytest.mark.parametrize(("event_type", "field", "item"), BATCHES, ids=BATCH_IDS)
def test_an_item_is_checked_by_its_own_rules(event_type, field, item):
    data = batch_data(event_type, field, item, 2)
    key, value = ("erased_rows", -1) if field == "erased" else ("reason", "bored")
    data[field][1][key] = value
    errors = contracts.schema_for(event_type, 2).validate(data)
    assert list(errors) == [field] and list(errors[field]) == [1] and list(errors[field][1]) == [key]
    valid = batch_event(event_type, batch_data(event_type, field, item, 2))
    assert refused_by_parse({**valid, "data": data}) == {"data": errors}


def test_a_version_2_receipt_names_a_data_holder_and_only_its_own_type():
    assert contracts.schema_for(receipt_type("matching"), 2).validate(
        {"service": "gateway", "erased": [erased_item(1)]}) == {"service": ["Must be one of: " + ", ".join(
            retention.DATA_HOLDERS) + "."]}
    with pytest.raises(ContractError):
        contracts.schema_for(receipt_type("gateway"), 2)


def test_version_1_is_still_one_erasure_per_event():
    event = contracts.envelope(ERASURE_REQUESTED, request_item(1), aggregate_id="dos-1", sequence=2,
                               producer="retention")
    assert contracts.parse(json.loads(json.dumps(event))) == event
    assert refused_by_parse({**event, "data": {"requests": [request_item(1)]}}) == {"data": {
        "dossier_id": ["Missing data for required field."], "run_id": ["Missing data for required field."],
        "reason": ["Missing data for required field."]}}


def test_requested_erasures_reads_both_versions_per_dossier():
    single = contracts.envelope(ERASURE_REQUESTED, request_item(1), aggregate_id="dos-1", sequence=1,
                                producer="retention")
    batch = batch_event(ERASURE_REQUESTED, {"requests": [request_item(2), request_item(3, "parent_request")]})
    assert requested_erasures(single) == [request_item(1)]
    assert requested_erasures(batch) == [request_item(2), request_item(3, "parent_request")]
    # A version-1 body from before versions were written out.
    assert requested_erasures({key: value for key, value in single.items() if key != "version"}) == [request_item(1)]


def test_receipted_erasures_reads_both_versions_with_the_service_on_each():
    single = contracts.envelope(receipt_type("notification"), {
        "dossier_id": "dos-1", "run_id": "run-1", "service": "notification", "erased_rows": 4},
        aggregate_id="dos-1", sequence=1, producer="notification")
    batch = batch_event(receipt_type("matching"), {"service": "matching", "erased": [erased_item(2), erased_item(0)]})
    assert receipted_erasures(single) == [
        {"dossier_id": "dos-1", "run_id": "run-1", "service": "notification", "erased_rows": 4}]
    assert receipted_erasures(batch) == [
        {"dossier_id": "dos-2", "run_id": "run-2", "service": "matching", "erased_rows": 2},
        {"dossier_id": "dos-0", "run_id": "run-0", "service": "matching", "erased_rows": 0}]
    assert batch["data"]["erased"] == [erased_item(2), erased_item(0)]  # read, not changed


def test_batch_aggregate_names_the_batch():
    assert batch_aggregate("5f0c") == "erasure_batch:5f0c"


def v1_request(n, sequence=1):
    return contracts.envelope(ERASURE_REQUESTED, request_item(n), aggregate_id=f"dos-{n}", sequence=sequence,
                              producer="retention")


def v2_request(*numbers):
    return batch_event(ERASURE_REQUESTED, {"requests": [request_item(n) for n in numbers]})


def test_dossier_ids_over_both_versions_gives_each_dossier_once_in_order():
    events = [v1_request(1), v2_request(2, 1, 3), v1_request(4), v2_request(3, 5), v1_request(2, sequence=2)]
    assert dossier_ids(events) == ["dos-1", "dos-2", "dos-3", "dos-4", "dos-5"]
    assert dossier_ids([v2_request(7)]) == ["dos-7"]
    assert dossier_ids([]) == []


def test_each_request_is_answered_by_one_version_2_receipt_of_all_its_dossiers(database_url):
    engine = create_db_engine(database_url)
    platform_metadata.create_all(engine)
    requests = [v2_request(1, 2, 3), v1_request(4, sequence=3), v2_request(2, 5)]
    try:
        with Session(engine) as session, session.begin():
            record_receipts(session, EventRecorder("matching"), "matching", requests,
                            {"dos-1": 5, "dos-2": 1, "dos-4": 2})  # 3 and 5 it did not know
        with engine.connect() as connection:
            rows = connection.execute(select(outbox.c.event_type, outbox.c.aggregate_id, outbox.c.body)
                                      .order_by(outbox.c.id)).all()
    finally:
        engine.dispose()
    receipts = [contracts.parse(json.loads(row.body)) for row in rows]
    assert [(row.event_type, row.aggregate_id) for row in rows] == [
        (receipt_type("matching"), request["aggregate_id"]) for request in requests]
    assert [(r["type"], r["version"], r["aggregate_id"], r["sequence"], r["producer"]) for r in receipts] == [
        (receipt_type("matching"), 2, request["aggregate_id"], request["sequence"], "matching")
        for request in requests]
    assert [r["data"] for r in receipts] == [
        {"service": "matching", "erased": [
            {"dossier_id": "dos-1", "run_id": "run-1", "erased_rows": 5},
            {"dossier_id": "dos-2", "run_id": "run-2", "erased_rows": 1},
            {"dossier_id": "dos-3", "run_id": "run-3", "erased_rows": 0}]},
        {"service": "matching", "erased": [{"dossier_id": "dos-4", "run_id": "run-4", "erased_rows": 2}]},
        {"service": "matching", "erased": [
            {"dossier_id": "dos-2", "run_id": "run-2", "erased_rows": 1},
            {"dossier_id": "dos-5", "run_id": "run-5", "erased_rows": 0}]}]
