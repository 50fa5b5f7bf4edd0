"""A free place from declaration to enrollment, across gateway, matching, registration and notification:
the manager sees who chose the facility, ranks the place with reasons, offers it; the parent is emailed
and accepts; registration enrolls the request."""
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
import requests

from loket.testing import eventually
from registration.samples import sample_registration

pytestmark = pytest.mark.e2e
EMAIL = "sara.elsene@example.org"
PASSWORD = "Zonnebloem-Elsene-1050"
FACILITY = "fac-0001"


@pytest.fixture(scope="module")
def manager(system):
    system.create_staff("lead@speelvogel.example", "facility_manager", "--facility", FACILITY)
    return system.log_in("lead@speelvogel.example")


@pytest.fixture(scope="module")
def parent(system):
    signed_up = requests.post(f"{system.gateway}/accounts", json={"email": EMAIL, "password": PASSWORD}, timeout=30)
    requests.post(f"{system.gateway}/accounts/confirmation",
                  json={"token": signed_up.json()["confirmation_token"]}, timeout=30)
    return system.log_in(EMAIL, PASSWORD)


def test_a_place_goes_from_declaration_to_enrollment(system, manager, parent):
    payload = sample_registration(date.today(), 0)  # chooses fac-0001
    payload["applicant"]["email"] = EMAIL
    del payload["registered_by"]
    registered = requests.post(f"{system.gateway}/dossiers", json=payload, headers=parent, timeout=30)
    assert registered.status_code == 201, registered.text
    dossier = registered.json()["dossier"]
    request = dossier["requests"][0]

    eventually(lambda: dossier["id"] in requests.get(
        f"{system.gateway}/facilities/{FACILITY}/dossiers", headers=manager, timeout=30).text)

    place = requests.post(f"{system.gateway}/facilities/{FACILITY}/places", headers=manager, timeout=30, json={
        "start_date": request["desired_start_date"], "weekdays": {day: "full" for day in ("mon", "tue", "wed", "thu", "fri")}})
    assert place.status_code == 201, place.text
    place_id = place.json()["place_id"]

    ranking = requests.get(f"{system.gateway}/places/{place_id}/ranking", headers=manager, timeout=30)
    assert ranking.status_code == 200, ranking.text
    ranked = ranking.json()
    assert ranked["rule_set_version"].startswith("kg-")
    mine = next(c for c in ranked["candidates"] if c["request_id"] == request["id"])
    assert mine["reasons"]  # explained in words a manager reads

    offer = requests.post(f"{system.gateway}/places/{place_id}/offers", headers=manager, timeout=30,
                          json={"request_id": request["id"]})
    assert offer.status_code == 201, offer.text
    offer_id = offer.json()["offer_id"]

    facility_name = requests.get(f"{system.gateway}/facilities/{FACILITY}", timeout=30).json()["name"]

    def offer_emails():
        found = []
        for path in system.mail.rglob("*.eml"):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if EMAIL in message["To"] and facility_name in message.get_body(("plain",)).get_content():
                found.append(message)
        return found
    assert len(eventually(offer_emails)) == 1  # the parent learns of the offer, with the facility's name

    refused = requests.post(f"{system.gateway}/offers/{offer_id}/answer", headers=manager, timeout=30,
                            json={"accept": True})
    assert refused.status_code == 403  # only the parent (or the helpdesk) answers
    answer = requests.post(f"{system.gateway}/offers/{offer_id}/answer", headers=parent, timeout=30,
                           json={"accept": True})
    assert answer.status_code == 200, answer.text
    again = requests.post(f"{system.gateway}/offers/{offer_id}/answer", headers=parent, timeout=30,
                          json={"accept": False})
    assert again.status_code == 409

    def enrolled():
        view = requests.get(f"{system.gateway}/dossiers/{dossier['id']}", headers=parent, timeout=30).json()
        return view["requests"][0]["status"] == "enrolled" and view
    view = eventually(enrolled)
    assert view["requests"][0]["enrolled_facility_id"] == FACILITY
