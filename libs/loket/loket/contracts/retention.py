"""Events of the retention service and the erasure receipts every data-holding service answers with.

Erasure saga: retention publishes `retention.erasure_requested`; every service that holds data about
the dossier deletes it and publishes `erasure_receipt.<service>` (ids only) through its own outbox;
retention records the receipts and asks again those that stay missing. Receipts are named by the
saga, not by their producer, so that subscriptions to a producer's events (`registration.#`)
never receive them.

Version 2 of each event carries many erasures (up to ERASURES_PER_EVENT): retention starts
thousands at once, and one message per dossier per service cost more (broker, inbox and outbox
rows, frame handling) than erasing the dossier. A holder answers each request with one receipt
listing every dossier of that request. Its aggregate is the batch (`erasure_batch:<uuid>`), not a
dossier. Consumers still accept version 1 (one dossier per event): messages queued before an
upgrade are answered after it. `requested_erasures` and `receipted_erasures` read either version.
"""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "retention"
ERASURE_REQUESTED = "retention.erasure_requested"
ERASURE_COMPLETED = "retention.erasure_completed"
RECEIPT_PREFIX = "erasure_receipt."
# Services that hold personal data and must answer an erasure request.
DATA_HOLDERS = ("registration", "matching", "notification", "consent_export")
REASONS = ("retention_expired", "parent_request")
ERASURES_PER_EVENT = 200  # most dossiers one version-2 event names


def receipt_type(service: str) -> str:
    return f"{RECEIPT_PREFIX}{service}"


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ErasureRequestedV1(_Strict):
    dossier_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    run_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.OneOf(REASONS))


class ErasureReceiptV1(_Strict):
    dossier_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    run_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    service = fields.String(required=True, validate=validate.OneOf(DATA_HOLDERS))
    erased_rows = fields.Integer(required=True, validate=validate.Range(min=0))


class ErasureCompletedV1(_Strict):
    dossier_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    run_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.OneOf(REASONS))


_MANY = validate.Length(min=1, max=ERASURES_PER_EVENT)


class ErasureRequestedV2(_Strict):
    requests = fields.List(fields.Nested(ErasureRequestedV1), required=True, validate=_MANY)


class _Erased(_Strict):
    dossier_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    run_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    erased_rows = fields.Integer(required=True, validate=validate.Range(min=0))


class ErasureReceiptV2(_Strict):
    service = fields.String(required=True, validate=validate.OneOf(DATA_HOLDERS))
    erased = fields.List(fields.Nested(_Erased), required=True, validate=_MANY)


class ErasureCompletedV2(_Strict):
    completed = fields.List(fields.Nested(ErasureCompletedV1), required=True, validate=_MANY)


SCHEMAS = {
    (ERASURE_REQUESTED, 1): ErasureRequestedV1,
    (ERASURE_REQUESTED, 2): ErasureRequestedV2,
    (ERASURE_COMPLETED, 1): ErasureCompletedV1,
    (ERASURE_COMPLETED, 2): ErasureCompletedV2,
    **{(receipt_type(service), 1): ErasureReceiptV1 for service in DATA_HOLDERS},
    **{(receipt_type(service), 2): ErasureReceiptV2 for service in DATA_HOLDERS},
}


def batch_items(event_type: str) -> str:
    """The list field of a version-2 erasure event: what it requests, confirms or completes."""
    return {ERASURE_REQUESTED: "requests", ERASURE_COMPLETED: "completed"}.get(event_type, "erased")


def batch_aggregate(batch_id: str) -> str:
    """The aggregate of a version-2 event: the batch it starts or answers, not one dossier."""
    return f"erasure_batch:{batch_id}"


def requested_erasures(event) -> list[dict]:
    """The erasures a `retention.erasure_requested` asks for, `{dossier_id, run_id, reason}` each,
    of either version."""
    return [event["data"]] if event.get("version", 1) == 1 else event["data"]["requests"]


def receipted_erasures(event) -> list[dict]:
    """What an `erasure_receipt.<service>` confirms, `{dossier_id, run_id, service, erased_rows}`
    each, of either version."""
    data = event["data"]
    if event.get("version", 1) == 1:
        return [data]
    return [{**erased, "service": data["service"]} for erased in data["erased"]]


def dossiers_named(body) -> list[str]:
    """The dossiers an envelope is about, each once, in order: those the items of a version-2 erasure
    event (requested, receipt, completed) name, whose aggregate is their batch; for any other
    envelope its aggregate. Reads parked messages, which may break their contract: what cannot be
    read names no dossier."""
    if not isinstance(body, dict):
        return []
    event_type = body.get("type")
    if body.get("version") != 2 or not isinstance(event_type, str) or not (
            event_type in (ERASURE_REQUESTED, ERASURE_COMPLETED) or event_type.startswith(RECEIPT_PREFIX)):
        aggregate_id = body.get("aggregate_id")
        return [aggregate_id] if isinstance(aggregate_id, str) and aggregate_id else []
    items = batch_items(event_type)
    data = body.get("data")
    listed = data.get(items) if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return []
    return list(dict.fromkeys(item["dossier_id"] for item in listed
                              if isinstance(item, dict) and isinstance(item.get("dossier_id"), str)))
