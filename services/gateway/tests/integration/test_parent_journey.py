"""A parent's way through the HTTP API, end to end through the registration service."""
from datetime import date

from registration.samples import sample_registration


def registration_body(n=1, **changes):
    payload = sample_registration(date.today(), n)
    del payload["registered_by"]  # the gateway says who registers: the caller
    payload.update(changes)
    return payload


def test_sign_up_confirm_log_in_register_view_edit_log_out(api):
    token = api.parent("an.peeters@example.org")
    assert api.get("/account", token).json()["role"] == "parent"

    registered = api.post("/dossiers", token, json=registration_body())
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

    logged_out = api.delete("/sessions/current", token)
    assert logged_out.status_code == 204
    refused = api.get(f"/dossiers/{dossier['id']}", token)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
