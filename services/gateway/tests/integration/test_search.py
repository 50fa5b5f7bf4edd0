"""The helpdesk's search across dossiers through HTTP, on SQLite and PostgreSQL: found by name, email, a
child's birth date or id; refused (and audited) for every other role; every hit in the parent's access log."""
from sqlalchemy import create_engine, text

from loket.db import normalise_url

from .conftest import staff_on


def refused_searches(url):
    engine = create_engine(normalise_url(url))
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT actor_role, operation FROM audit_log WHERE dossier_id IS NULL AND outcome = 'refused'")).all()
    engine.dispose()
    return sorted(map(tuple, rows))


def test_the_helpdesk_finds_dossiers_and_the_parent_sees_who_looked(api_on, urls, dossier_body):
    api = api_on(urls)
    helpdesk = staff_on(api, urls, "helpdesk")
    parent = api.parent()
    mine = api.post("/dossiers", parent, json=dossier_body(5, applicant={
        **dossier_body(5)["applicant"], "last_name": "Özdemir", "email": "Ayse.Ozdemir@example.org"})).json()["dossier"]
    other = api.post("/dossiers", api.parent(), json=dossier_body(6)).json()["dossier"]

    by_name = api.post("/dossiers/searches", helpdesk, json={"last_name": "ozd"})
    assert by_name.status_code == 200, by_name.text
    assert by_name.json()["truncated"] is False
    [hit] = by_name.json()["results"]
    assert hit["dossier_id"] == mine["id"]
    assert hit["applicant"] == {"first_name": "An", "last_name": "Özdemir"}
    assert hit["child_birth_dates"] == [mine["children"][0]["birth_date"]]
    assert "zorgnood" not in by_name.text and "example.org" not in by_name.text  # no situation, no contact

    def found(**criteria):
        response = api.post("/dossiers/searches", helpdesk, json=criteria)
        assert response.status_code == 200, response.text
        return [hit["dossier_id"] for hit in response.json()["results"]]

    assert found(email="ayse.ozdemir@EXAMPLE.org") == [mine["id"]]
    assert found(email="partner6@example.org") == [other["id"]]  # the partner's email
    assert found(request_id=other["requests"][0]["id"]) == [other["id"]]
    assert found(dossier_id=mine["id"], last_name="Peeters") == []
    assert set(found(child_birth_date=other["children"][0]["birth_date"], last_name="peeters6")) == {other["id"]}

    log = api.get(f"/dossiers/{mine['id']}/access-log", parent).json()["entries"]
    searches = [entry for entry in log if entry["operation"] == "search_dossiers"]
    assert {(entry["role"], entry["outcome"]) for entry in searches} == {("helpdesk", "ok")}
    assert len(searches) == 2  # by name and by email; not the searches it did not match


def test_only_the_helpdesk_searches_and_a_query_needs_a_valid_criterion(api_on, urls, dossier_body):
    api = api_on(urls)
    helpdesk = staff_on(api, urls, "helpdesk")
    others = {"parent": api.parent(),
              "intermediary": staff_on(api, urls, "intermediary", organisation_id="org-7"),
              "facility_manager": staff_on(api, urls, "facility_manager", facility_ids=["fac-0001"])}
    api.post("/dossiers", others["parent"], json=dossier_body(1)).raise_for_status()
    for role, token in others.items():
        refused = api.post("/dossiers/searches", token, json={"last_name": "Peeters"})
        assert refused.status_code == 403, (role, refused.text)
        assert "results" not in refused.json()
    assert refused_searches(urls["registration"]) == sorted(
        (role, "search_dossiers") for role in others)
    assert api.post("/dossiers/searches", json={"last_name": "Peeters"}).status_code == 401

    empty = api.post("/dossiers/searches", helpdesk, json={})
    assert (empty.status_code, list(empty.json()["errors"])) == (400, ["_schema"])
    bad_email = api.post("/dossiers/searches", helpdesk, json={"email": "not-an-email"})
    assert (bad_email.status_code, list(bad_email.json()["errors"])) == (400, ["email"])
    unknown = api.post("/dossiers/searches", helpdesk, json={"health": "x"})
    assert (unknown.status_code, list(unknown.json()["errors"])) == (400, ["health"])
