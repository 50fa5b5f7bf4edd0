"""Parked messages of erased dossiers go, also version-2 erasure events, whose aggregate is their batch
and which name many dossiers (real broker, a vhost per test)."""
import pytest

from loket import parking, topology
from loket.consumer import ATTEMPT_HEADER, ERROR_HEADER
from loket.contracts import envelope
from loket.contracts.retention import (
    ERASURE_COMPLETED, ERASURE_REQUESTED, batch_aggregate, dossiers_named, receipt_type)
from loket.erasure import forget_parked_all
from loket.testing import erasure_batch_requested, erasure_requested, publish_raw

PING = "registration.test_ping"  # registered by conftest.py, routed like a registration event
REQUESTS = "registration.erasure_requests"
MATCHING_EVENTS = "registration.matching_events"


def batch_request(*dossier_ids):
    """A version-2 erasure request naming the dossiers, as retention records it."""
    return erasure_batch_requested({dossier_id: f"run-{dossier_id}" for dossier_id in dossier_ids})


def single_request(dossier_id):
    """A version-1 erasure request (one dossier, its aggregate), queued before the upgrade."""
    return erasure_requested(dossier_id, f"run-{dossier_id}", reason="parent_request")


def ping(dossier_id):
    return envelope(PING, {"n": 1}, aggregate_id=dossier_id, sequence=1, producer="registration")


def park(amqp_uri, subscription, *bodies):
    """Put messages in the subscription's parked queue, as the consumer parks them."""
    for body in bodies:
        publish_raw(amqp_uri, topology.parked_queue_name(subscription), body, exchange="",
                    headers={ATTEMPT_HEADER: 3, ERROR_HEADER: "RuntimeError: handler failed"})


def parked_ids(amqp_uri, subscription):
    return [item["event_id"] for item in parking.list_parked(amqp_uri, subscription)]


@pytest.fixture
def broker(amqp_uri):
    topology.declare_all(amqp_uri)
    return amqp_uri


def test_dossiers_named_reads_the_items_of_version_2_erasure_events_and_the_aggregate_of_the_rest():
    assert dossiers_named(batch_request("dos-a", "dos-b", "dos-a")) == ["dos-a", "dos-b"]
    receipt = envelope(receipt_type("matching"), {"service": "matching", "erased": [
        {"dossier_id": "dos-c", "run_id": "run-c", "erased_rows": 2},
        {"dossier_id": "dos-d", "run_id": "run-d", "erased_rows": 0}]},
        aggregate_id=batch_aggregate("b-1"), sequence=1, producer="matching", version=2)
    assert dossiers_named(receipt) == ["dos-c", "dos-d"]
    completed = envelope(ERASURE_COMPLETED, {"completed": [
        {"dossier_id": "dos-e", "run_id": "run-e", "reason": "parent_request"}]},
        aggregate_id=batch_aggregate("b-2"), sequence=1, producer="retention", version=2)
    assert dossiers_named(completed) == ["dos-e"]
    # version 1 and every other event: the aggregate is the dossier
    assert dossiers_named(single_request("dos-f")) == ["dos-f"]
    v1_receipt = envelope(receipt_type("notification"), {"dossier_id": "dos-g", "run_id": "run-g",
                                                         "service": "notification", "erased_rows": 1},
                          aggregate_id="dos-g", sequence=1, producer="notification")
    assert dossiers_named(v1_receipt) == ["dos-g"]
    assert dossiers_named(ping("dos-h")) == ["dos-h"]
    # a version-2 event of another type is about its aggregate
    assert dossiers_named({**ping("dos-i"), "version": 2}) == ["dos-i"]


def test_dossiers_named_of_a_parked_message_that_breaks_its_contract_names_what_it_can_read():
    broken = batch_request("dos-a", "dos-b")
    broken["data"]["requests"] += [{"run_id": "run-x"}, "dos-y", {"dossier_id": 7}]
    assert dossiers_named(broken) == ["dos-a", "dos-b"]
    assert dossiers_named({**broken, "data": {"requests": "dos-a"}}) == []
    assert dossiers_named({**broken, "data": None}) == []
    # the batch aggregate is never read as a dossier
    assert dossiers_named({**broken, "data": {}}) == []
    assert dossiers_named({"type": PING, "aggregate_id": None}) == []
    assert dossiers_named(["dos-a"]) == [] and dossiers_named("dos-a") == []


def test_a_parked_batch_request_naming_an_erased_dossier_goes_and_the_rest_stay_in_order(broker):
    before, after = batch_request("dos-c", "dos-d"), single_request("dos-a")
    batch = batch_request("dos-a", "dos-b")
    park(broker, REQUESTS, before, batch, after)

    listed = parking.list_parked(broker, REQUESTS)
    assert [item["dossiers"] for item in listed] == [["dos-c", "dos-d"], ["dos-a", "dos-b"], ["dos-a"]]
    # the old keys stay as they were: the aggregate of a batch request is its batch
    assert listed[1] == {"event_id": batch["id"], "type": ERASURE_REQUESTED, "aggregate_id": batch["aggregate_id"],
                         "dossiers": ["dos-a", "dos-b"], "attempts": 3, "error": "RuntimeError: handler failed"}

    assert parking.purge_aggregates(broker, [REQUESTS], ["dos-b"]) == 1
    assert parked_ids(broker, REQUESTS) == [before["id"], after["id"]]
    assert parking.purge_aggregates(broker, [REQUESTS], ["dos-b"]) == 0
    assert parked_ids(broker, REQUESTS) == [before["id"], after["id"]]


def test_version_1_messages_are_still_purged_by_their_aggregate(broker):
    kept, erased = single_request("dos-a"), single_request("dos-b")
    park(broker, REQUESTS, kept, erased, batch_request("dos-c"))
    assert parking.purge_aggregate(broker, REQUESTS, "dos-b") == 1
    assert parking.purge_aggregates(broker, [REQUESTS], ["dos-c", "dos-z"]) == 1
    assert parked_ids(broker, REQUESTS) == [kept["id"]]


def test_a_holder_forgets_its_parked_messages_of_the_erased_dossiers_in_every_subscription(broker):
    batch, unrelated_batch = batch_request("dos-a", "dos-b"), batch_request("dos-c")
    event_b, event_c = ping("dos-b"), ping("dos-c")
    park(broker, REQUESTS, batch, unrelated_batch)
    park(broker, MATCHING_EVENTS, event_b, event_c)
    park(broker, "matching.erasure_requests", batch)  # another holder's: it forgets its own

    assert forget_parked_all(broker, "registration", ["dos-b"]) == 2
    assert parked_ids(broker, REQUESTS) == [unrelated_batch["id"]]
    assert parked_ids(broker, MATCHING_EVENTS) == [event_c["id"]]
    assert parked_ids(broker, "matching.erasure_requests") == [batch["id"]]


def test_purge_erased_removes_only_what_names_nothing_but_erased_dossiers(broker):
    both, half, v1_erased, v1_live = (batch_request("dos-a", "dos-b"), batch_request("dos-a", "dos-c"),
                                      single_request("dos-b"), single_request("dos-c"))
    unreadable = {**batch_request("dos-a"), "data": {}}  # names no dossier: never taken for erased
    park(broker, REQUESTS, both, half, v1_erased, unreadable, v1_live)

    assert parking.purge_erased(broker, [REQUESTS], ["dos-a", "dos-b"]) == 2
    assert parked_ids(broker, REQUESTS) == [half["id"], unreadable["id"], v1_live["id"]]
    assert parking.purge_erased(broker, [REQUESTS], ["dos-a", "dos-b", "dos-c"]) == 2
    assert parked_ids(broker, REQUESTS) == [unreadable["id"]]


def test_a_parked_message_that_is_not_json_is_listed_and_survives_an_erasure_purge(broker):
    erased = batch_request("dos-a")
    park(broker, REQUESTS, "not json {", erased)

    [garbage, _] = parking.list_parked(broker, REQUESTS)
    assert (garbage["event_id"], garbage["dossiers"], garbage["attempts"]) == (None, [], 3)
    assert forget_parked_all(broker, "registration", ["dos-a"]) == 1
    assert [item["event_id"] for item in parking.list_parked(broker, REQUESTS)] == [None]
