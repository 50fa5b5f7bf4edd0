"""Events of the matching service. Offer events are about one request of one dossier: their
aggregate is the dossier (so per-dossier order holds downstream); place events are about a
facility's free place and hold no personal data."""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "matching"
PLACE_DECLARED = "matching.place_declared"
OFFER_MADE = "matching.offer_made"
OFFER_ACCEPTED = "matching.offer_accepted"
OFFER_DECLINED = "matching.offer_declined"
OFFER_LAPSED = "matching.offer_lapsed"
OFFER_EVENTS = (OFFER_MADE, OFFER_ACCEPTED, OFFER_DECLINED, OFFER_LAPSED)


def _id():
    return fields.String(required=True, validate=validate.Length(min=1, max=64))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PlaceDeclaredV1(_Strict):
    place_id = _id()
    facility_id = _id()
    start_date = fields.Date(required=True)


class _Offer(_Strict):
    offer_id = _id()
    place_id = _id()
    dossier_id = _id()
    request_id = _id()
    facility_id = _id()
    facility_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    start_date = fields.Date(required=True)


class OfferMadeV1(_Offer):
    answer_deadline = fields.AwareDateTime(required=True, format="iso")
    rule_set_version = fields.String(required=True, validate=validate.Length(min=1, max=40))


class OfferAcceptedV1(_Offer):
    pass


class OfferDeclinedV1(_Offer):
    pass


class OfferLapsedV1(_Offer):
    answer_deadline = fields.AwareDateTime(required=True, format="iso")


SCHEMAS = {
    (PLACE_DECLARED, 1): PlaceDeclaredV1,
    (OFFER_MADE, 1): OfferMadeV1,
    (OFFER_ACCEPTED, 1): OfferAcceptedV1,
    (OFFER_DECLINED, 1): OfferDeclinedV1,
    (OFFER_LAPSED, 1): OfferLapsedV1,
}
