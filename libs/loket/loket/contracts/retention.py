"""Events of the retention service and the erasure receipts every data-holding service answers with.

Erasure saga: retention publishes `retention.erasure_requested`; every service that holds data about
the dossier deletes it and publishes `erasure_receipt.<service>` (ids only) through its own outbox;
retention records the receipts and asks again those that stay missing. Receipts are named by the
saga, not by their producer, so that subscriptions to a producer's events (`registration.#`)
never receive them.
"""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "retention"
ERASURE_REQUESTED = "retention.erasure_requested"
ERASURE_COMPLETED = "retention.erasure_completed"
RECEIPT_PREFIX = "erasure_receipt."
# Services that hold personal data and must answer an erasure request.
DATA_HOLDERS = ("registration", "matching", "notification", "consent_export")
REASONS = ("retention_expired", "parent_request")


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


SCHEMAS = {
    (ERASURE_REQUESTED, 1): ErasureRequestedV1,
    (ERASURE_COMPLETED, 1): ErasureCompletedV1,
    **{(receipt_type(service), 1): ErasureReceiptV1 for service in DATA_HOLDERS},
}
