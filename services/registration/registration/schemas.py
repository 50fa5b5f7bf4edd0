"""Input schemas of every RPC operation, with field-level messages.

Unknown fields are rejected everywhere, every string has a maximum length, and there is no file
field anywhere: Dutch-language proof is only declared (P6). Rules that depend on the date (start
date not in the past, birth date not in the future) use the `today` given to the top-level schema,
because marshmallow 4 has no context to pass it to nested schemas.
"""
from datetime import date

from functools import lru_cache

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Regexp

from loket.contracts.registration import (
    CONSENT_METHODS, CONSENT_PARTNERS, DAY_PARTS, FLAGS, GENDERS, LANGUAGES, MAX_FACILITIES,
    WEEKDAYS,
)

from .errors import InvalidInput

REGISTRANT_ROLES = ("parent", "intermediary", "facility_manager")
# "secondary" and up means a secondary-school diploma
EDUCATION_LEVELS = ("no_diploma", "primary", "secondary", "higher")
NAMED_REGIMES = {"full": 1.0, "4/5": 0.8, "half": 0.5, "none": 0.0}
MAX_CHILDREN = 10

START_IN_PAST = "The desired start date cannot be in the past."
BIRTH_AFTER_START = "The birth date cannot be after the desired start date."
BIRTH_IN_FUTURE = "The birth date cannot be in the future."
TOO_MANY_FACILITIES = f"Choose at most {MAX_FACILITIES} facilities."
NO_FACILITY = "Choose at least one facility."
DUPLICATE_FACILITY = "Each facility can be chosen only once."


def text(max_length, *, required=True, min_length=1, **kwargs):
    """A string field; every string in the input has a maximum length."""
    if not required:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
    return fields.String(required=required, validate=Length(min_length, max_length),
                         **kwargs)


def choice(choices, *, required=True, **kwargs):
    if not required:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
    return fields.String(required=required, validate=OneOf(choices), **kwargs)


def boolean(**kwargs):
    """JSON true or false only, not "yes" or 1."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


def flag(default=False):
    return boolean(load_default=default)


def identifier(**kwargs):
    return text(64, **kwargs)


def _unique(values):
    if len(set(values)) != len(values):
        raise ValidationError(DUPLICATE_FACILITY)


def facility_ids():
    return fields.List(
        identifier(), required=True,
        validate=[Length(min=1, error=NO_FACILITY),
                  Length(max=MAX_FACILITIES, error=TOO_MANY_FACILITIES), _unique],
    )


class Regime(fields.Field):
    """A work or training regime as a fraction of full time, or by name (full, 4/5, half, none)."""

    default_error_messages = {
        "invalid": "Give a fraction between 0 and 1 or one of: " + ", ".join(NAMED_REGIMES) + "."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value in NAMED_REGIMES:
            return NAMED_REGIMES[value]
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            return float(value)
        raise self.make_error("invalid")


class InputSchema(Schema):
    class Meta:
        unknown = RAISE

    def __init__(self, *, today: date | None = None, **kwargs):
        super().__init__(**kwargs)
        self._today = today

    @property
    def today(self) -> date:
        if self._today is None:
            raise TypeError(f"{type(self).__name__} checks dates: construct it with today=")
        return self._today


class ActorInput(InputSchema):
    """Who registered the dossier; a facility manager also names their facility (for P21)."""

    role = choice(REGISTRANT_ROLES)
    actor_id = identifier(required=False)
    facility_id = identifier(required=False)

    @validates_schema
    def _identified(self, data, **kwargs):
        if data["role"] != "parent" and not data.get("actor_id"):
            raise ValidationError("Required when an intermediary or facility manager registers.",
                                  "actor_id")
        if data["role"] == "facility_manager" and not data.get("facility_id"):
            raise ValidationError("Required when a facility manager registers.", "facility_id")
        if data["role"] != "facility_manager" and data.get("facility_id"):
            raise ValidationError("Only a facility manager names a facility.", "facility_id")


class AddressInput(InputSchema):
    street = text(100)
    house_number = text(10)
    postal_code = fields.String(required=True, validate=[Length(max=4), Regexp(
        r"^[1-9][0-9]{3}$", error="A Belgian postal code has 4 digits.")])
    municipality = text(100)


class PersonInput(InputSchema):
    last_name = text(100)
    first_name = text(100)
    birth_date = fields.Date(required=True)
    gender = choice(GENDERS)
    phone = fields.String(load_default=None, allow_none=True, validate=[Length(max=30), Regexp(
        r"^\+?[0-9 ()./-]{6,30}$", error="Give a phone number of 6 to 30 digits.")])


class ApplicantInput(PersonInput):
    email = fields.Email(required=True, validate=Length(max=254))
    address = fields.Nested(AddressInput, required=True)


class PartnerInput(PersonInput):
    email = fields.Email(load_default=None, allow_none=True, validate=Length(max=254))


class RequestInput(InputSchema):
    desired_start_date = fields.Date(required=True)
    care_plan = fields.Dict(
        keys=fields.String(validate=OneOf(WEEKDAYS)),
        values=fields.String(validate=OneOf(DAY_PARTS)),
        required=True,
        validate=Length(min=1, error="Choose at least one day."),
    )
    facility_ids = facility_ids()


class ChildInput(InputSchema):
    last_name = text(100)
    first_name = text(100, required=False)
    birth_date = fields.Date(required=True)
    gender = choice(GENDERS, required=False)
    foster_child = flag()
    sibling_facility_ids = fields.List(identifier(), load_default=list,
                                       validate=Length(max=MAX_CHILDREN))
    request = fields.Nested(RequestInput, required=True)


class ParentWorkInput(InputSchema):
    regime = Regime(required=True)
    employer = text(200, required=False)
    training = flag()
    job_seeking = flag()


class FamilyInput(InputSchema):
    single_parent = flag()


class FinancialInput(InputSchema):
    income_below_threshold = flag()
    income_band = text(40, required=False)


class WorkInput(InputSchema):
    applicant = fields.Nested(ParentWorkInput, required=True)
    partner = fields.Nested(ParentWorkInput, load_default=None, allow_none=True)
    integration_course_complete = flag()


class EducationInput(InputSchema):
    applicant = choice(EDUCATION_LEVELS)
    partner = choice(EDUCATION_LEVELS, required=False)


class HealthInput(InputSchema):
    care_situation = flag()
    detail = text(2000, required=False)

    @validates_schema
    def _detail_only_with_situation(self, data, **kwargs):
        # data minimisation: no special-category text without the situation it explains
        if data.get("detail") and not data["care_situation"]:
            raise ValidationError("Only give details when there is a health or care situation.",
                                  "detail")


class DutchInput(InputSchema):
    proficiency = flag()
    proof_declared = flag()

    @validates_schema
    def _proof_needs_proficiency(self, data, **kwargs):
        if data["proof_declared"] and not data["proficiency"]:
            raise ValidationError("Proof can only be declared for a parent who knows Dutch.",
                                  "proof_declared")


class SituationInput(InputSchema):
    family = fields.Nested(FamilyInput, required=True)
    financial = fields.Nested(FinancialInput, required=True)
    work = fields.Nested(WorkInput, required=True)
    education = fields.Nested(EducationInput, required=True)
    health = fields.Nested(HealthInput, required=True)
    dutch = fields.Nested(DutchInput, required=True)


class ConsentChoiceInput(InputSchema):
    given = boolean(required=True)
    policy_version = text(40)
    method = choice(CONSENT_METHODS)


class ConsentsInput(InputSchema):
    kind_en_gezin = fields.Nested(ConsentChoiceInput, load_default=None, allow_none=True)
    lop = fields.Nested(ConsentChoiceInput, load_default=None, allow_none=True)


def _later(value, limit):
    return isinstance(value, date) and isinstance(limit, date) and value > limit


def person_date_errors(person, today):
    if isinstance(person, dict) and _later(person.get("birth_date"), today):
        return {"birth_date": [BIRTH_IN_FUTURE]}
    return {}


def child_date_errors(child, today):
    """A child may be unborn (expected birth date), but born by the desired start date."""
    if not isinstance(child, dict):
        return {}
    request = child.get("request") if isinstance(child.get("request"), dict) else {}
    start = request.get("desired_start_date")
    errors = {}
    if isinstance(start, date) and start < today:
        errors["request"] = {"desired_start_date": [START_IN_PAST]}
    if _later(child.get("birth_date"), start):
        errors["birth_date"] = [BIRTH_AFTER_START]
    return errors


def partner_situation_errors(situation, has_partner):
    """Both parents' work and education count for priority, so they go with the partner."""
    if not isinstance(situation, dict):
        return {}
    errors = {}
    for section in ("work", "education"):
        given = isinstance(situation.get(section), dict) and situation[section].get("partner")
        if has_partner and isinstance(situation.get(section), dict) and not given:
            errors[section] = {"partner": ["Required when the dossier has a partner."]}
        if given and not has_partner:
            errors[section] = {"partner": ["The dossier has no partner."]}
    return errors


def _raise_if(errors):
    if errors:
        raise ValidationError(errors)


class RegisterDossierInput(InputSchema):
    preferred_language = choice(LANGUAGES)
    applicant = fields.Nested(ApplicantInput, required=True)
    partner = fields.Nested(PartnerInput, load_default=None, allow_none=True)
    children = fields.Nested(ChildInput, many=True, required=True,
                             validate=Length(min=1, max=MAX_CHILDREN))
    situation = fields.Nested(SituationInput, required=True)
    consents = fields.Nested(ConsentsInput, load_default=None, allow_none=True)
    registered_by = fields.Nested(ActorInput, required=True)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _consistent(self, data, original, **kwargs):
        errors = {}
        for person in ("applicant", "partner"):
            if person_errors := person_date_errors(data.get(person), self.today):
                errors[person] = person_errors
        for index, child in enumerate(data.get("children") or []):
            if child_errors := child_date_errors(child, self.today):
                errors.setdefault("children", {})[index] = child_errors
        # the payload says whether there is a partner, even when the partner's fields are invalid
        has_partner = isinstance(original, dict) and bool(original.get("partner"))
        if situation_errors := partner_situation_errors(data.get("situation"), has_partner):
            errors["situation"] = situation_errors
        _raise_if(errors)


class UpdateContactInput(InputSchema):
    """Only the given parts change; `partner: null` removes the partner."""

    preferred_language = choice(LANGUAGES, required=False)
    applicant = fields.Nested(ApplicantInput(partial=True))
    partner = fields.Nested(PartnerInput, allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):
        if not (data.get("preferred_language") or "applicant" in data or "partner" in data):
            raise ValidationError("Give the contact data to change.")

    @validates_schema(skip_on_field_errors=False)
    def _dated(self, data, **kwargs):
        errors = {}
        for person in ("applicant", "partner"):
            if person_errors := person_date_errors(data.get(person), self.today):
                errors[person] = person_errors
        _raise_if(errors)


class ChildSituationInput(InputSchema):
    id = identifier()
    foster_child = boolean(required=True)
    sibling_facility_ids = fields.List(identifier(), required=True,
                                       validate=Length(max=MAX_CHILDREN))


class UpdateSituationInput(InputSchema):
    """The whole situation is replaced; children's family situation optionally, per child."""

    situation = fields.Nested(SituationInput, required=True)
    children = fields.Nested(ChildSituationInput, many=True,
                             validate=Length(max=MAX_CHILDREN))


class AddChildInput(ChildInput):
    @validates_schema(skip_on_field_errors=False)
    def _dated(self, data, **kwargs):
        _raise_if(child_date_errors(data, self.today))


class RequestRefInput(InputSchema):
    request_id = identifier()


class ChangeFacilitiesInput(RequestRefInput):
    facility_ids = facility_ids()


class ConsentInput(InputSchema):
    partner = choice(CONSENT_PARTNERS)
    policy_version = text(40)
    method = choice(CONSENT_METHODS)


class CancelRequestInput(RequestRefInput):
    # required when the helpdesk cancels: checked by the domain, which knows the actor
    reason = text(500, required=False)


class MarkUrgentInput(RequestRefInput):
    pass


class FlagDossierInput(InputSchema):
    flag = choice(FLAGS)
    message = text(1000)


class RecordEnrollmentInput(RequestRefInput):
    facility_id = identifier()


class SetRestrictionInput(InputSchema):
    restricted = boolean(required=True)


SEARCH_CRITERIA = ("last_name", "email", "child_birth_date", "dossier_id", "request_id")


class SearchDossiersInput(InputSchema):
    """The helpdesk's search: every given criterion must hold; at least one is needed."""

    last_name = fields.String(validate=Length(1, 100), metadata={
        "description": "The applicant's or the partner's last name starts with this (case and accents ignored)."})
    email = fields.Email(validate=Length(max=254), metadata={
        "description": "The applicant's or the partner's email, exactly (case ignored)."})
    child_birth_date = fields.Date(metadata={"description": "A child of the dossier was born (or is due) on this day."})
    dossier_id = fields.String(validate=Length(1, 64))
    request_id = fields.String(validate=Length(1, 64))

    @validates_schema
    def _some_criterion(self, data, **kwargs):
        if not any(data.get(name) for name in SEARCH_CRITERIA):
            raise ValidationError("Give at least one of: " + ", ".join(SEARCH_CRITERIA) + ".")


class ClaimDossierInput(InputSchema):
    claim_code = text(64, metadata={"description": "The code the registrant handed the parent; dashes and case "
                                                   "do not matter."})


@lru_cache(maxsize=64)
def _schema(schema: type[InputSchema], today: date) -> InputSchema:
    # Building a schema costs more than loading with it; one instance per schema and day.
    return schema(today=today)


def validate(schema: type[InputSchema], payload, today: date) -> dict:
    """Load `payload` with `schema`; raise InvalidInput({field: [messages]}) when it is invalid."""
    try:
        return _schema(schema, today).load(payload)
    except ValidationError as exc:
        raise InvalidInput(exc.messages) from None

