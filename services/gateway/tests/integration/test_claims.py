"""A parent claims, through HTTP, the dossier an intermediary or a facility manager registered for them, with
the one-time claim code the registrant got; on SQLite and PostgreSQL."""
from .conftest import staff_on

WRONG_CODE = "22222-22222-22222-22222"


def test_the_parent_claims_a_dossier_an_intermediary_registered_and_sees_it_as_their_own(
        api_on, urls, dossier_body):
    api = api_on(urls)
    intermediary = staff_on(api, urls, "intermediary", organisation_id="org-7")
    registered = api.post("/dossiers", intermediary, json=dossier_body(3))
    assert registered.status_code == 201, registered.text
    dossier_id, code = registered.json()["dossier"]["id"], registered.json()["claim_code"]
    assert registered.json()["claim_code_expires_at"]
    parent, stranger = api.parent(), api.parent()
    assert api.get(f"/dossiers/{dossier_id}", parent).status_code == 404
    assert api.get("/dossiers", parent).json() == {"dossier_ids": []}

    assert api.post("/dossiers/claims", intermediary, json={"claim_code": code}).status_code == 403
    claimed = api.post("/dossiers/claims", parent, json={"claim_code": code.lower()})
    assert (claimed.status_code, claimed.json()) == (200, {"dossier_id": dossier_id})

    assert api.get("/dossiers", parent).json() == {"dossier_ids": [dossier_id]}
    assert api.get(f"/dossiers/{dossier_id}", parent).json()["id"] == dossier_id
    assert api.patch(f"/dossiers/{dossier_id}/contact", parent, json={"preferred_language": "en"}).status_code == 200
    assert api.patch(f"/dossiers/{dossier_id}/contact", intermediary,
                     json={"preferred_language": "fr"}).status_code == 200  # keeps its access (P19)
    used = api.post("/dossiers/claims", stranger, json={"claim_code": code})
    unknown = api.post("/dossiers/claims", stranger, json={"claim_code": WRONG_CODE})
    assert used.status_code == unknown.status_code == 404
    assert used.json() == unknown.json()  # a used code tells no more than an unknown one
    assert api.get(f"/dossiers/{dossier_id}", stranger).status_code == 404

    log = api.get(f"/dossiers/{dossier_id}/access-log", parent).json()["entries"]
    assert {(entry["role"], entry["operation"], entry["outcome"]) for entry in log} >= {
        ("intermediary", "register_dossier", "ok"), ("parent", "claim_dossier", "ok"),
        ("parent", "claim_dossier", "refused")}  # the stranger's try with the used code


def test_a_facility_managers_registration_is_claimed_and_a_parents_own_needs_no_code(api, staff, dossier_body):
    manager = staff("facility_manager", facility_ids=["fac-0001"])
    registered = api.post("/dossiers", manager, json=dossier_body(4, facility_id="fac-0001")).json()
    parent = api.parent()
    assert "claim_code" not in api.post("/dossiers", parent, json=dossier_body(5)).json()
    claimed = api.post("/dossiers/claims", parent, json={"claim_code": registered["claim_code"]})
    assert claimed.status_code == 200, claimed.text
    assert len(api.get("/dossiers", parent).json()["dossier_ids"]) == 2
    assert api.get(f"/dossiers/{registered['dossier']['id']}", manager).status_code == 200  # P20 as before

    empty = api.post("/dossiers/claims", parent, json={})
    assert (empty.status_code, list(empty.json()["errors"])) == (400, ["claim_code"])


def test_guessing_codes_locks_the_account_out_of_claiming(api, staff, dossier_body):
    intermediary = staff("intermediary", organisation_id="org-7")
    code = api.post("/dossiers", intermediary, json=dossier_body(6)).json()["claim_code"]
    guesser = api.parent()
    for _ in range(5):
        assert api.post("/dossiers/claims", guesser, json={"claim_code": WRONG_CODE}).status_code == 404
    locked = api.post("/dossiers/claims", guesser, json={"claim_code": code})  # even the right code, for now
    assert locked.status_code == 429, locked.text
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert locked.json()["error"] == "too_many_attempts"
    assert api.post("/dossiers/claims", api.parent(), json={"claim_code": code}).status_code == 200  # per account
