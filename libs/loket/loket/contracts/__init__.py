"""Event contracts: the envelope every message carries and the registry of versioned data schemas.

Producers build envelopes with `envelope(...)`; consumers validate with `parse(...)`. A data schema is
registered per (type, version) in the producer's module (`loket.contracts.registration`, ...).
"""
import uuid
from datetime import datetime, timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from loket.contracts import quick

EXCHANGE = "loket.events"


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.Length(min=3, max=120))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    correlation_id = fields.String(required=True, validate=validate.Length(max=120))
    producer = fields.String(required=True, validate=validate.Length(max=60))
    aggregate_id = fields.String(required=True, validate=validate.Length(max=120))
    sequence = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    data = fields.Dict(required=True)


_ENVELOPE = EnvelopeSchema()  # built once: building a schema costs more than validating with it
_ENVELOPE_CHECK = quick.compile_check(_ENVELOPE, top_level_unknown_allowed=False)


class ContractError(Exception):
    """An event that does not match its contract: never retried, always parked with the reason."""

    def __init__(self, errors):
        super().__init__(f"event does not match its contract: {errors}")
        self.errors = errors


_registered = {}
_cache = None


def register(schemas: dict):
    """Add {(type, version): Schema} entries (the producers' modules are registered automatically)."""
    _registered.update(schemas)
    for key in schemas:
        _instances.pop(key, None)
        _checks.pop(key, None)
        _producer_checks.pop(key, None)


def _registry():
    # Imported lazily so this module has no import cycle with the producers' schema modules.
    global _cache
    if _cache is None:
        from loket.contracts import gateway, matching, registration, registration_replay, retention
        registry = {**registration.SCHEMAS, **registration_replay.SCHEMAS, **matching.SCHEMAS, **retention.SCHEMAS,
                    **gateway.SCHEMAS}
        # Producers added later register here, one import each.
        _cache = registry
    return {**_cache, **_registered}


def new_event_id() -> str:
    return str(uuid.uuid4())


def envelope(event_type, data, *, aggregate_id, sequence, producer, correlation_id=None,
             occurred_at=None, version=1, event_id=None) -> dict:
    """Build a validated envelope (data is dumped through its contract schema)."""
    schema = schema_for(event_type, version)
    check = _quick_check(_producer_checks, (event_type, version), schema, top_level_unknown_allowed=False)
    if check is None or not check(data):
        errors = schema.validate(data)
        if errors:
            raise ContractError({"data": errors})
    event_id = event_id or new_event_id()
    occurred_at = occurred_at or datetime.now(timezone.utc)
    return {
        "id": event_id,
        "type": event_type,
        "version": version,
        "occurred_at": occurred_at.isoformat(),
        "correlation_id": correlation_id or event_id,
        "producer": producer,
        "aggregate_id": str(aggregate_id),
        "sequence": int(sequence),
        "data": data,
    }


_instances = {}
_checks = {}  # (type, version) -> quick check of incoming data (unknown fields at the top are ignored)
_producer_checks = {}  # the same for envelope(): producers may not add unknown fields


def schema_for(event_type, version):
    """The data schema of an event. Instances are reused: building one costs more than a load."""
    key = (event_type, version)
    schema = _instances.get(key)
    if schema is None:
        try:
            schema_class = _registered[key] if key in _registered else _registry()[key]
        except KeyError:
            raise ContractError({"type": [f"unknown event {event_type} v{version}"]}) from None
        schema = _instances[key] = schema_class()
    return schema


def _quick_check(cache, key, schema, top_level_unknown_allowed):
    check = cache.get(key, cache)
    if check is cache:
        check = cache[key] = quick.compile_check(schema, top_level_unknown_allowed)
    return check


def parse(body) -> dict:
    """Validate an incoming envelope and its data; return the envelope as it came.

    What the quick check compiled from the schemas (loket.contracts.quick) accepts is valid;
    anything else is validated by marshmallow itself, which gives the field-level errors."""
    if not isinstance(body, dict):
        raise ContractError({"_schema": ["message body is not a JSON object"]})
    if not _ENVELOPE_CHECK(body):
        errors = _ENVELOPE.validate(body)
        if errors:
            raise ContractError(errors)
    schema = schema_for(body["type"], body["version"])
    check = _quick_check(_checks, (body["type"], body["version"]), schema, top_level_unknown_allowed=True)
    if check is None or not check(body["data"]):
        try:
            schema.load(body["data"], unknown=EXCLUDE)
        except ValidationError as exc:
            raise ContractError({"data": exc.messages}) from None
    return body
