"""Smoke test on PostgreSQL (production's database) for both services' migrations and the HTTP path."""


def test_sign_up_log_in_register_and_read_on_postgresql(api_on, postgres_urls, dossier_body):
    api = api_on(postgres_urls)
    token = api.parent()
    registered = api.post("/dossiers", token, json=dossier_body())
    assert registered.status_code == 201, registered.text
    dossier_id = registered.json()["dossier"]["id"]
    assert api.get(f"/dossiers/{dossier_id}", token).json()["id"] == dossier_id
    assert api.get("/dossiers", token).json() == {"dossier_ids": [dossier_id]}
