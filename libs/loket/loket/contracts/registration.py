"""Contracts of the events the registration service emits (data part of the envelope).

Every event except dossier_erased carries the dossier SNAPSHOT. The health situation detail is
never part of it: only the derived flag `priority.health_or_care_situation` travels. Schemas reject
unknown fields, so a producer that leaks an extra field fails its own contract check.
"""
from marshmallow import RAISE, Schema, fields, validate

PRODUCER = "registration"

DOSSIER_REGISTERED = "registration.dossier_registered"
DOSSIER_UPDATED = "registration.dossier_updated"
CHILD_ADDED = "registration.child_added"
FACILITIES_CHANGED = "registration.facilities_changed"
CONSENT_GIVEN = "registration.consent_given"
CONSENT_WITHDRAWN = "registration.consent_withdrawn"
REQUEST_CANCELLED = "registration.request_cancelled"
REQUEST_MARKED_URGENT = "registration.request_marked_urgent"
DOSSIER_FLAGGED = "registration.dossier_flagged"
REQUEST_ENROLLED = "registration.request_enrolled"
REQUEST_EXPIRED = "registration.request_expired"
DOSSIER_ERASED = "registration.dossier_erased"

EVENT_TYPES = (
    DOSSIER_REGISTERED, DOSSIER_UPDATED, CHILD_ADDED, FACILITIES_CHANGED, CONSENT_GIVEN,
    CONSENT_WITHDRAWN, REQUEST_CANCELLED, REQUEST_MARKED_URGENT, DOSSIER_FLAGGED,
    REQUEST_ENROLLED, REQUEST_EXPIRED, DOSSIER_ERASED,
)

ROLES = ("parent", "helpdesk", "intermediary", "facility_manager", "system")
LANGUAGES = ("nl", "fr", "en")
GENDERS = ("f", "m", "x")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
DAY_PARTS = ("full", "morning", "afternoon")
REQUEST_STATUSES = ("active", "enrolled", "cancelled", "expired")
CONSENT_PARTNERS = ("kind_en_gezin", "lop")
CONSENT_METHODS = ("web", "paper", "helpdesk", "intermediary")
FLAGS = ("incomplete", "mistake")
CHANGED_SECTIONS = ("contact", "partner", "situation", "children", "restriction")
MAX_FACILITIES = 5


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _str(**kwargs):
    return fields.String(required=True, **kwargs)


def _nullable_str():
    return fields.String(required=True, allow_none=True)


def _one_of(choices, **kwargs):
    return fields.String(required=True, validate=validate.OneOf(choices), **kwargs)


def _bool():
    return fields.Boolean(required=True, truthy={True}, falsy={False})


def _datetime():
    return fields.AwareDateTime(required=True, format="iso")


class ActorSchema(_Strict):
    role = _one_of(ROLES)
    actor_id = _nullable_str()


class ConsentSchema(_Strict):
    id = _str()
    given = _bool()
    at = _datetime()
    policy_version = _str()
    method = _one_of(CONSENT_METHODS)


class ConsentsSchema(_Strict):
    kind_en_gezin = fields.Nested(ConsentSchema, required=True, allow_none=True)
    lop = fields.Nested(ConsentSchema, required=True, allow_none=True)


class AddressSchema(_Strict):
    street = _str()
    house_number = _str()
    postal_code = _str()
    municipality = _str()


class ApplicantSchema(_Strict):
    last_name = _str()
    first_name = _str()
    birth_date = fields.Date(required=True)
    gender = _one_of(GENDERS)
    email = fields.Email(required=True)
    phone = _nullable_str()
    address = fields.Nested(AddressSchema, required=True)


class PartnerSchema(_Strict):
    last_name = _str()
    first_name = _str()
    birth_date = fields.Date(required=True)
    gender = _one_of(GENDERS)
    email = fields.Email(required=True, allow_none=True)
    phone = _nullable_str()


class ChildSchema(_Strict):
    id = _str()
    last_name = _str()
    first_name = _nullable_str()
    birth_date = fields.Date(required=True)
    gender = _one_of(GENDERS, allow_none=True)
    foster_child = _bool()
    sibling_facility_ids = fields.List(fields.String(), required=True)


class RequestSchema(_Strict):
    id = _str()
    child_id = _str()
    desired_start_date = fields.Date(required=True)
    care_plan = fields.Dict(
        keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.String(validate=validate.OneOf(DAY_PARTS)),
        required=True,
    )
    facility_ids = fields.List(fields.String(), required=True,
                               validate=validate.Length(max=MAX_FACILITIES))
    status = _one_of(REQUEST_STATUSES)
    urgent = _bool()
    enrolled_facility_id = _nullable_str()
    registered_at = _datetime()


class PrioritySchema(_Strict):
    dutch_proficiency = _bool()
    dutch_proof_declared = _bool()
    single_parent = _bool()
    income_below_threshold = _bool()
    health_or_care_situation = _bool()
    no_secondary_diploma = _bool()
    work_or_training_need = _bool()
    work_regime_fraction = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    integration_course_complete = _bool()


class SnapshotSchema(_Strict):
    id = _str()
    registered_at = _datetime()
    last_activity_at = _datetime()
    registered_by = fields.Nested(ActorSchema, required=True)
    preferred_language = _one_of(LANGUAGES)
    restricted = _bool()
    applicant = fields.Nested(ApplicantSchema, required=True)
    partner = fields.Nested(PartnerSchema, required=True, allow_none=True)
    children = fields.List(fields.Nested(ChildSchema), required=True)
    requests = fields.List(fields.Nested(RequestSchema), required=True)
    priority = fields.Nested(PrioritySchema, required=True)
    consents = fields.Nested(ConsentsSchema, required=True)


class _WithSnapshot(_Strict):
    dossier = fields.Nested(SnapshotSchema, required=True)


class DossierRegisteredV1(_WithSnapshot):
    pass


class DossierUpdatedV1(_WithSnapshot):
    changed_by = fields.Nested(ActorSchema, required=True)
    changed_sections = fields.List(fields.String(validate=validate.OneOf(CHANGED_SECTIONS)),
                                   required=True, validate=validate.Length(min=1))


class ChildAddedV1(_WithSnapshot):
    changed_by = fields.Nested(ActorSchema, required=True)  # P18: a helpdesk change is told to the parent
    child_id = _str()
    request_id = _str()


class FacilitiesChangedV1(_WithSnapshot):
    changed_by = fields.Nested(ActorSchema, required=True)  # P18: a helpdesk change is told to the parent
    request_id = _str()


class ConsentGivenV1(_WithSnapshot):
    changed_by = fields.Nested(ActorSchema, required=True)  # P18: a helpdesk change is told to the parent
    partner = _one_of(CONSENT_PARTNERS)


class ConsentWithdrawnV1(_WithSnapshot):
    changed_by = fields.Nested(ActorSchema, required=True)  # P18: a helpdesk change is told to the parent
    partner = _one_of(CONSENT_PARTNERS)


class RequestCancelledV1(_WithSnapshot):
    request_id = _str()
    cancelled_by = fields.Nested(ActorSchema, required=True)
    reason = _nullable_str()


class RequestMarkedUrgentV1(_WithSnapshot):
    request_id = _str()
    marked_by = fields.Nested(ActorSchema, required=True)


class DossierFlaggedV1(_WithSnapshot):
    flag = _one_of(FLAGS)
    message = _str()
    flagged_by = fields.Nested(ActorSchema, required=True)


class RequestEnrolledV1(_WithSnapshot):
    request_id = _str()
    facility_id = _str()


class RequestExpiredV1(_WithSnapshot):
    request_id = _str()


class DossierErasedV1(_Strict):
    dossier_id = _str()


SCHEMAS = {
    (DOSSIER_REGISTERED, 1): DossierRegisteredV1,
    (DOSSIER_UPDATED, 1): DossierUpdatedV1,
    (CHILD_ADDED, 1): ChildAddedV1,
    (FACILITIES_CHANGED, 1): FacilitiesChangedV1,
    (CONSENT_GIVEN, 1): ConsentGivenV1,
    (CONSENT_WITHDRAWN, 1): ConsentWithdrawnV1,
    (REQUEST_CANCELLED, 1): RequestCancelledV1,
    (REQUEST_MARKED_URGENT, 1): RequestMarkedUrgentV1,
    (DOSSIER_FLAGGED, 1): DossierFlaggedV1,
    (REQUEST_ENROLLED, 1): RequestEnrolledV1,
    (REQUEST_EXPIRED, 1): RequestExpiredV1,
    (DOSSIER_ERASED, 1): DossierErasedV1,
}
