"""The quick contract check (loket.contracts.quick) never accepts what marshmallow would refuse, and
does accept the valid events, so consumers take the fast path for them. Property tests over every
registered contract: valid payloads drawn from each schema, then broken in one place."""
import string
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import EXCLUDE, ValidationError, fields, validate

from loket import contracts
from loket.contracts import quick

SCHEMAS = sorted(contracts._registry().items())
ODD_VALUES = [None, True, False, 0, 1, -1, 1.5, float("nan"), float("inf"), 10 ** 400, "", "x", "2024-13-01",
              "2024-01-01T00:00:00", "2024-01-01T10:00:00+01:00", "2024-01-01", "not an email", "a@example.org",
              [], [1], {}, {"x": 1}, "mon", "full", "parent"]


def _text(field):
    lengths = [v for v in field.validators if isinstance(v, validate.Length)]
    low = max([v.min or 0 for v in lengths] + [0])
    high = min([v.max for v in lengths if v.max is not None] + [20])
    return st.text(string.ascii_letters, min_size=max(low, 1), max_size=max(high, low, 1))


def valid_value(field):
    one_of = next((v for v in field.validators if isinstance(v, validate.OneOf)), None)
    if one_of is not None:
        return st.sampled_from(list(one_of.choices))
    kind = type(field)
    if kind is fields.Email:
        return st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(org|be)", fullmatch=True)
    if kind is fields.String:
        return _text(field)
    if kind is fields.Boolean:
        return st.booleans()
    if kind is fields.Integer:
        ranges = [v for v in field.validators if isinstance(v, validate.Range)]
        return st.integers(min_value=max([r.min for r in ranges if r.min is not None] + [0]), max_value=10 ** 6)
    if kind is fields.Float:
        return st.floats(min_value=0, max_value=1)
    if kind is fields.Date:
        return st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(date.isoformat)
    if kind is fields.AwareDateTime:
        return st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
            lambda moment: moment.replace(tzinfo=UTC).isoformat())
    if kind is fields.Nested:
        return valid_object(field.schema)
    if kind is fields.List:
        lengths = [v for v in field.validators if isinstance(v, validate.Length)]
        low = max([v.min or 0 for v in lengths] + [0])
        high = min([v.max for v in lengths if v.max] + [3])
        return st.lists(valid_value(field.inner), min_size=low, max_size=max(high, low))
    if kind is fields.Dict:
        if field.key_field is None:
            return st.dictionaries(st.text(string.ascii_letters, max_size=5), st.integers(), max_size=3)
        return st.dictionaries(valid_value(field.key_field), valid_value(field.value_field), max_size=3)
    raise AssertionError(f"no strategy for {kind.__name__}")


def valid_object(schema):
    members = {}
    for name, field in schema.load_fields.items():
        value = valid_value(field)
        members[name] = st.one_of(st.none(), value) if field.allow_none else value
    return st.fixed_dictionaries(members)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))


def broken(value, path, how, odd):
    """value with one change at path: replaced by an odd value, removed, or given an unknown member."""
    if not path:
        return odd if how == "replace" else ({**value, "unexpected": odd} if isinstance(value, dict) else odd)
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if not rest and how == "remove":
        if isinstance(copy, dict):
            del copy[head]
        else:
            copy.pop(head)
        return copy
    copy[head] = broken(copy[head], rest, how, odd)
    return copy


@st.composite
def broken_somewhere(draw, value):
    path = draw(st.sampled_from(list(paths(value))))
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "remove" and not path:
        how = "replace"
    return broken(value, path, how, draw(st.sampled_from(ODD_VALUES)))


def marshmallow_accepts(schema, data, unknown_allowed):
    try:
        schema.load(data, unknown=EXCLUDE if unknown_allowed else None)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("key,schema_class", SCHEMAS, ids=[f"{t}.v{v}" for (t, v), _ in SCHEMAS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_quick_check_accepts_only_what_marshmallow_accepts(key, schema_class, data):
    schema = schema_class()
    for unknown_allowed in (True, False):
        check = quick.compile_check(schema, top_level_unknown_allowed=unknown_allowed)
        assert check is not None, f"{key}: every contract should have a quick check"
        payload = data.draw(valid_object(schema))
        assert marshmallow_accepts(schema, payload, unknown_allowed)
        assert check(payload), "a valid payload must take the quick path"
        mutated = data.draw(broken_somewhere(payload))
        if check(mutated):
            assert marshmallow_accepts(schema, mutated, unknown_allowed), (path, how, mutated)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_envelope_check_accepts_only_what_marshmallow_accepts(data):
    body = contracts.envelope("registration.dossier_erased", {"dossier_id": "d-1"}, aggregate_id="d-1",
                              sequence=3, producer="registration")
    check = contracts._ENVELOPE_CHECK
    assert check(body)
    mutated = data.draw(broken_somewhere(body))
    if check(mutated):
        assert not contracts._ENVELOPE.validate(mutated), (path, how, mutated)


def test_parse_still_names_the_field_that_breaks_the_contract():
    body = contracts.envelope("registration.dossier_erased", {"dossier_id": "d-1"}, aggregate_id="d-1",
                              sequence=3, producer="registration")
    with pytest.raises(contracts.ContractError) as refused:
        contracts.parse({**body, "data": {"dossier_id": 7}})
    assert refused.value.errors == {"data": {"dossier_id": ["Not a valid string."]}}
    with pytest.raises(contracts.ContractError) as refused:
        contracts.parse({**body, "sequence": True})
    assert "sequence" in refused.value.errors


def test_a_schema_with_hooks_gets_no_quick_check():
    from marshmallow import Schema, validates_schema

    class Hooked(Schema):
        a = fields.String(required=True)

        @validates_schema
        def never(self, data, **kwargs):
            raise ValidationError("never")

    assert quick.compile_check(Hooked()) is None


SNAPSHOT = {
    "id": "d-1", "registered_at": "2026-01-05T09:00:00+00:00", "last_activity_at": "2026-01-05T09:01:00+00:00",
    "registered_by": {"role": "parent", "actor_id": "account-1"}, "preferred_language": "nl", "restricted": False,
    "applicant": {"last_name": "Peeters", "first_name": "An", "birth_date": "1990-01-02", "gender": "f",
                  "email": "an.peeters@example.org", "phone": None,
                  "address": {"street": "Hoogstraat", "house_number": "1", "postal_code": "1000",
                              "municipality": "Brussel"}},
    "partner": None,
    "children": [{"id": "c-1", "last_name": "Peeters", "first_name": None, "birth_date": "2025-11-01",
                  "gender": None, "foster_child": False, "sibling_facility_ids": []}],
    "requests": [{"id": "r-1", "child_id": "c-1", "desired_start_date": "2026-09-01",
                  "care_plan": {"mon": "full", "tue": "morning"}, "facility_ids": ["fac-0001"],
                  "status": "active", "urgent": False, "enrolled_facility_id": None,
                  "registered_at": "2026-01-05T09:00:00+00:00"}],
    "priority": {"dutch_proficiency": True, "dutch_proof_declared": False, "single_parent": False,
                 "income_below_threshold": False, "health_or_care_situation": False, "no_secondary_diploma": False,
                 "work_or_training_need": True, "work_regime_fraction": 0.5, "integration_course_complete": False},
    "consents": {"kind_en_gezin": None, "lop": None},
}


@pytest.mark.parametrize("path,odd", [
    (("dossier", "priority", "work_regime_fraction"), float("nan")),  # Range lets NaN through; Float does not
    (("dossier", "priority", "single_parent"), 1),
    (("dossier", "registered_at"), "2024-01-01T10:00:00"),  # naive
    (("dossier", "applicant", "email"), "not an email"),
    (("dossier", "requests", 0, "care_plan"), {"sun": "full"}),
    (("dossier", "applicant", "address", "unexpected"), "x"),  # nested schemas refuse unknown fields
])
def test_edge_cases_are_not_quick_accepted_unless_marshmallow_accepts(path, odd):
    schema = contracts.schema_for("registration.dossier_registered", 1)
    check = quick.compile_check(schema)
    payload = {"dossier": SNAPSHOT}
    assert check(payload)
    mutated = _set(payload, path, odd)
    assert check(mutated) is False or marshmallow_accepts(schema, mutated, True)
    if path[-1] == "work_regime_fraction":
        assert check(mutated) is False and not marshmallow_accepts(schema, mutated, True)


def _set(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _set(copy[path[0]] if path[0] in copy or isinstance(copy, list) else None, path[1:], new)
    return copy
