"""Registration's consumers: an accepted offer enrolls; an erasure request erases and answers with a receipt."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from loket import contracts, parking
from loket.errors import NotFound
from loket.testing import drain_queue, publish_raw, wait_for
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


def test_an_erasure_request_erases_the_dossier_and_answers_once(start_registration, rpc, clock, amqp_uri):
    start_registration()
    dossier = rpc.register_dossier(sample_registration(clock.now().date(), 3), PARENT)["dossier"]
    request = contracts.envelope("retention.erasure_requested", {
        "dossier_id": dossier["id"], "run_id": "run-1", "reason": "retention_expired"},
        aggregate_id=dossier["id"], sequence=1, producer="retention")
    publish_raw(amqp_uri, request["type"], request)
    publish_raw(amqp_uri, request["type"], request)  # a redelivered request answers nothing twice

    receipts = drain_queue(amqp_uri, "retention.erasure_receipts", 2, timeout=5)
    assert [r["data"]["service"] for r in receipts] == ["registration"]
    assert receipts[0]["data"]["run_id"] == "run-1"
    with pytest.raises(NotFound):
        rpc.get_dossier(dossier["id"], HELPDESK)
