"""Staff through the HTTP API: the helpdesk, an intermediary and a facility manager (accounts made by
the admin command's function)."""
from loket.testing import wait_for


def test_the_helpdesk_views_marks_urgent_flags_and_cancels_with_a_reason(api, staff, dossier_body):
    parent = api.parent()
    dossier = api.post("/dossiers", parent, json=dossier_body()).json()["dossier"]
    request_id = dossier["requests"][0]["id"]
    helpdesk = staff("helpdesk")

    assert api.get(f"/dossiers/{dossier['id']}", helpdesk).status_code == 200
    urgent = api.post(f"/dossiers/{dossier['id']}/requests/{request_id}/urgency", helpdesk)
    assert urgent.status_code == 200, urgent.text
    assert urgent.json()["dossier"]["requests"][0]["urgent"] is True
    flagged = api.post(f"/dossiers/{dossier['id']}/flags", helpdesk,
                       json={"flag": "incomplete", "message": "The partner's work situation is missing."})
    assert flagged.status_code == 200, flagged.text

    without_reason = api.post(f"/dossiers/{dossier['id']}/requests/{request_id}/cancellation", helpdesk, json={})
    assert without_reason.status_code == 400
    assert "reason" in without_reason.json()["errors"]
    cancelled = api.post(f"/dossiers/{dossier['id']}/requests/{request_id}/cancellation", helpdesk,
                         json={"reason": "Registered twice."})
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_by"]["role"] == "helpdesk"

    # a parent may not do the helpdesk's work on their own dossier, and hears it as 403 (they know it exists)
    assert api.post(f"/dossiers/{dossier['id']}/flags", parent,
                    json={"flag": "mistake", "message": "x"}).status_code == 403
    roles = {entry["role"] for entry in api.get(f"/dossiers/{dossier['id']}/access-log", parent).json()["entries"]}
    assert roles == {"parent", "helpdesk"}


def test_an_intermediary_registers_for_a_parent_and_edits_but_others_do_not_see_it(api, staff, dossier_body):
    intermediary = staff("intermediary", organisation_id="org-7")
    registered = api.post("/dossiers", intermediary, json=dossier_body(3))
    assert registered.status_code == 201, registered.text
    dossier = registered.json()["dossier"]
    assert dossier["registered_by"]["role"] == "intermediary"

    edited = api.patch(f"/dossiers/{dossier['id']}/contact", intermediary, json={"preferred_language": "fr"})
    assert edited.status_code == 200, edited.text
    consent = api.put(f"/dossiers/{dossier['id']}/consents/lop", intermediary,
                      json={"given": True, "policy_version": "2024-05", "method": "paper"})
    assert consent.json()["dossier"]["consents"]["lop"]["method"] == "paper"
    assert api.put(f"/dossiers/{dossier['id']}/consents/lop", intermediary,
                   json={"given": False, "policy_version": "2024-05", "method": "web"}).status_code == 400

    colleague = staff("intermediary", organisation_id="org-7")
    assert api.get(f"/dossiers/{dossier['id']}", colleague).status_code == 404
    assert api.get(f"/dossiers/{dossier['id']}", api.parent()).status_code == 404


def test_a_facility_manager_registers_only_for_a_facility_they_run(api, staff, dossier_body):
    manager = staff("facility_manager", facility_ids=["fac-0001"])
    theirs = api.post("/dossiers", manager, json=dossier_body(4, facility_id="fac-0001"))
    assert theirs.status_code == 201, theirs.text
    dossier_id = theirs.json()["dossier"]["id"]
    assert api.get(f"/dossiers/{dossier_id}", manager).status_code == 200
    assert api.post("/dossiers", manager, json=dossier_body(5, facility_id="fac-0002")).status_code == 403

    chosen_elsewhere = api.post("/dossiers", api.parent(), json=dossier_body(6)).json()["dossier"]
    assert "fac-0001" not in chosen_elsewhere["requests"][0]["facility_ids"]
    assert api.get(f"/dossiers/{chosen_elsewhere['id']}", manager).status_code == 404


def test_a_parent_asks_for_erasure_and_only_for_their_own_dossier(api_on, database_urls, dossier_body):
    api = api_on(database_urls, backends=("retention",))
    owner, stranger = api.parent(), api.parent()
    dossier_id = api.post("/dossiers", owner, json=dossier_body()).json()["dossier"]["id"]
    assert api.delete(f"/dossiers/{dossier_id}", stranger).status_code == 404
    erasure = api.delete(f"/dossiers/{dossier_id}", owner)
    assert erasure.status_code == 202, erasure.text
    assert (erasure.json()["dossier_id"], erasure.json()["state"]) == (dossier_id, "in_progress")
    assert wait_for(lambda: api.get(f"/dossiers/{dossier_id}", owner).status_code == 404, timeout=20)
