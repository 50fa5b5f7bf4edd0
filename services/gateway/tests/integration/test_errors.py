"""What the API answers when something is wrong: always JSON, never a stack trace, nothing stored."""
import json

import pytest
from sqlalchemy import create_engine, func, select, text


def dossier_count(url):
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM dossiers")).scalar_one()
    engine.dispose()
    return count


def test_bad_input_gets_field_errors_and_nothing_is_stored(api, dossier_body, database_urls):
    token = api.parent()
    body = dossier_body()
    body["applicant"]["email"] = "not-an-email"
    body["children"][0]["request"]["facility_ids"] = [f"fac-{n:04d}" for n in range(1, 7)]
    refused = api.post("/dossiers", token, json=body)
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert "email" in errors["applicant"]
    assert "facility_ids" in errors["children"]["0"]["request"]

    unknown = api.post("/dossiers", token, json={**dossier_body(), "registered_by": {"role": "helpdesk"}})
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {"registered_by": ["Unknown field."]}
    assert dossier_count(database_urls["registration"]) == 0


def test_a_weak_password_is_refused_field_by_field(api):
    refused = api.post("/accounts", json={"email": "an@example.org", "password": "Password1234"})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"password": ["too_common"]}
    missing = api.post("/accounts", json={"email": "an@example.org"})
    assert missing.json()["errors"] == {"password": ["Missing data for required field."]}


def test_signing_up_twice_answers_alike_and_keeps_the_first_password(api):
    first = api.post("/accounts", json={"email": "an@example.org", "password": "a long passphrase for my dossier"})
    unconfirmed = api.post("/sessions", json={"email": "an@example.org", "password": "a long passphrase for my dossier"})
    assert (unconfirmed.status_code, unconfirmed.json()["error"]) == (403, "email_not_confirmed")
    again = api.post("/accounts", json={"email": "AN@example.org", "password": "another long passphrase!"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"status": "confirmation_sent"}  # no token: nothing was created
    api.post("/accounts/confirmation", json={"token": first.json()["confirmation_token"]})
    assert api.post("/sessions", json={"email": "an@example.org", "password": "another long passphrase!"}
                    ).status_code == 401
    assert api.log_in("an@example.org")


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-session", "Basic dXNlcjpwdw=="])
def test_without_a_valid_session_the_answer_is_401(api, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = api.get("/dossiers/some-dossier", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_a_dossier_of_someone_else_is_not_found_like_one_that_does_not_exist(api, dossier_body):
    owner = api.parent()
    dossier_id = api.post("/dossiers", owner, json=dossier_body()).json()["dossier"]["id"]
    stranger = api.parent()
    someone_elses = api.get(f"/dossiers/{dossier_id}", stranger)
    missing = api.get("/dossiers/00000000-0000-0000-0000-000000000000", stranger)
    assert (someone_elses.status_code, missing.status_code) == (404, 404)
    assert someone_elses.json() == missing.json()


def test_an_oversized_body_is_refused_with_413(api, dossier_body):
    token = api.parent()
    oversized = json.dumps({**dossier_body(), "padding": "x" * 70_000})
    response = api.post("/dossiers", token, data=oversized, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit holds while the body is read
        for _ in range(70):
            yield b" " * 1024
    chunked = api.post("/sessions", data=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_refused_with_400(api, body):
    response = api.post("/sessions", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_body"


def test_unknown_paths_and_methods_answer_json(api):
    missing = api.get("/nothing-here")
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/json")
    wrong_method = api.delete("/accounts")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    malformed_id = api.get("/dossiers/not%20an%20id")
    assert malformed_id.status_code == 404


def test_too_many_failed_logins_from_one_address_answer_429_with_retry_after(api):
    token = api.parent("an@example.org")
    assert token
    for attempt in range(20):
        refused = api.post("/sessions", json={"email": f"guess{attempt}@example.org", "password": "wrong guess!!"})
        assert refused.status_code == 401
    locked = api.post("/sessions", json={"email": "an@example.org", "password": "a long passphrase for my dossier"})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert locked.json()["error"] == "too_many_attempts"
