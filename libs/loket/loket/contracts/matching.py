"""Events of the matching service. Offer events are about one request of one dossier: their
aggregate is the dossier (so per-dossier order holds downstream); place events are about a
facility's free place and hold no personal data. A departure (an enrolled child left its facility)
is about the dossier too; once the dossier was erased the enrollment has no dossier any more, and
the event is its own aggregate (`enrollment-<id>`, sequence 1) with dossier_id and request_id null."""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "matching"
PLACE_DECLARED = "matching.place_declared"
OFFER_MADE = "matching.offer_made"
OFFER_ACCEPTED = "matching.offer_accepted"
OFFER_DECLINED = "matching.offer_declined"
OFFER_LAPSED = "matching.offer_lapsed"
OFFER_EVENTS = (OFFER_MADE, OFFER_ACCEPTED, OFFER_DECLINED, OFFER_LAPSED)
DEPARTURE_RECORDED = "matching.departure_recorded"


def _id(**kwargs):
    return fields.String(required=True, validate=validate.Length(min=1, max=64), **kwargs)


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


class DepartureRecordedV1(_Strict):
    """An enrolled child left: from `left_on` (the first day without its place) it no longer counts
    in the facility's occupancy."""
    enrollment_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    facility_id = _id()
    dossier_id = _id(allow_none=True)
    request_id = _id(allow_none=True)
    left_on = fields.Date(required=True)


SCHEMAS = {
    (PLACE_DECLARED, 1): PlaceDeclaredV1,
    (OFFER_MADE, 1): OfferMadeV1,
    (OFFER_ACCEPTED, 1): OfferAcceptedV1,
    (OFFER_DECLINED, 1): OfferDeclinedV1,
    (OFFER_LAPSED, 1): OfferLapsedV1,
    (DEPARTURE_RECORDED, 1): DepartureRecordedV1,
}
