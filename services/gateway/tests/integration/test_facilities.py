"""Facilities, free places, rankings and offers through the gateway, with the matching service behind it."""
from datetime import date

from loket.testing import wait_for

FACILITY = {"id": "fac-0001", "name": "Kinderdagverblijf De Egel", "municipality": "Brussel", "licensed_capacity": 18,
            "opening_days": ["mon", "tue", "wed", "thu", "fri"], "min_age_months": 0, "max_age_months": 36,
            "income_related_tariff": True, "dutch_share": 0.5, "answer_window_days": 14}


def test_a_manager_sees_who_chose_the_facility_ranks_a_free_place_and_offers_it(api_on, database_urls, staff,
                                                                             dossier_body):
    api = api_on(database_urls, backends=("matching",))
    helpdesk = staff("helpdesk")
    created = api.post("/facilities", helpdesk, json=FACILITY)
    assert created.status_code == 201, created.text
    assert "fac-0001" in {facility["id"] for facility in api.get("/facilities").json()["facilities"]}
    assert "staff_dossier_ids" not in api.get("/facilities/fac-0001").json()  # public view

    manager = staff("facility_manager", facility_ids=["fac-0001"])
    assert "staff_dossier_ids" in api.get("/facilities/fac-0001", manager).json()
    assert api.patch("/facilities/fac-0001", manager, json={"name": "De Egel"}).json()["name"] == "De Egel"

    parent = api.parent()
    body = dossier_body(1)
    body["children"][0]["request"]["facility_ids"] = ["fac-0001"]
    dossier = api.post("/dossiers", parent, json=body).json()["dossier"]
    request = dossier["requests"][0]
    assert wait_for(lambda: dossier["id"] in api.get("/facilities/fac-0001/dossiers", manager).json()["dossier_ids"])
    assert api.get(f"/dossiers/{dossier['id']}", manager).status_code == 200  # P1: it chose the facility

    place = api.post("/facilities/fac-0001/places", manager, json={
        "start_date": request["desired_start_date"], "weekdays": {"mon": "full", "tue": "full", "thu": "full"}})
    assert place.status_code == 201, place.text
    place_id = place.json()["place_id"]
    ranking = api.get(f"/places/{place_id}/ranking?limit=5", manager)
    assert ranking.status_code == 200, ranking.text
    [candidate] = ranking.json()["candidates"]
    assert (candidate["request_id"], candidate["position"]) == (request["id"], 1)
    assert ranking.json()["rule_set_version"]

    offer = api.post(f"/places/{place_id}/offers", manager, json={"request_id": request["id"]})
    assert offer.status_code == 201, offer.text
    assert offer.json()["status"] == "open"
    assert [o["offer_id"] for o in api.get(f"/places/{place_id}", manager).json()["offers"]] == [
        offer.json()["offer_id"]]


def test_facility_work_is_refused_to_others(api_on, database_urls, staff):
    api = api_on(database_urls, backends=("matching",))
    helpdesk = staff("helpdesk")
    assert api.post("/facilities", helpdesk, json=FACILITY).status_code == 201
    other_manager = staff("facility_manager", facility_ids=["fac-0002"])
    parent = api.parent()
    assert api.post("/facilities", other_manager, json={**FACILITY, "id": "fac-0003"}).status_code == 403
    assert api.get("/facilities/fac-0001/dossiers", other_manager).status_code == 403
    assert api.get("/facilities/fac-0001/dossiers", parent).status_code == 403
    assert api.patch("/facilities/fac-0001", parent, json={"name": "Mine"}).status_code == 403
    start = date.today().replace(day=1).isoformat()
    assert api.post("/facilities/fac-0001/places", other_manager,
                    json={"start_date": start, "weekdays": {"mon": "full"}}).status_code == 403
    unknown_field = api.post("/facilities", helpdesk, json={**FACILITY, "id": "fac-0004", "colour": "blue"})
    assert unknown_field.json()["errors"] == {"colour": ["Unknown field."]}
    too_dutch = api.post("/facilities", helpdesk, json={**FACILITY, "id": "fac-0004", "dutch_share": 0.9})
    assert too_dutch.status_code == 400 and "dutch_share" in too_dutch.json()["errors"]
    assert api.get("/facilities/fac-9999").status_code == 404


def test_a_manager_records_that_an_enrolled_child_left_and_its_place_counts_no_more(api_on, database_urls, staff,
                                                                                    dossier_body):
    api = api_on(database_urls, backends=("matching",))
    helpdesk, manager = staff("helpdesk"), staff("facility_manager", facility_ids=["fac-0001"])
    assert api.post("/facilities", helpdesk, json=FACILITY).status_code == 201
    parent = api.parent()
    body = dossier_body(2)
    body["children"][0]["request"]["facility_ids"] = ["fac-0001"]
    request = api.post("/dossiers", parent, json=body).json()["dossier"]["requests"][0]
    assert wait_for(lambda: api.get("/facilities/fac-0001/dossiers", manager).json()["dossier_ids"])
    place = api.post("/facilities/fac-0001/places", manager, json={
        "start_date": request["desired_start_date"], "weekdays": {"mon": "full", "tue": "full", "thu": "full"}}).json()
    offer = api.post(f"/places/{place['place_id']}/offers", manager, json={"request_id": request["id"]}).json()
    assert api.post(f"/offers/{offer['offer_id']}/answer", parent, json={"accept": True}).status_code == 200
    facility = lambda: api.get("/facilities/fac-0001", manager).json()  # noqa: E731
    assert wait_for(lambda: facility()["occupancy"]["enrolled"] == 1)
    [enrollment] = facility()["enrollments"]
    assert enrollment["request_id"] == request["id"]

    today = date.today().isoformat()
    other_manager = staff("facility_manager", facility_ids=["fac-0002"])
    assert api.post("/facilities/fac-0001/departures", other_manager,
                    json={"request_id": request["id"], "left_on": today}).status_code == 403
    assert api.post("/facilities/fac-0001/departures", parent,
                    json={"request_id": request["id"], "left_on": today}).status_code == 403
    assert api.post("/facilities/fac-9999/departures", helpdesk,
                    json={"request_id": request["id"], "left_on": today}).status_code == 404
    assert api.post("/facilities/fac-0001/departures", manager,
                    json={"request_id": "req-unknown", "left_on": today}).status_code == 404
    malformed = api.post("/facilities/fac-0001/departures", manager, json={"request_id": request["id"], "left": today})
    assert malformed.status_code == 400 and set(malformed.json()["errors"]) == {"left", "left_on"}
    neither = api.post("/facilities/fac-0001/departures", manager, json={"left_on": today})
    assert neither.status_code == 400 and set(neither.json()["errors"]) == {"request_id"}
    assert facility()["occupancy"]["enrolled"] == 1  # nothing changed

    departed = api.post("/facilities/fac-0001/departures", manager,
                        json={"request_id": request["id"], "left_on": today})
    assert departed.status_code == 201, departed.text
    assert (departed.json()["enrollment_id"], departed.json()["left_on"]) == (enrollment["enrollment_id"], today)
    assert facility()["occupancy"]["enrolled"] == 0 and facility()["enrollments"] == []
    again = api.post("/facilities/fac-0001/departures", helpdesk,
                     json={"enrollment_id": enrollment["enrollment_id"], "left_on": today})
    assert again.status_code == 409
