"""A parent's way through the HTTP API, end to end through the registration service."""


def test_sign_up_confirm_log_in_register_view_edit_log_out(api, dossier_body):
    health = api.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "service": "gateway", "database": "ok",
                                                         "broker": "ok"})
    assert 'loket_outbox_backlog{service="gateway"} 0' in api.get("/metrics").text
    token = api.parent("an.peeters@example.org")
    assert api.get("/account", token).json()["role"] == "parent"

    registered = api.post("/dossiers", token, json=dossier_body())
    assert registered.status_code == 201, registered.text
    dossier = registered.json()["dossier"]
    assert registered.headers["Location"] == f"/dossiers/{dossier['id']}"
    assert dossier["registered_by"]["role"] == "parent"

    viewed = api.get(f"/dossiers/{dossier['id']}", token)
    assert viewed.status_code == 200
    assert viewed.json()["applicant"]["email"] == "ouder1@example.org"
    assert viewed.headers["Cache-Control"] == "no-store"

    edited = api.patch(f"/dossiers/{dossier['id']}/contact", token, json={"applicant": {"phone": "+32 2 123 45 67"}})
    assert edited.status_code == 200, edited.text
    assert api.get(f"/dossiers/{dossier['id']}", token).json()["applicant"]["phone"] == "+32 2 123 45 67"

    request_id = dossier["requests"][0]["id"]
    chosen = api.put(f"/dossiers/{dossier['id']}/requests/{request_id}/facilities", token,
                     json={"facility_ids": ["fac-0003"]})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["dossier"]["requests"][0]["facility_ids"] == ["fac-0003"]

    consent = api.put(f"/dossiers/{dossier['id']}/consents/lop", token, json={"given": True, "policy_version": "2024-05"})
    assert consent.status_code == 200, consent.text
    assert consent.json()["dossier"]["consents"]["lop"]["method"] == "web"
    withdrawn = api.put(f"/dossiers/{dossier['id']}/consents/lop", token,
                        json={"given": False, "policy_version": "2024-05"})
    assert withdrawn.json()["dossier"]["consents"]["lop"]["given"] is False

    child = dossier_body(2)["children"][0]
    added = api.post(f"/dossiers/{dossier['id']}/children", token, json=child)
    assert added.status_code == 201, added.text
    assert len(added.json()["dossier"]["children"]) == 2
    cancelled = api.post(f"/dossiers/{dossier['id']}/requests/{added.json()['request_id']}/cancellation", token,
                         json={})
    assert cancelled.status_code == 200, cancelled.text
    assert [r["status"] for r in cancelled.json()["dossier"]["requests"]] == ["active", "cancelled"]
    again = api.post(f"/dossiers/{dossier['id']}/requests/{added.json()['request_id']}/cancellation", token, json={})
    assert again.status_code == 409

    assert api.get("/dossiers", token).json() == {"dossier_ids": [dossier["id"]]}
    log = api.get(f"/dossiers/{dossier['id']}/access-log", token).json()["entries"]
    assert {(entry["role"], entry["operation"]) for entry in log} >= {("parent", "register_dossier"),
                                                                      ("parent", "update_contact")}

    logged_out = api.delete("/sessions/current", token)
    assert logged_out.status_code == 204
    refused = api.get(f"/dossiers/{dossier['id']}", token)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
