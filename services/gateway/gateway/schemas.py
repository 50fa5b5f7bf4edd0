"""The HTTP API's request and response bodies; the OpenAPI document is generated from these.

Account bodies are the gateway's own and fully checked here. A dossier body is checked here for its
shape (which parts, of which JSON type); what is inside a part (names, dates, care plan, the five
facilities) is the registration service's input contract, checked by that service, whose field
errors come back as the same 400. Unknown fields are refused everywhere.
"""
from marshmallow import INCLUDE, RAISE, Schema, fields
from marshmallow.validate import Length, OneOf, Range

from loket.contracts.registration import (
    CONSENT_METHODS, FLAGS, GENDERS, LANGUAGES, MAX_FACILITIES, SnapshotSchema,
)


class Body(Schema):
    class Meta:
        unknown = RAISE


def _text(max_length, **kwargs):
    return fields.String(validate=Length(1, max_length), **kwargs)


def _part(description, **kwargs):
    return fields.Dict(metadata={"description": description}, **kwargs)


# --- accounts

class Credentials(Body):
    email = _text(254, required=True)
    password = fields.String(required=True, validate=Length(1, 1024))


class SignUpBody(Credentials):
    preferred_language = fields.String(load_default="nl", validate=OneOf(("nl", "fr", "en")),
                                       metadata={"description": "Language of the confirmation email."})


class LogInBody(Credentials):
    pass


class SignUpAccepted(Schema):
    status = fields.String(required=True, metadata={"enum": ["confirmation_sent"]})
    confirmation_token = fields.String(metadata={
        "description": "Only where GATEWAY_EXPOSE_CONFIRMATION_TOKENS is on (tests, local runs); "
                       "in production the token travels by email only."})


class ConfirmationBody(Body):
    token = _text(200, required=True)


class ConfirmationRequestBody(Body):
    email = _text(254, required=True)
    preferred_language = fields.String(load_default="nl", validate=OneOf(("nl", "fr", "en")),
                                       metadata={"description": "Language of the confirmation email."})


class SessionCreated(Schema):
    token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer <token>`."})
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"]})
    idle_timeout_seconds = fields.Integer(required=True)
    absolute_timeout_seconds = fields.Integer(required=True)


class AccountView(Schema):
    account_id = fields.String(required=True)
    role = fields.String(required=True)
    facility_ids = fields.List(fields.String(), required=True)
    organisation_id = fields.String(required=True, allow_none=True)


class Health(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "failing"]})
    service = fields.String(required=True)
    database = fields.String(required=True, metadata={"enum": ["ok", "failing"]})
    broker = fields.String(required=True, metadata={"enum": ["ok", "failing"]})


# --- dossiers

class RegisterDossierBody(Body):
    preferred_language = fields.String(required=True, validate=OneOf(LANGUAGES))
    applicant = _part("last_name, first_name, birth_date, gender, email, phone, address", required=True)
    partner = _part("the optional second parent: last_name, first_name, birth_date, gender, email, phone",
                    allow_none=True)
    children = fields.List(_part("a child and its request (desired_start_date, care_plan, facility_ids)"),
                           required=True)
    situation = _part("family, financial, work, education, health, dutch", required=True)
    consents = _part("kind_en_gezin / lop: {given, policy_version, method}", allow_none=True)
    facility_id = _text(64, metadata={
        "description": "A facility manager registering for a parent names the facility they act for."})


class UpdateContactBody(Body):
    preferred_language = fields.String(validate=OneOf(LANGUAGES))
    applicant = _part("the applicant's fields to change")
    partner = _part("the partner, replaced as a whole; null removes the partner", allow_none=True)


class UpdateSituationBody(Body):
    situation = _part("the whole situation: family, financial, work, education, health, dutch", required=True)
    children = fields.List(_part("{id, foster_child, sibling_facility_ids}"))


class AddChildBody(Body):
    last_name = _text(100, required=True)
    first_name = _text(100, allow_none=True)
    birth_date = fields.Date(required=True)
    gender = fields.String(allow_none=True, validate=OneOf(GENDERS))
    foster_child = fields.Boolean()
    sibling_facility_ids = fields.List(_text(64))
    request = _part("desired_start_date, care_plan, facility_ids", required=True)


class FacilitiesBody(Body):
    facility_ids = fields.List(_text(64), required=True, validate=Length(1, MAX_FACILITIES))


class ConsentBody(Body):
    given = fields.Boolean(required=True, truthy={True}, falsy={False})
    policy_version = _text(40, required=True)
    method = fields.String(validate=OneOf(CONSENT_METHODS), metadata={
        "description": "How the consent was given. Defaults to the caller's channel (web for a parent); "
                       "the helpdesk may record a paper consent."})


class CancellationBody(Body):
    reason = _text(500, allow_none=True, metadata={"description": "Required when the helpdesk cancels."})


class FlagBody(Body):
    flag = fields.String(required=True, validate=OneOf(FLAGS))
    message = _text(1000, required=True)


class DossierView(SnapshotSchema):
    """The dossier as the caller may see it: the event SNAPSHOT, plus for its own readers the situation as
    given, flags, cancellation reasons and consent history."""

    class Meta:
        unknown = INCLUDE

    version = fields.Integer()
    flagged = fields.Boolean()
    situation = fields.Dict()
    consent_history = fields.List(fields.Dict())


class DossierChanged(Schema):
    """The dossier after the change, and what the change created (child_id, request_id, ...)."""

    class Meta:
        unknown = INCLUDE

    dossier = fields.Nested(SnapshotSchema, required=True)


class DossierRegistered(DossierChanged):
    claim_code = fields.String(metadata={
        "description": "Only when an intermediary or a facility manager registers, and only in this answer: "
                       "the one-time code the parent claims the dossier with (POST /dossiers/claims). Hand it "
                       "to the parent; it is stored only as a hash and cannot be shown again."})
    claim_code_expires_at = fields.String(metadata={"format": "date-time"})


class ClaimBody(Body):
    claim_code = _text(64, required=True, metadata={
        "description": "The code the registrant handed over; dashes, spaces and case do not matter."})


class DossierClaimed(Schema):
    dossier_id = fields.String(required=True)


class RestrictionBody(Body):
    restricted = fields.Boolean(required=True, truthy={True}, falsy={False})


class DossierSearchBody(Body):
    """Every given criterion must hold; at least one is needed (the registration service checks the values)."""
    last_name = _text(100, metadata={
        "description": "The applicant's or the partner's last name starts with this (case and accents ignored)."})
    email = _text(254, metadata={"description": "The applicant's or the partner's email, exactly (case ignored)."})
    child_birth_date = fields.Date(metadata={"description": "A child of the dossier was born (or is due) that day."})
    dossier_id = _text(64)
    request_id = _text(64, metadata={"description": "A request of the dossier."})


class DossierSummaryApplicant(Schema):
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)


class DossierSummaryRequest(Schema):
    request_id = fields.String(required=True)
    status = fields.String(required=True)
    urgent = fields.Boolean(required=True)


class DossierSummary(Schema):
    """Enough to tell dossiers apart; open one with GET /dossiers/{dossier_id}."""
    dossier_id = fields.String(required=True)
    registered_at = fields.String(required=True, metadata={"format": "date-time"})
    applicant = fields.Nested(DossierSummaryApplicant, required=True)
    child_birth_dates = fields.List(fields.Date(), required=True)
    requests = fields.List(fields.Nested(DossierSummaryRequest), required=True)


class DossierSearchResults(Schema):
    results = fields.List(fields.Nested(DossierSummary), required=True)
    truncated = fields.Boolean(required=True, metadata={
        "description": "More dossiers matched than are shown (at most 50): narrow the search."})


class OwnDossiers(Schema):
    dossier_ids = fields.List(fields.String(), required=True)


class AccessLogEntry(Schema):
    at = fields.String(required=True, metadata={"format": "date-time"})
    role = fields.String(required=True)
    actor_id = fields.String(required=True, allow_none=True)
    operation = fields.String(required=True)
    outcome = fields.String(required=True)


class AccessLog(Schema):
    entries = fields.List(fields.Nested(AccessLogEntry), required=True)


class PersonalDataExport(Schema):
    """Everything the registration service holds about the dossier (GDPR access and portability)."""
    dossier = fields.Nested(DossierView, required=True)
    access_log = fields.List(fields.Nested(AccessLogEntry), required=True)


class ErasureRun(Schema):
    """The erasure of a dossier across every service that holds its data (retention's saga)."""

    class Meta:
        unknown = INCLUDE

    dossier_id = fields.String(required=True)
    run_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["in_progress", "completed"]})
    started_at = fields.String(required=True, metadata={"format": "date-time"})
    missing = fields.List(fields.String(), required=True, metadata={"description": "Services yet to confirm."})


# --- facilities, free places, rankings, offers (matching service)

def _facility_fields(required: bool) -> dict:
    """A facility's parts and their JSON types; the rules (ranges, rule sets, shares) are matching's."""
    return {
        "name": _text(200, required=required),
        "municipality": _text(100, required=required),
        "licensed_capacity": fields.Integer(strict=True, required=required),
        "opening_days": fields.List(fields.String(), required=required),
        "min_age_months": fields.Integer(strict=True, required=required),
        "max_age_months": fields.Integer(strict=True, required=required),
        "income_related_tariff": fields.Boolean(truthy={True}, falsy={False}, required=required),
        "dutch_share": fields.Float(required=required, allow_nan=False),
        "answer_window_days": fields.Integer(strict=True, required=required),
        "extra_rules": fields.List(fields.String()),
        "rule_set": _text(40),
        "kg2024_group_order": fields.List(fields.String(), allow_none=True),
        "staff_dossier_ids": fields.List(_text(64), metadata={
            "description": "Dossiers of staff's children, for a facility rule giving them priority."}),
    }


NewFacilityBody = Body.from_dict({"id": _text(16, metadata={"description": "fac-0001; given when omitted"}),
                                  **_facility_fields(required=True)}, name="NewFacilityBody")
FacilityChangesBody = Body.from_dict(_facility_fields(required=False), name="FacilityChangesBody")


class FreePlaceBody(Body):
    start_date = fields.Date(required=True)
    weekdays = _part("free days and parts: {mon: full|morning|afternoon, ...}", required=True)
    min_age_months = fields.Integer(strict=True, allow_none=True)
    max_age_months = fields.Integer(strict=True, allow_none=True)


class OfferBody(Body):
    request_id = _text(64, required=True)


class DepartureBody(Body):
    request_id = _text(64, metadata={"description": "The enrolled child's request."})
    enrollment_id = fields.Integer(strict=True, validate=Range(min=1), metadata={
        "description": "Instead of request_id: the enrollment (GET /facilities/{facility_id} lists them), "
                       "the only name left once the dossier is erased."})
    left_on = fields.Date(required=True, metadata={
        "description": "The first day the child no longer takes its place (at most 7 months ahead)."})


class OfferAnswerBody(Body):
    accept = fields.Boolean(required=True, truthy={True}, falsy={False},
                            metadata={"description": "true accepts the place (an enrollment), false declines it."})


class RankingQuery(Body):
    limit = fields.Integer(strict=False, validate=Range(min=1, max=10000),
                           metadata={"description": "Show only the first candidates; `total` counts all."})


class Facility(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True)
    name = fields.String(required=True)
    municipality = fields.String(required=True)
    opening_days = fields.List(fields.String(), required=True)


class Facilities(Schema):
    facilities = fields.List(fields.Nested(Facility), required=True)


class FreePlace(Schema):
    class Meta:
        unknown = INCLUDE

    place_id = fields.String(required=True)
    facility_id = fields.String(required=True)
    start_date = fields.Date(required=True)
    status = fields.String(required=True)


class Offer(Schema):
    class Meta:
        unknown = INCLUDE

    offer_id = fields.String(required=True)
    place_id = fields.String(required=True)
    request_id = fields.String(required=True)
    dossier_id = fields.String(required=True)
    status = fields.String(required=True)
    answer_deadline = fields.String(required=True, metadata={"format": "date-time"})


class Departure(Schema):
    class Meta:
        unknown = INCLUDE

    enrollment_id = fields.Integer(required=True)
    facility_id = fields.String(required=True)
    request_id = fields.String(required=True, allow_none=True, metadata={"description": "null once erased"})
    dossier_id = fields.String(required=True, allow_none=True, metadata={"description": "null once erased"})
    enrolled_at = fields.String(required=True, metadata={"format": "date-time"})
    left_on = fields.Date(required=True)


class FreePlaceWithOffers(FreePlace):
    offers = fields.List(fields.Nested(Offer), required=True)


class Candidate(Schema):
    class Meta:
        unknown = INCLUDE

    position = fields.Integer(required=True)
    request_id = fields.String(required=True)
    dossier_id = fields.String(required=True)
    reasons = fields.Raw(required=True, metadata={"description": "The rules that put the candidate here."})


class Ranking(Schema):
    class Meta:
        unknown = INCLUDE

    place = fields.Nested(FreePlace, required=True)
    rule_set_version = fields.String(required=True)
    total = fields.Integer(required=True)
    candidates = fields.List(fields.Nested(Candidate), required=True)


class FacilityDossiers(Schema):
    dossier_ids = fields.List(fields.String(), required=True)


class Error(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Field-level messages, nested like the input."})
