from datetime import date, timedelta

import pytest
from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf

from registration import schemas
from registration.errors import InvalidInput
from registration.schemas import (
    BIRTH_AFTER_START, BIRTH_IN_FUTURE, DUPLICATE_FACILITY, NO_FACILITY, START_IN_PAST,
    TOO_MANY_FACILITIES, validate,
)

INPUT_SCHEMAS = [
    schemas.RegisterDossierInput, schemas.UpdateContactInput, schemas.UpdateSituationInput,
    schemas.AddChildInput, schemas.ChangeFacilitiesInput, schemas.ConsentInput,
    schemas.CancelRequestInput, schemas.MarkUrgentInput, schemas.FlagDossierInput,
    schemas.RecordEnrollmentInput,
]


def errors_of(schema, data, today):
    with pytest.raises(InvalidInput) as refused:
        validate(schema, data, today)
    return refused.value.errors


def child(payload, **changes):
    first = payload()["children"][0]
    request = {**first["request"], **changes.pop("request", {})}
    return {**first, **changes, "request": request}


def test_a_valid_registration_loads_into_python_values(payload, today):
    data = validate(schemas.RegisterDossierInput, payload(), today)

    assert data["applicant"]["birth_date"] == date(1990, 1, 2)
    assert data["children"][0]["request"]["desired_start_date"] == date(2025, 9, 1)
    assert data["children"][0]["foster_child"] is False
    assert data["situation"]["work"]["applicant"]["regime"] == 0.8
    assert data["situation"]["work"]["partner"]["regime"] == 0.0
    assert data["registered_by"] == {"role": "parent", "actor_id": None, "facility_id": None}


def test_unknown_fields_are_rejected_at_every_level(payload, today):
    data = payload(nickname="Annie")
    data["applicant"]["address"]["box"] = "3"
    data["situation"]["dutch"]["certificate_file"] = "diploma.pdf"

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors["nickname"] == ["Unknown field."]
    assert errors["applicant"]["address"]["box"] == ["Unknown field."]
    assert errors["situation"]["dutch"]["certificate_file"] == ["Unknown field."]


def test_a_sixth_facility_is_refused(payload, today):
    five = [f"fac-000{n}" for n in range(1, 6)]
    assert validate(schemas.RegisterDossierInput,
                    payload(children=[child(payload, request={"facility_ids": five})]), today)

    data = payload(children=[child(payload, request={"facility_ids": five + ["fac-0006"]})])
    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"children": {0: {"request": {"facility_ids": [TOO_MANY_FACILITIES]}}}}


def test_a_request_needs_a_facility_and_a_day(payload, today):
    data = payload(children=[child(payload, request={"facility_ids": [], "care_plan": {}})])

    request_errors = errors_of(schemas.RegisterDossierInput, data, today)["children"][0]["request"]

    assert request_errors["facility_ids"] == [NO_FACILITY]
    assert request_errors["care_plan"] == ["Choose at least one day."]


def test_a_facility_cannot_be_chosen_twice(payload, today):
    data = payload(children=[child(payload, request={"facility_ids": ["fac-1", "fac-2", "fac-1"]})])

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors["children"][0]["request"]["facility_ids"] == [DUPLICATE_FACILITY]


def test_the_care_plan_takes_weekdays_and_day_parts_only(payload, today):
    data = payload(children=[child(payload, request={"care_plan": {"sat": "full",
                                                                   "mon": "evening"}})])

    plan_errors = errors_of(schemas.RegisterDossierInput, data, today)["children"][0]["request"]

    assert set(plan_errors["care_plan"]) == {"sat", "mon"}
    assert "key" in plan_errors["care_plan"]["sat"]
    assert "value" in plan_errors["care_plan"]["mon"]


def test_the_desired_start_date_cannot_be_in_the_past(payload, today):
    yesterday = (today - timedelta(days=1)).isoformat()
    on_today = payload(children=[child(payload, birth_date="2024-12-01",
                                       request={"desired_start_date": today.isoformat()})])
    assert validate(schemas.RegisterDossierInput, on_today, today)

    data = payload(children=[child(payload, birth_date="2024-12-01",
                                   request={"desired_start_date": yesterday})])
    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"children": {0: {"request": {"desired_start_date": [START_IN_PAST]}}}}


def test_the_past_is_relative_to_the_given_today(payload):
    data = payload()  # starts 2025-09-01

    assert validate(schemas.RegisterDossierInput, data, date(2025, 9, 1))
    assert errors_of(schemas.RegisterDossierInput, data, date(2025, 9, 2))


def test_a_child_born_after_the_desired_start_date_is_refused(payload, today):
    expected = payload(children=[child(payload, birth_date="2025-08-31")])
    assert validate(schemas.RegisterDossierInput, expected, today)  # an unborn child is fine

    data = payload(children=[child(payload, birth_date="2025-09-02")])
    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"children": {0: {"birth_date": [BIRTH_AFTER_START]}}}


def test_a_parent_cannot_be_born_in_the_future(payload, today):
    data = payload()
    data["partner"]["birth_date"] = (today + timedelta(days=1)).isoformat()

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"partner": {"birth_date": [BIRTH_IN_FUTURE]}}


def test_date_errors_are_reported_together_with_field_errors(payload, today):
    data = payload(children=[child(payload, request={"desired_start_date": "2020-01-01"})])
    data["applicant"]["email"] = "not-an-email"

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors["applicant"] == {"email": ["Not a valid email address."]}
    assert errors["children"][0]["request"]["desired_start_date"] == [START_IN_PAST]
    assert errors["children"][0]["birth_date"] == [BIRTH_AFTER_START]


@pytest.mark.parametrize("email", ["an.peeters", "an@", "@example.org", "an peeters@example.org"])
def test_an_invalid_email_is_refused(payload, today, email):
    data = payload()
    data["applicant"]["email"] = email

    assert errors_of(schemas.RegisterDossierInput, data, today) == {
        "applicant": {"email": ["Not a valid email address."]}}


@pytest.mark.parametrize("postal_code", ["100", "10000", "0999", "B-1000", "ABCD"])
def test_a_postal_code_must_be_belgian(payload, today, postal_code):
    data = payload()
    data["applicant"]["address"]["postal_code"] = postal_code

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert "A Belgian postal code has 4 digits." in errors["applicant"]["address"]["postal_code"]


def test_an_oversized_string_is_refused(payload, today):
    data = payload()
    data["applicant"]["last_name"] = "x" * 101
    data["situation"]["health"]["detail"] = "x" * 2001
    assert errors_of(schemas.RegisterDossierInput, data, today) == {
        "applicant": {"last_name": ["Length must be between 1 and 100."]},
        "situation": {"health": {"detail": ["Length must be between 1 and 2000."]}},
    }

    data["applicant"]["last_name"] = "x" * 100
    data["situation"]["health"]["detail"] = "x" * 2000
    assert validate(schemas.RegisterDossierInput, data, today)


def _bounded(field: fields.String) -> bool:
    return any(isinstance(v, OneOf) or (isinstance(v, Length) and v.max is not None)
               for v in field.validators)


def _unbounded_strings(schema: Schema, path=""):
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from _unbounded_strings(inner.schema, f"{path}{name}.")
        elif isinstance(inner, fields.String) and not _bounded(inner):
            yield f"{path}{name}"


@pytest.mark.parametrize("schema", INPUT_SCHEMAS, ids=lambda s: s.__name__)
def test_every_free_string_has_a_maximum_length(schema):
    assert list(_unbounded_strings(schema())) == []


def _field_names(schema: Schema):
    for name, field in schema.fields.items():
        yield name
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from _field_names(inner.schema)


@pytest.mark.parametrize("schema", INPUT_SCHEMAS, ids=lambda s: s.__name__)
def test_there_is_no_file_field_anywhere(schema):
    # P6: proof of Dutch is only declared, never uploaded
    names = list(_field_names(schema()))

    assert not [n for n in names if any(w in n for w in ("file", "upload", "attachment",
                                                         "document", "certificate"))]


def test_proof_of_dutch_is_a_declared_boolean():
    assert isinstance(schemas.DutchInput().fields["proof_declared"], fields.Boolean)


@pytest.mark.parametrize("regime, fraction", [("full", 1.0), ("4/5", 0.8), ("half", 0.5),
                                              ("none", 0.0), (0.6, 0.6), (1, 1.0)])
def test_a_work_regime_is_a_fraction_or_a_name(payload, today, regime, fraction):
    data = payload()
    data["situation"]["work"]["applicant"]["regime"] = regime

    loaded = validate(schemas.RegisterDossierInput, data, today)

    assert loaded["situation"]["work"]["applicant"]["regime"] == fraction


@pytest.mark.parametrize("regime", [1.2, -0.1, "3/5", True, None])
def test_a_work_regime_outside_the_choices_is_refused(payload, today, regime):
    data = payload()
    data["situation"]["work"]["applicant"]["regime"] = regime

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert list(errors["situation"]["work"]["applicant"]) == ["regime"]


def test_booleans_must_be_json_booleans(payload, today):
    data = payload()
    data["situation"]["family"]["single_parent"] = "yes"

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"situation": {"family": {"single_parent": ["Not a valid boolean."]}}}


def test_a_health_detail_needs_a_health_situation(payload, today):
    data = payload()
    data["situation"]["health"]["care_situation"] = False

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert list(errors["situation"]["health"]) == ["detail"]


def test_proof_of_dutch_is_declared_only_with_proficiency(payload, today):
    data = payload()
    data["situation"]["dutch"] = {"proficiency": False, "proof_declared": True}

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert list(errors["situation"]["dutch"]) == ["proof_declared"]


def test_the_partners_situation_goes_with_the_partner(payload, today):
    without_partner = payload(partner=None)
    assert errors_of(schemas.RegisterDossierInput, without_partner, today) == {"situation": {
        "work": {"partner": ["The dossier has no partner."]},
        "education": {"partner": ["The dossier has no partner."]},
    }}

    with_partner = payload()
    del with_partner["situation"]["work"]["partner"]
    assert errors_of(schemas.RegisterDossierInput, with_partner, today) == {"situation": {
        "work": {"partner": ["Required when the dossier has a partner."]},
    }}


def test_a_single_parent_registers_without_partner_data(payload, today):
    data = payload(partner=None)
    data["situation"]["family"]["single_parent"] = True
    del data["situation"]["work"]["partner"]
    del data["situation"]["education"]["partner"]

    loaded = validate(schemas.RegisterDossierInput, data, today)

    assert loaded["partner"] is None
    assert loaded["situation"]["education"]["partner"] is None


def test_consents_are_optional_and_each_needs_version_and_method(payload, today):
    assert validate(schemas.RegisterDossierInput, payload(consents=None), today)["consents"] is None

    data = payload(consents={"lop": {"given": True, "method": "carrier pigeon"}})
    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert set(errors["consents"]["lop"]) == {"policy_version", "method"}


def test_an_intermediary_or_facility_manager_registrant_is_identified(payload, today):
    data = payload(registered_by={"role": "intermediary"})
    assert list(errors_of(schemas.RegisterDossierInput, data, today)["registered_by"]) == [
        "actor_id"]

    data = payload(registered_by={"role": "facility_manager", "actor_id": "fm-1"})
    assert list(errors_of(schemas.RegisterDossierInput, data, today)["registered_by"]) == [
        "facility_id"]

    data = payload(registered_by={"role": "helpdesk", "actor_id": "staff-1"})
    assert list(errors_of(schemas.RegisterDossierInput, data, today)["registered_by"]) == ["role"]


def test_a_contact_update_needs_something_to_change(today):
    assert errors_of(schemas.UpdateContactInput, {}, today) == {
        "_schema": ["Give the contact data to change."]}


def test_a_contact_update_takes_part_of_the_applicant(today):
    data = validate(schemas.UpdateContactInput,
                    {"applicant": {"email": "an@new.example", "address": {"postal_code": "1080"}}},
                    today)

    assert data == {"applicant": {"email": "an@new.example", "address": {"postal_code": "1080"}},
                    "preferred_language": None}
    assert errors_of(schemas.UpdateContactInput, {"applicant": {"email": "nope"}}, today) == {
        "applicant": {"email": ["Not a valid email address."]}}


def test_a_contact_update_replaces_or_removes_the_partner(payload, today):
    assert validate(schemas.UpdateContactInput, {"partner": None}, today) == {
        "partner": None, "preferred_language": None}

    errors = errors_of(schemas.UpdateContactInput, {"partner": {"first_name": "Bart"}}, today)
    assert set(errors["partner"]) == {"last_name", "birth_date", "gender"}


def test_an_added_child_is_checked_like_a_registered_one(payload, today):
    data = child(payload, request={"desired_start_date": "2025-01-01",
                                   "facility_ids": ["a", "b", "c", "d", "e", "f"]})

    errors = errors_of(schemas.AddChildInput, data, today)

    assert errors == {"request": {"desired_start_date": [START_IN_PAST],
                                  "facility_ids": [TOO_MANY_FACILITIES]},
                      "birth_date": [BIRTH_AFTER_START]}


def test_changing_facilities_keeps_the_limits(today):
    six = {"request_id": "r-1", "facility_ids": ["a", "b", "c", "d", "e", "f"]}
    twice = {"request_id": "r-1", "facility_ids": ["a", "a"]}

    assert errors_of(schemas.ChangeFacilitiesInput, six, today) == {
        "facility_ids": [TOO_MANY_FACILITIES]}
    assert errors_of(schemas.ChangeFacilitiesInput, twice, today) == {
        "facility_ids": [DUPLICATE_FACILITY]}


@pytest.mark.parametrize("schema, data, field", [
    (schemas.ConsentInput, {"partner": "google", "policy_version": "1", "method": "web"},
     "partner"),
    (schemas.CancelRequestInput, {"request_id": "r-1", "reason": "x" * 501}, "reason"),
    (schemas.FlagDossierInput, {"flag": "spam", "message": "Please check"}, "flag"),
    (schemas.FlagDossierInput, {"flag": "mistake", "message": ""}, "message"),
    (schemas.RecordEnrollmentInput, {"request_id": "r-1"}, "facility_id"),
    (schemas.MarkUrgentInput, {"request_id": "r-1", "why": "asap"}, "why"),
])
def test_small_operations_refuse_bad_fields(today, schema, data, field):
    assert list(errors_of(schema, data, today)) == [field]


def test_the_situation_update_names_the_child_fields(payload, today):
    data = {"situation": payload()["situation"],
            "children": [{"id": "c-1", "foster_child": "no", "sibling_facility_ids": []}]}

    errors = errors_of(schemas.UpdateSituationInput, data, today)

    assert errors == {"children": {0: {"foster_child": ["Not a valid boolean."]}}}


def test_a_payload_that_is_not_an_object_is_refused(today):
    errors = errors_of(schemas.MarkUrgentInput, ["r-1"], today)

    assert errors == {"_schema": ["Invalid input type."]}


def test_date_rules_cannot_run_without_today(payload):
    with pytest.raises(TypeError):
        schemas.RegisterDossierInput().load(payload())


def test_invalid_input_carries_its_errors_as_its_only_argument(today):
    # nameko serialises exceptions by their args: the field errors must travel in them
    with pytest.raises(InvalidInput) as refused:
        validate(schemas.MarkUrgentInput, {}, today)

    assert refused.value.args == ({"request_id": ["Missing data for required field."]},)


def test_an_invalid_partner_still_counts_as_a_partner(payload, today):
    data = payload()
    data["partner"]["gender"] = "unknown"

    errors = errors_of(schemas.RegisterDossierInput, data, today)

    assert errors == {"partner": {"gender": ["Must be one of: f, m, x."]}}
