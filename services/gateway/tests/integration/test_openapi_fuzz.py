"""Fuzzing the whole API from its own OpenAPI document (schemathesis): no 5xx, every response as documented.

Examples are bounded (and derandomized) so the run stays well under a minute. The cases run with a real
parent's session, and half of the dossier paths name that parent's real dossier, so bodies reach the
registration service's validation too.
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
EXAMPLES_PER_OPERATION = 25
# Logging out would end the session the other cases use; it runs last.
LAST = ("DELETE", "/sessions/current")


def test_the_api_answers_every_generated_request_without_5xx_and_as_documented(api, dossier_body):
    token = api.parent()
    dossier = api.post("/dossiers", token, json=dossier_body()).json()["dossier"]
    real_ids = {"dossier_id": dossier["id"], "request_id": dossier["requests"][0]["id"]}
    schema = schemathesis.openapi.from_dict(api.get("/openapi.json").json())
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda operation: (operation.method.upper(), operation.path) == LAST)
    assert len(operations) >= 20

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), use_real_ids=st.booleans())
        def check(case, use_real_ids):
            if use_real_ids:
                case.path_parameters = {**(case.path_parameters or {}),
                                        **{name: value for name, value in real_ids.items()
                                           if name in (case.path_parameters or {})}}
            case.call_and_validate(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"},
                                   checks=CHECKS)
        check()
