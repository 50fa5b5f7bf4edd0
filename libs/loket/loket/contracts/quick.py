"""A quick acceptance check compiled from a marshmallow contract schema, for consumers' hot path.

marshmallow spends most of a snapshot's validation in its schema machinery (error stores, hooks,
per-field getters), not in the checks themselves: about 0.2 ms per registration event, as much as
the matching projection's whole work on it. `compile_check(schema)` walks the schema once and
returns a function that says whether a payload is certainly valid, by the same rules, with the
field's own validators (OneOf, Length, Range, Email, ...) and, for temporal fields, the field's own
parsing. It only ever accepts what marshmallow accepts; everything else - including what it is
unsure of - it leaves to marshmallow, which then gives the field-level errors (loket.contracts.parse).

Deliberately narrower than marshmallow: strings must be `str`, booleans `bool`, integers `int`,
floats finite `int`/`float`, lists `list`, objects `dict`. A schema with hooks (@validates,
@validates_schema, @pre_load, ...), a `data_key`, or a field type not listed here gets no quick
check (None), and is always validated by marshmallow.
"""
import math

from marshmallow import Schema, ValidationError, fields, validate

def compile_check(schema: Schema, top_level_unknown_allowed: bool = True):
    """A function payload -> bool (True: marshmallow would accept it), or None if this schema's
    rules are not all expressible here. `top_level_unknown_allowed`: loads with unknown=EXCLUDE."""
    try:
        return _object_check(schema, allow_unknown=top_level_unknown_allowed)
    except _Unsupported:
        return None


class _Unsupported(Exception):
    pass


def _object_check(schema, allow_unknown):
    if any(schema._hooks.values()):
        raise _Unsupported(f"{type(schema).__name__} has hooks")
    members = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None:
            raise _Unsupported(f"{type(schema).__name__}.{name} has a data_key")
        members.append((name, field.required, field.allow_none, _value_check(field)))
    names = frozenset(name for name, *_ in members)
    unknown_allowed = allow_unknown

    def check(value):
        if type(value) is not dict:
            return False
        if not unknown_allowed and not names.issuperset(value):
            return False
        for name, required, allow_none, check_value in members:
            if name not in value:
                if required:
                    return False
                continue
            item = value[name]
            if item is None:
                if not allow_none:
                    return False
                continue
            if not check_value(item):
                return False
        return True

    return check


def _validated(field, check_type):
    """check_type: value -> the deserialized value, or raises/returns _FAIL; then the field's validators."""
    validators = tuple(field.validators)

    def check(value):
        try:
            loaded = check_type(value)
            if loaded is _FAIL:
                return False
            for validator in validators:
                if validator(loaded) is False:
                    return False
        except (ValidationError, TypeError, ValueError, OverflowError):
            return False
        return True

    return check


_FAIL = object()


def _string(value):
    return value if type(value) is str else _FAIL


def _boolean_of(field):
    truthy, falsy = field.truthy, field.falsy
    if not truthy:
        raise _Unsupported("a Boolean whose truthy set is empty")

    def load(value):
        if type(value) is not bool:
            return _FAIL
        if value in truthy:
            return True
        if value in falsy:
            return False
        return _FAIL

    return load


def _integer_of(field):
    def load(value):
        return value if type(value) is int else _FAIL  # strict or not: an int is an int

    return load


def _float_of(field):
    if field.allow_nan:
        raise _Unsupported("a Float allowing NaN")

    def load(value):
        if type(value) is not float and type(value) is not int:
            return _FAIL
        loaded = float(value)
        return loaded if math.isfinite(loaded) else _FAIL

    return load


def _temporal_of(field):
    def load(value):
        if type(value) is not str:
            return _FAIL
        return field._deserialize(value, None, None)  # the field's own parsing (and, aware or not, its checks)

    return load


def _value_check(field):
    kind = type(field)
    if kind in (fields.String, fields.Email):
        return _validated(field, _string)
    if kind is fields.Boolean:
        return _validated(field, _boolean_of(field))
    if kind is fields.Integer:
        return _validated(field, _integer_of(field))
    if kind is fields.Float:
        return _validated(field, _float_of(field))
    if kind in (fields.Date, fields.DateTime, fields.AwareDateTime, fields.NaiveDateTime):
        return _validated(field, _temporal_of(field))
    if kind in (fields.Nested, fields.List, fields.Dict) and not all(
            type(validator) is validate.Length for validator in field.validators):
        # Their validators would see the loaded value (dates as objects); Length sees the same either way.
        raise _Unsupported(f"a {kind.__name__} with validators other than Length")
    if kind is fields.Nested:
        if field.many or field.only or field.exclude or field.unknown is not None:
            raise _Unsupported("a Nested field with many/only/exclude/unknown")
        nested = field.schema
        if nested.unknown != "raise":
            raise _Unsupported(f"{type(nested).__name__} does not raise on unknown fields")
        inner = _object_check(nested, allow_unknown=False)
        return _validated(field, lambda value: value if inner(value) else _FAIL)
    if kind is fields.List:
        inner = _element_check(field.inner)
        return _validated(field, lambda value: value if type(value) is list and all(map(inner, value)) else _FAIL)
    if kind is fields.Dict:
        keys = _element_check(field.key_field) if field.key_field is not None else None
        values = _element_check(field.value_field) if field.value_field is not None else None

        def load(value):
            if type(value) is not dict:
                return _FAIL
            if keys is not None and not all(map(keys, value)):
                return _FAIL
            if values is not None and not all(map(values, value.values())):
                return _FAIL
            return value

        return _validated(field, load)
    raise _Unsupported(f"field type {kind.__name__}")


def _element_check(field):
    """An element of a List or a key/value of a Dict: the field's rules, None only if it allows it."""
    check = _value_check(field)
    allow_none = field.allow_none
    return lambda value: allow_none if value is None else check(value)
