"""Fuzzing the whole API from its own OpenAPI document (schemathesis): no 5xx, every response as documented.

Examples are bounded (and derandomized) so the run stays well under a minute. Dossier operations run
with a real parent's session, facility operations with the helpdesk's, and half of the cases name real
ids (the parent's dossier and request, a facility, a free place), so bodies reach the owning services'
validation too.
"""
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES_PER_OPERATION = 15
# Logging out would end the session the other cases use; it runs last.
LAST = ("DELETE", "/sessions/current")
FACILITY = {"id": "fac-0001", "name": "De Egel", "municipality": "Brussel", "licensed_capacity": 18,
            "opening_days": ["mon", "tue", "wed", "thu", "fri"], "min_age_months": 0, "max_age_months": 36,
            "income_related_tariff": True, "dutch_share": 0.5, "answer_window_days": 14}


def test_the_api_answers_every_generated_request_without_5xx_and_as_documented(api_on, database_urls, staff,
                                                                            dossier_body):
    api = api_on(database_urls, backends=("matching", "retention"))
    token, helpdesk = api.parent(), staff("helpdesk")
    dossier = api.post("/dossiers", token, json=dossier_body()).json()["dossier"]
    api.post("/facilities", helpdesk, json=FACILITY).raise_for_status()
    place = api.post("/facilities/fac-0001/places", helpdesk, json={
        "start_date": dossier["requests"][0]["desired_start_date"], "weekdays": {"mon": "full"}}).json()
    real_ids = {"dossier_id": dossier["id"], "request_id": dossier["requests"][0]["id"],
                "facility_id": "fac-0001", "place_id": place["place_id"]}
    schema = schemathesis.openapi.from_dict(api.get("/openapi.json").json())
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda operation: (operation.method.upper(), operation.path) == LAST)
    assert len(operations) >= 29

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), use_real_ids=st.booleans())
        def check(case, use_real_ids):
            if use_real_ids:
                case.path_parameters = {**(case.path_parameters or {}),
                                        **{name: value for name, value in real_ids.items()
                                           if name in (case.path_parameters or {})}}
            session = helpdesk if case.path.startswith(("/facilities", "/places")) else token
            case.call_and_validate(base_url=api.base_url, headers={"Authorization": f"Bearer {session}"},
                                   checks=CHECKS)
        check()
