"""Events of the gateway: what it asks other services to do for an account (not a dossier)."""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "gateway"
ACCOUNT_CONFIRMATION_REQUESTED = "gateway.account_confirmation_requested"
LANGUAGES = ("nl", "fr", "en")


class AccountConfirmationRequestedV1(Schema):
    """Mail this one-time token to the address so its owner can confirm it (only its hash is stored)."""

    class Meta:
        unknown = RAISE

    account_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    email = fields.Email(required=True)
    confirmation_token = fields.String(required=True, validate=validate.Length(min=16, max=200))
    expires_at = fields.AwareDateTime(required=True, format="iso")
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))


SCHEMAS = {(ACCOUNT_CONFIRMATION_REQUESTED, 1): AccountConfirmationRequestedV1}
