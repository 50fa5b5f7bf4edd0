"""Rebuilding matching's read model from scratch, with the real registration service on the real broker:
reset matching's read model (python -m matching.rebuild), replay registration's dossiers (python -m
registration.replay, published by the running service's relay), and matching ranks as before. Only
matching receives the replay: notification's, consent-export's and retention's queues get nothing."""
import subprocess
import sys
from datetime import timedelta

import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy

from loket.crypto import Keyring
from loket.testing import base_config, wait_for
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-1"}
HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}
NOT_FOR_REPLAYS = ("notification.registration_events", "consent_export.registration_events",
                   "retention.activity_events")


def manager(facility_id):
    return {"role": "facility_manager", "actor_id": f"manager-{facility_id}", "facility_ids": [facility_id]}


@pytest.fixture
def registration_url(tmp_path):
    return f"sqlite:///{tmp_path / 'registration-replayed.sqlite'}"


@pytest.fixture
def registration(start_service, amqp_uri, registration_url, clock):
    from registration.service import RegistrationService

    config = base_config(amqp_uri, registration_url, ENCRYPTION_KEYS=Keyring.generate_key())
    start_service(RegistrationService, config, clock=clock)
    with ServiceRpcProxy("registration", config) as proxy:
        yield proxy


def run(module, *args):
    """A command as an operator runs it, in a process of its own."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def settled_depths(amqp_uri, queues=NOT_FOR_REPLAYS):
    """The messages waiting in the queues a replay must not reach, once nothing arrives there any more
    (asked the broker itself: the management API's counts lag by seconds)."""
    depths = {}

    def settled():
        nonlocal depths
        with Connection(amqp_uri) as connection:
            channel = connection.channel()
            previous, depths = depths, {queue: channel.queue_declare(queue, passive=True).message_count
                                        for queue in queues}
        return depths == previous

    assert wait_for(settled, interval=1.0)
    return depths


def what_matching_shows(matching, places):
    """Rankings of the places, the dossiers each facility may see, and the facilities' occupancy."""
    facility_ids = sorted({facility_id for facility_id, _ in places} | {"fac-0003"})
    return {
        "rankings": {place_id: matching.rank_place(place_id, manager(facility_id))["candidates"]
                     for facility_id, place_id in places},
        "candidates": {facility_id: matching.candidates_dossier_ids(facility_id, manager(facility_id))
                       for facility_id in facility_ids},
        "occupancy": {facility_id: matching.get_facility(facility_id, manager(facility_id))["occupancy"]
                      for facility_id in facility_ids},
    }


def test_a_reset_read_model_is_rebuilt_from_registrations_replay_and_ranks_as_before(
        start_matching, matching, registration, clock, matching_config, registration_url, amqp_uri):
    start_matching()
    register = lambda n, facility_ids: registration.register_dossier(  # noqa: E731
        sample_registration(clock.now().date(), n, facility_ids=facility_ids), PARENT)["dossier"]
    chose_first = [register(n, ["fac-0001", "fac-0002"]) for n in range(4)]
    urgent, restricted, erased = register(4, ["fac-0002"]), register(5, ["fac-0001"]), register(6, ["fac-0001"])
    registration.mark_urgent(urgent["id"], {"request_id": urgent["requests"][0]["id"]}, HELPDESK)
    registration.set_restriction(restricted["id"], {"restricted": True}, PARENT)
    registration.erase_dossier(erased["id"], PARENT)
    start = (clock.now().date() + timedelta(days=60)).isoformat()
    places = [(facility_id, matching.declare_free_place(
        facility_id, {"start_date": start, "weekdays": dict.fromkeys(("mon", "tue", "wed", "thu"), "full")}, manager(facility_id)))
        for facility_id in ("fac-0001", "fac-0002", "fac-0002")]
    places = [(facility_id, place["place_id"]) for facility_id, place in places]
    # one child enrolled at fac-0002 (an accepted offer), one offer still open
    assert wait_for(lambda: len(matching.rank_place(places[1][1], manager("fac-0002"))["candidates"]) == 5)
    enrolled = chose_first[3]
    offer = matching.make_offer(places[1][1], enrolled["requests"][0]["id"], manager("fac-0002"))
    matching.answer_offer(offer["offer_id"], True, PARENT)
    matching.make_offer(places[2][1], urgent["requests"][0]["id"], manager("fac-0002"))
    assert wait_for(lambda: matching.candidates_dossier_ids("fac-0003", manager("fac-0003")) == [urgent["id"]])
    assert wait_for(lambda: enrolled["id"] not in
                    [c["dossier_id"] for c in matching.rank_place(places[0][1], manager("fac-0001"))["candidates"]])
    before = what_matching_shows(matching, places)
    ranked = before["rankings"][places[0][1]]
    assert {c["dossier_id"] for c in ranked} == {d["id"] for d in chose_first[:3]} | {urgent["id"]}
    assert [c["holds_open_offer"] for c in ranked if c["dossier_id"] == urgent["id"]] == [True]
    assert before["occupancy"]["fac-0002"]["enrolled"] == 1
    assert before["candidates"]["fac-0002"] == sorted([d["id"] for d in chose_first] + [urgent["id"]])
    depths = settled_depths(amqp_uri)
    assert all(depths.values())  # they do receive registration's events (their services are not running)

    out = run("matching.rebuild", matching_config["DATABASE_URL"])
    assert "6 dossiers emptied" in out  # every dossier but the erased one's tombstone
    emptied = what_matching_shows(matching, places)
    assert all(ranking == [] for ranking in emptied["rankings"].values())
    assert all(dossier_ids == [] for dossier_ids in emptied["candidates"].values())
    assert emptied["occupancy"] == before["occupancy"]  # enrollments are matching's own: they stay

    assert "6 dossier snapshots" in run("registration.replay", registration_url)
    assert wait_for(lambda: what_matching_shows(matching, places) == before, timeout=20)
    assert settled_depths(amqp_uri) == depths
    assert settled_depths(amqp_uri, ["matching.registration_events.parked"]) == {
        "matching.registration_events.parked": 0}
