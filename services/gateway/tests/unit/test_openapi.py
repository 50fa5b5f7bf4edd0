import re

from werkzeug.routing import Map, Rule

from gateway.entrypoints import IdentifierConverter
from gateway.openapi import build, routes
from gateway.service import GatewayService

DOCUMENT = build(GatewayService)


def test_every_entrypoint_is_documented_with_its_method_and_path():
    documented = {(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    served = {(entrypoint.method, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", entrypoint.url))
              for _, entrypoint in routes(GatewayService)}
    assert documented == served
    assert {("POST", "/dossiers"), ("GET", "/openapi.json"), ("GET", "/places/{place_id}/ranking")} <= served


def test_path_parameters_are_described_with_the_pattern_the_router_enforces():
    parameters = DOCUMENT["paths"]["/dossiers/{dossier_id}/consents/{partner}"]["put"]["parameters"]
    by_name = {parameter["name"]: parameter for parameter in parameters}
    assert by_name["partner"]["schema"]["enum"] == ["kind_en_gezin", "lop"]
    pattern = by_name["dossier_id"]["schema"]["pattern"]
    urls = Map([Rule("/d/<id:dossier_id>")], converters={"id": IdentifierConverter}).bind("localhost")
    for value in ("3f2b9c1e-0000-4000-8000-000000000000", "fac-0001", "a" * 64):
        assert re.match(pattern, value) and urls.match(f"/d/{value}")
    for value in ("a" * 65, "a b", "x%00"):
        assert not re.match(pattern, value)


def test_bodies_and_errors_come_from_the_marshmallow_schemas():
    register = DOCUMENT["paths"]["/dossiers"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RegisterDossierBody"}
    body = DOCUMENT["components"]["schemas"]["RegisterDossierBody"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"preferred_language", "applicant", "children", "situation"}
    assert register["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert register["security"] == [{"bearer": []}]
    assert DOCUMENT["paths"]["/accounts"]["post"]["security"] == []


def test_query_parameters_come_from_their_schema():
    [place_id, limit] = DOCUMENT["paths"]["/places/{place_id}/ranking"]["get"]["parameters"]
    assert (place_id["in"], limit["in"], limit["name"], limit["schema"]["minimum"]) == ("path", "query", "limit", 1)


def test_login_documents_429_with_retry_after():
    throttled = DOCUMENT["paths"]["/sessions"]["post"]["responses"]["429"]
    assert "Retry-After" in throttled["headers"]


def test_recording_a_departure_is_documented_with_its_body_and_errors():
    departure = DOCUMENT["paths"]["/facilities/{facility_id}/departures"]["post"]
    assert departure["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DepartureBody"}
    body = DOCUMENT["components"]["schemas"]["DepartureBody"]
    assert body["required"] == ["left_on"] and set(body["properties"]) == {"request_id", "enrollment_id", "left_on"}
    assert {"201", "400", "403", "404", "409"} <= set(departure["responses"])
