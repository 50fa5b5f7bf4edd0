"""Matching in a real nameko container with the real registration service, on the real broker.

Registration's events build matching's read model; an accepted offer goes back to registration,
which enrolls the request. SQLite unless a test says otherwise (one PostgreSQL smoke test).
"""
import json
from datetime import timedelta

import pytest
import requests
import yaml
from kombu import Connection

from loket import contracts
from loket.errors import Conflict, Forbidden, InvalidInput, NotFound
from loket.testing import drain_queue, erasure_batch_requested, erasure_requested, publish_raw, queue_depth, wait_for
from matching.demo import demo_facility
from matching.rulesets import DEFAULT_DIR, RuleSetError
from registration.samples import sample_registration

HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}
PARENT = {"role": "parent", "actor_id": "account-1"}
EVENTS = "notification.matching_events"  # every matching event, in order, for the assertions
WEEK = {"mon": "full", "tue": "full", "wed": "full", "thu": "full"}


def manager(facility_id):
    return {"role": "facility_manager", "actor_id": f"manager-{facility_id}", "facility_ids": [facility_id]}


def register(registration, clock, n, facility_ids):
    """A dossier with one request (mon, tue full, thu morning) choosing `facility_ids`."""
    return registration.register_dossier(sample_registration(clock.now().date(), n, facility_ids=facility_ids),
                                         PARENT)["dossier"]


def declare(matching, clock, facility_id, weekdays=WEEK):
    start = (clock.now().date() + timedelta(days=60)).isoformat()
    return matching.declare_free_place(facility_id, {"start_date": start, "weekdays": weekdays}, manager(facility_id))


def ranked_ids(matching, place_id, facility_id):
    return [c["request_id"] for c in matching.rank_place(place_id, manager(facility_id))["candidates"]]


def wait_listed(matching, facility_id, dossier_ids):
    assert wait_for(lambda: matching.candidates_dossier_ids(facility_id, manager(facility_id)) == sorted(dossier_ids))


def test_requests_become_candidates_where_they_chose_and_urgent_ones_everywhere(start_matching, matching, registration,
                                                                                  clock, matching_config):
    start_matching()
    first = register(registration, clock, 0, ["fac-0001"])
    other = register(registration, clock, 1, ["fac-0002"])
    wait_listed(matching, "fac-0001", [first["id"]])
    wait_listed(matching, "fac-0002", [other["id"]])
    place = declare(matching, clock, "fac-0001")

    ranking = matching.rank_place(place["place_id"], manager("fac-0001"))
    assert ranking["rule_set_version"] == "kg-2013" and ranking["total"] == 1
    [candidate] = ranking["candidates"]
    assert candidate["request_id"] == first["requests"][0]["id"] and candidate["dossier_id"] == first["id"]
    assert candidate["reasons"][0].startswith("Dutch-language priority")  # n = 0: Dutch known, proof declared
    assert candidate["reasons"][-1].startswith("Then by registration")
    assert any(note.startswith("Dutch-language share: 0 of") for note in ranking["notes"])

    registration.mark_urgent(other["id"], {"request_id": other["requests"][0]["id"]}, HELPDESK)
    urgent_id = other["requests"][0]["id"]
    assert wait_for(lambda: urgent_id in ranked_ids(matching, place["place_id"], "fac-0001"))
    urgent = next(c for c in matching.rank_place(place["place_id"], manager("fac-0001"))["candidates"]
                  if c["request_id"] == urgent_id)
    assert urgent["reasons"][0].startswith("Urgent request")
    elsewhere = declare(matching, clock, "fac-0003")
    assert ranked_ids(matching, elsewhere["place_id"], "fac-0003") == [urgent_id]
    assert matching.candidates_dossier_ids("fac-0003", manager("fac-0003")) == [other["id"]]
    health = requests.get(f"http://{matching_config['WEB_SERVER_ADDRESS']}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = requests.get(f"http://{matching_config['WEB_SERVER_ADDRESS']}/metrics", timeout=5).text
    assert "loket_matching_candidates 2\n" in metrics and 'loket_matching_open{what="places"} 2\n' in metrics


def test_a_restricted_dossier_is_not_ranked_until_the_restriction_is_lifted(start_matching, matching, registration,
                                                                            clock):
    start_matching()
    dossier = register(registration, clock, 2, ["fac-0001"])
    wait_listed(matching, "fac-0001", [dossier["id"]])
    place = declare(matching, clock, "fac-0001")
    request_id = dossier["requests"][0]["id"]
    assert ranked_ids(matching, place["place_id"], "fac-0001") == [request_id]

    registration.set_restriction(dossier["id"], {"restricted": True}, PARENT)
    assert wait_for(lambda: ranked_ids(matching, place["place_id"], "fac-0001") == [])
    with pytest.raises(InvalidInput) as refused:
        matching.make_offer(place["place_id"], request_id, manager("fac-0001"))
    assert "restricted" in refused.value.errors["request_id"][0]
    registration.set_restriction(dossier["id"], {"restricted": False}, PARENT)
    assert wait_for(lambda: ranked_ids(matching, place["place_id"], "fac-0001") == [request_id])


def test_an_accepted_offer_enrolls_the_request_in_registration_and_fills_the_place(start_matching, matching,
                                                                                  registration, clock, amqp_uri):
    start_matching()
    dossier = register(registration, clock, 4, ["fac-0001", "fac-0002"])
    wait_listed(matching, "fac-0001", [dossier["id"]])
    request_id = dossier["requests"][0]["id"]
    place = declare(matching, clock, "fac-0001")
    assert matching.get_facility("fac-0001", manager("fac-0001"))["occupancy"]["enrolled"] == 0

    offer = matching.make_offer(place["place_id"], request_id, manager("fac-0001"))
    assert offer["status"] == "open" and offer["position"] == 1 and offer["rule_set_version"] == "kg-2013"
    assert offer["answer_deadline"] == (clock.now() + timedelta(days=14)).isoformat()  # fac-0001's window
    assert matching.get_place(place["place_id"], HELPDESK)["status"] == "offered"
    accepted = matching.answer_offer(offer["offer_id"], True, PARENT)
    assert accepted["status"] == "accepted"

    assert wait_for(lambda: registration.get_dossier(dossier["id"], HELPDESK)["requests"][0]["status"] == "enrolled")
    occupancy = lambda: matching.get_facility("fac-0001", manager("fac-0001"))["occupancy"]  # noqa: E731
    assert wait_for(lambda: occupancy()["enrolled"] == 1)
    # n = 4: Dutch known with proof, low income and work need: vulnerable (2 of 5, one of them core)
    assert occupancy()["enrolled_dutch_priority"] == 1 and occupancy()["enrolled_vulnerable"] == 1
    assert occupancy()["dutch_priority_offers_pending"] == 0
    assert matching.get_place(place["place_id"], HELPDESK)["status"] == "filled"
    # P21: the other facility it chose no longer sees the dossier; the enrolling one still does
    wait_listed(matching, "fac-0002", [])
    assert matching.candidates_dossier_ids("fac-0001", manager("fac-0001")) == [dossier["id"]]

    with pytest.raises(Conflict):
        matching.answer_offer(offer["offer_id"], True, PARENT)
    events = drain_queue(amqp_uri, EVENTS, 4, timeout=2)
    assert [e["type"] for e in events] == ["matching.place_declared", "matching.offer_made", "matching.offer_accepted"]
    assert [e["sequence"] for e in events[1:]] == [1, 2] and events[1]["aggregate_id"] == dossier["id"]


def test_an_unanswered_offer_lapses_by_the_clock_and_the_place_opens_again(start_matching, matching, registration,
                                                                          clock, amqp_uri):
    start_matching()
    dossier = register(registration, clock, 6, ["fac-0003"])  # fac-0003 answers within 10 days
    wait_listed(matching, "fac-0003", [dossier["id"]])
    place = declare(matching, clock, "fac-0003")
    offer = matching.make_offer(place["place_id"], dossier["requests"][0]["id"], manager("fac-0003"))

    clock.advance(days=9)
    assert not wait_for(lambda: matching.get_place(place["place_id"], HELPDESK)["status"] == "open", timeout=0.5)
    clock.advance(days=1, seconds=1)
    assert wait_for(lambda: matching.get_place(place["place_id"], HELPDESK)["status"] == "open")
    assert matching.get_place(place["place_id"], HELPDESK)["offers"][0]["status"] == "lapsed"
    with pytest.raises(Conflict):
        matching.answer_offer(offer["offer_id"], True, PARENT)
    types = [e["type"] for e in drain_queue(amqp_uri, EVENTS, 4, timeout=2)]
    assert types == ["matching.place_declared", "matching.offer_made", "matching.offer_lapsed"]
    # the place goes back to ranking: the same request may be offered it again
    assert matching.make_offer(place["place_id"], dossier["requests"][0]["id"], manager("fac-0003"))["status"] == "open"


def test_bad_input_gets_a_clear_error_and_changes_nothing(start_matching, matching, registration, clock, amqp_uri):
    start_matching()
    chose_it = register(registration, clock, 8, ["fac-0001"])
    chose_another = register(registration, clock, 9, ["fac-0002"])
    wait_listed(matching, "fac-0001", [chose_it["id"]])
    wait_listed(matching, "fac-0002", [chose_another["id"]])
    before = matching.get_facility("fac-0001", HELPDESK)

    with pytest.raises(NotFound):
        matching.declare_free_place("fac-9999", {"start_date": "2026-05-01", "weekdays": WEEK}, HELPDESK)
    with pytest.raises(InvalidInput) as closed:  # fac-0006 opens monday to thursday
        declare(matching, clock, "fac-0006", weekdays={"mon": "full", "fri": "full"})
    assert closed.value.errors == {"weekdays": ["The facility is closed on fri."]}
    with pytest.raises(InvalidInput) as share:
        matching.update_facility("fac-0001", {"dutch_share": 0.6}, manager("fac-0001"))
    assert share.value.errors["dutch_share"][0].startswith("The Dutch-language share is at most 55 %")
    with pytest.raises(InvalidInput) as share:
        matching.register_facility({**demo_facility(101), "dutch_share": 0.56}, HELPDESK)
    assert share.value.errors == {"dutch_share": [
        "The Dutch-language share is at most 55 % of the licensed places (rule set kg-2013)."]}
    with pytest.raises(InvalidInput) as registered:
        matching.register_facility({**demo_facility(101), "rule_set": "kg-1999", "answer_window_days": 12}, HELPDESK)
    assert set(registered.value.errors) == {"rule_set", "answer_window_days"}
    with pytest.raises(Forbidden):
        matching.update_facility("fac-0001", {"dutch_share": 0.5}, manager("fac-0002"))

    place = declare(matching, clock, "fac-0001")
    with pytest.raises(InvalidInput) as not_eligible:
        matching.make_offer(place["place_id"], chose_another["requests"][0]["id"], manager("fac-0001"))
    assert not_eligible.value.errors == {"request_id": ["The request did not choose this facility and is not urgent"]}
    with pytest.raises(Forbidden):  # an offer is the facility's proposal: not the helpdesk's
        matching.make_offer(place["place_id"], chose_it["requests"][0]["id"], HELPDESK)
    offer = matching.make_offer(place["place_id"], chose_it["requests"][0]["id"], manager("fac-0001"))
    matching.answer_offer(offer["offer_id"], True, PARENT)
    with pytest.raises(Conflict):
        matching.answer_offer(offer["offer_id"], False, HELPDESK)

    after = matching.get_facility("fac-0001", HELPDESK)
    enrolled = ("occupancy", "enrollments")  # what the accepted offer changed
    assert {k: v for k, v in after.items() if k not in enrolled} == {k: v for k, v in before.items()
                                                                     if k not in enrolled}
    with pytest.raises(NotFound):
        matching.get_facility("fac-0101")
    events = drain_queue(amqp_uri, EVENTS, 4, timeout=2)
    assert [e["type"] for e in events] == ["matching.place_declared", "matching.offer_made", "matching.offer_accepted"]
    assert matching.get_place(place["place_id"], HELPDESK)["offers"][0]["status"] == "accepted"


def publish_at_once(amqp_uri, events):
    """Over one connection, back to back: the service takes them in batches."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for body in events:
            producer.publish(json.dumps(body), exchange="loket.events", routing_key=body["type"],
                             content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                             message_id=body["id"])


def matching_receipts(amqp_uri, expected, timeout):
    """Matching's receipts (registration answers the same requests), checked: valid, version 2, of
    matching. Waits for `expected` of them, then as long again for any more (there must be none)."""
    receipts = []

    def answered():
        receipts.extend(r for r in drain_queue(amqp_uri, "retention.erasure_receipts", 200, timeout=0.5)
                        if r["type"] == "erasure_receipt.matching")
        return len(receipts) >= expected
    assert wait_for(answered, timeout=timeout)
    receipts.extend(r for r in drain_queue(amqp_uri, "retention.erasure_receipts", 200, timeout=1.5)
                    if r["type"] == "erasure_receipt.matching")
    for receipt in receipts:
        contracts.parse(receipt)
        assert (receipt["version"], receipt["producer"], receipt["data"]["service"]) == (2, "matching", "matching")
    return receipts


def nothing_left_about(matching, dossier_ids):
    return all(matching.personal_data(dossier_id) == {
        "dossier_id": dossier_id, "restricted": None, "requests": [], "offers": [], "enrollments": [],
        "staff_of_facilities": []} for dossier_id in dossier_ids)


def test_an_erasure_request_removes_the_dossier_and_answers_with_a_receipt(start_matching, matching, registration,
                                                                          clock, amqp_uri):
    start_matching()
    dossier = register(registration, clock, 10, ["fac-0001"])
    wait_listed(matching, "fac-0001", [dossier["id"]])
    place = declare(matching, clock, "fac-0001")
    matching.make_offer(place["place_id"], dossier["requests"][0]["id"], manager("fac-0001"))
    assert matching.personal_data(dossier["id"])["requests"]

    request = erasure_requested(dossier["id"], "run-7")  # version 1, still answered
    publish_raw(amqp_uri, request["type"], request)
    publish_raw(amqp_uri, request["type"], request)  # redelivered: one receipt

    [receipt] = matching_receipts(amqp_uri, 1, timeout=3)
    # in version 2, for the request's aggregate (the dossier) and sequence
    assert (receipt["aggregate_id"], receipt["sequence"]) == (dossier["id"], 1)
    [erased] = receipt["data"]["erased"]
    assert (erased["dossier_id"], erased["run_id"]) == (dossier["id"], "run-7") and erased["erased_rows"] > 0
    assert nothing_left_about(matching, [dossier["id"]])
    assert matching.candidates_dossier_ids("fac-0001", manager("fac-0001")) == []
    assert ranked_ids(matching, place["place_id"], "fac-0001") == []
    offered = matching.get_place(place["place_id"], HELPDESK)
    assert offered["status"] == "open" and offered["offers"][0]["dossier_id"] is None


def dossiers_to_erase(matching, registration, clock, numbers):
    """Dossiers choosing fac-0001 (the first on its staff, the second offered its open place) and one
    kept dossier (on its staff too): (the dossiers to erase, the kept one, the place)."""
    staff = manager("fac-0001")
    erased = [register(registration, clock, n, ["fac-0001"]) for n in numbers]
    kept = register(registration, clock, max(numbers) + 1, ["fac-0001"])
    erased_ids = [dossier["id"] for dossier in erased]
    matching.update_facility("fac-0001", {"staff_dossier_ids": [erased_ids[0], kept["id"]]}, staff)
    wait_listed(matching, "fac-0001", erased_ids + [kept["id"]])
    place = declare(matching, clock, "fac-0001")
    matching.make_offer(place["place_id"], erased[1]["requests"][0]["id"], staff)
    return erased_ids, kept, place


def only_the_kept_dossier_is_left(matching, amqp_uri, erased_ids, kept, place):
    staff = manager("fac-0001")
    assert nothing_left_about(matching, erased_ids)
    assert matching.candidates_dossier_ids("fac-0001", staff) == [kept["id"]]
    assert matching.get_facility("fac-0001", HELPDESK)["staff_dossier_ids"] == [kept["id"]]
    assert ranked_ids(matching, place["place_id"], "fac-0001") == [kept["requests"][0]["id"]]
    offered = matching.get_place(place["place_id"], HELPDESK)
    assert offered["status"] == "open" and offered["offers"][0]["dossier_id"] is None
    assert offered["offers"][0]["status"] == "lapsed"
    assert queue_depth(amqp_uri, "matching.erasure_requests.parked") == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_of_erasure_requests_is_answered_once_each_and_leaves_nothing_about_the_dossiers(
        backend, request, start_matching, matching, registration, clock, amqp_uri):
    start_matching(**({"DATABASE_URL": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}))
    erased_ids, kept, place = dossiers_to_erase(matching, registration, clock, range(30, 60))

    # Version 1, one dossier each (queued before an upgrade), all at once; three delivered twice.
    erasure_requests = [erasure_requested(dossier_id, "run-9") for dossier_id in erased_ids]
    publish_at_once(amqp_uri, erasure_requests + erasure_requests[:3])

    receipts = matching_receipts(amqp_uri, len(erased_ids), timeout=30)
    # one per request, none for the redelivered ones, each naming its request's dossier
    assert sorted(r["aggregate_id"] for r in receipts) == sorted(erased_ids)
    assert all([item["dossier_id"] for item in r["data"]["erased"]] == [r["aggregate_id"]] for r in receipts)
    erased = [item for r in receipts for item in r["data"]["erased"]]
    assert all(item["run_id"] == "run-9" and item["erased_rows"] >= 2 for item in erased)  # request, dossier
    only_the_kept_dossier_is_left(matching, amqp_uri, erased_ids, kept, place)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_erasure_request_erases_every_dossier_it_names_and_is_answered_by_one_receipt(
        backend, request, start_matching, matching, registration, clock, amqp_uri):
    start_matching(**({"DATABASE_URL": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}))
    erased_ids, kept, place = dossiers_to_erase(matching, registration, clock, range(70, 80))

    # Version 2: a run per dossier, many dossiers per request, one unknown to matching (erased
    # before); the first request delivered twice.
    first = erasure_batch_requested({**{dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased_ids[:6])},
                                     "unknown-dossier": "run-x"})
    second = erasure_batch_requested({dossier_id: f"run-{n}" for n, dossier_id in enumerate(erased_ids[6:], 6)})
    publish_at_once(amqp_uri, [first, second, first])

    receipts = matching_receipts(amqp_uri, 2, timeout=30)
    assert sorted(r["aggregate_id"] for r in receipts) == sorted([first["aggregate_id"], second["aggregate_id"]])
    for erasure_request in (first, second):
        [receipt] = [r for r in receipts if r["aggregate_id"] == erasure_request["aggregate_id"]]
        assert receipt["sequence"] == erasure_request["sequence"]
        # every dossier of the request, in its order, with its own run
        assert [(item["dossier_id"], item["run_id"]) for item in receipt["data"]["erased"]] == [
            (item["dossier_id"], item["run_id"]) for item in erasure_request["data"]["requests"]]
    rows = {item["dossier_id"]: item["erased_rows"] for r in receipts for item in r["data"]["erased"]}
    assert rows.pop("unknown-dossier") == 0 and min(rows.values()) >= 2  # request, dossier
    only_the_kept_dossier_is_left(matching, amqp_uri, erased_ids, kept, place)


def test_a_broken_rule_set_refuses_to_start(container_factory, matching_config, tmp_path):
    from matching.service import MatchingService
    folder = tmp_path / "rulesets"
    folder.mkdir()
    broken = yaml.safe_load((DEFAULT_DIR / "kg-2013.yaml").read_text())
    broken["quotas"]["dutch_priority"]["max_share"] = 1.5
    (folder / "kg-2013.yaml").write_text(yaml.safe_dump(broken))
    container = container_factory(MatchingService, {**matching_config, "RULE_SETS_DIR": str(folder)})
    with pytest.raises(RuleSetError) as refused:
        container.start()
    assert str(refused.value) == (f"rule set {folder / 'kg-2013.yaml'}: quotas.dutch_priority.max_share: "
                                  "must be a fraction above 0 and at most 1, got 1.5")


def test_offer_flow_on_postgresql(start_matching, matching, registration, clock, postgres_url, amqp_uri):
    start_matching(DATABASE_URL=postgres_url)
    dossier = register(registration, clock, 12, ["fac-0001"])
    wait_listed(matching, "fac-0001", [dossier["id"]])
    place = declare(matching, clock, "fac-0001")
    assert ranked_ids(matching, place["place_id"], "fac-0001") == [dossier["requests"][0]["id"]]
    offer = matching.make_offer(place["place_id"], dossier["requests"][0]["id"], manager("fac-0001"))
    matching.answer_offer(offer["offer_id"], True, PARENT)
    assert wait_for(lambda: matching.get_facility("fac-0001", HELPDESK)["occupancy"]["enrolled"] == 1)
    assert registration.get_dossier(dossier["id"], HELPDESK)["requests"][0]["status"] == "enrolled"
    assert queue_depth(amqp_uri, "matching.registration_events.parked") == 0


def test_health_says_not_ready_while_the_candidate_index_loads(amqp_uri):
    from types import SimpleNamespace

    from nameko.testing.services import worker_factory

    from matching.service import MatchingService
    for loaded, status in ((False, 503), (True, 200)):
        service = worker_factory(MatchingService, config={"AMQP_URI": amqp_uri},
                                 candidates=SimpleNamespace(loaded=loaded))
        code, _, body = service.health(None)
        assert code == status
        assert ("candidate_index" in body) is not loaded


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_child_who_leaves_frees_its_seat_of_the_dutch_share_for_the_next_ranking(backend, request, start_matching,
                                                                                   matching, registration, clock,
                                                                                   amqp_uri):
    start_matching(**({"DATABASE_URL": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}))
    staff = manager("fac-0001")
    matching.update_facility("fac-0001", {"licensed_capacity": 2, "dutch_share": 0.5}, staff)  # 1 Dutch seat
    leaving, waiting = (register(registration, clock, n, ["fac-0001"]) for n in (20, 22))  # even n: Dutch, proof
    wait_listed(matching, "fac-0001", [leaving["id"], waiting["id"]])
    leaving_request, waiting_request = leaving["requests"][0]["id"], waiting["requests"][0]["id"]
    first = declare(matching, clock, "fac-0001")
    offer = matching.make_offer(first["place_id"], leaving_request, staff)
    assert offer["dutch_priority"]
    matching.answer_offer(offer["offer_id"], True, PARENT)
    assert wait_for(lambda: matching.get_facility("fac-0001", staff)["occupancy"]["enrolled_dutch_priority"] == 1)
    [enrollment] = matching.get_facility("fac-0001", staff)["enrollments"]
    assert (enrollment["request_id"], enrollment["left_on"]) == (leaving_request, None)

    second = declare(matching, clock, "fac-0001")
    full = matching.rank_place(second["place_id"], staff)
    assert "Dutch-language share: 1 of 1 seats taken (no priority now)" in full["notes"]
    assert [(c["request_id"], c["dutch_priority"]) for c in full["candidates"]] == [(waiting_request, False)]

    with pytest.raises(InvalidInput) as refused:
        matching.record_departure("fac-0001", {"request_id": leaving_request}, staff)
    assert refused.value.errors == {"left_on": ["Missing data for required field."]}
    with pytest.raises(Forbidden):
        matching.record_departure("fac-0001", {"request_id": leaving_request, "left_on": "2026-03-02"},
                                  manager("fac-0002"))
    with pytest.raises(NotFound):
        matching.record_departure("fac-9999", {"request_id": leaving_request, "left_on": "2026-03-02"}, HELPDESK)
    assert matching.get_facility("fac-0001", staff)["occupancy"]["enrolled"] == 1  # nothing changed

    departed = matching.record_departure("fac-0001", {"request_id": leaving_request,
                                                      "left_on": clock.now().date().isoformat()}, staff)
    assert (departed["enrollment_id"], departed["left_on"]) == (enrollment["enrollment_id"], "2026-03-02")
    room = matching.rank_place(second["place_id"], staff)
    assert "Dutch-language share: 0 of 1 seats taken (priority applies)" in room["notes"]
    assert [(c["request_id"], c["dutch_priority"]) for c in room["candidates"]] == [(waiting_request, True)]
    assert room["occupancy"]["enrolled"] == 0 and matching.get_facility("fac-0001", staff)["enrollments"] == []
    with pytest.raises(Conflict):
        matching.record_departure("fac-0001", {"enrollment_id": enrollment["enrollment_id"],
                                               "left_on": "2026-03-03"}, HELPDESK)
    assert matching.make_offer(second["place_id"], waiting_request, staff)["dutch_priority"]

    events = drain_queue(amqp_uri, EVENTS, 7, timeout=2)
    [departure] = [e for e in events if e["type"] == "matching.departure_recorded"]
    assert (departure["aggregate_id"], departure["sequence"]) == (leaving["id"], 3)  # after offer_made, _accepted
    assert departure["data"] == {"enrollment_id": enrollment["enrollment_id"], "facility_id": "fac-0001",
                                 "dossier_id": leaving["id"], "request_id": leaving_request, "left_on": "2026-03-02"}
