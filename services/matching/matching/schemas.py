"""Input schemas of the RPC operations, with field-level messages.

Unknown fields are rejected, every string has a maximum length, booleans are JSON true/false only.
Rules that depend on data outside the payload (the loaded rule sets, the facility a place belongs
to, today) get it through the schema's constructor: marshmallow 4 has no context.
"""
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validates, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from loket.errors import InvalidInput
from matching.criteria import ABSOLUTE_PRIORITY_GROUPS, FACILITY_RULES
from matching.dates import add_months
from matching.eligibility import ALLOCATION_HORIZON_MONTHS
from matching.model import ANSWER_WINDOWS_DAYS, DAY_PARTS, DEFAULT_RULE_SET, WEEKDAYS, Facility
from matching.rulesets import RuleSet

MAX_AGE_MONTHS = 72


def _text(max_length, **kwargs):
    return fields.String(validate=Length(1, max_length), **kwargs)


def _count(low, high, **kwargs):
    return fields.Integer(strict=True, validate=Range(low, high), **kwargs)


def _boolean(**kwargs):
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


def _unique(values):
    if len(set(values)) != len(values):
        raise ValidationError("Give each value once.")


class _Input(Schema):
    class Meta:
        unknown = RAISE


class FacilityInput(_Input):
    id = fields.String(validate=Regexp(r"^fac-\d{4,8}$", error="A facility id looks like fac-0001."))
    name = _text(200, required=True)
    municipality = _text(100, required=True)
    licensed_capacity = _count(1, 1000, required=True)
    opening_days = fields.List(fields.String(validate=OneOf(WEEKDAYS)), required=True,
                               validate=[Length(min=1, error="Give at least one opening day."), _unique])
    min_age_months = _count(0, MAX_AGE_MONTHS, required=True)
    max_age_months = _count(0, MAX_AGE_MONTHS, required=True)
    income_related_tariff = _boolean(required=True)
    dutch_share = fields.Float(required=True, allow_nan=False, validate=Range(
        0, 1, min_inclusive=False, error="Give a fraction of the licensed places above 0 and at most 1."))
    answer_window_days = fields.Integer(strict=True, required=True, validate=OneOf(
        ANSWER_WINDOWS_DAYS, error=f"The answer window is one of {', '.join(map(str, ANSWER_WINDOWS_DAYS))} days."))
    extra_rules = fields.List(fields.String(validate=OneOf(sorted(FACILITY_RULES))), load_default=list,
                              validate=_unique)
    rule_set = _text(40, load_default=DEFAULT_RULE_SET)
    kg2024_group_order = fields.List(fields.String(validate=OneOf(ABSOLUTE_PRIORITY_GROUPS)),
                                     load_default=None, allow_none=True)
    staff_dossier_ids = fields.List(_text(64), load_default=list, validate=[Length(max=500), _unique])

    def __init__(self, rule_sets: dict[str, RuleSet], **kwargs):
        super().__init__(**kwargs)
        self.rule_sets = rule_sets

    @validates("rule_set")
    def _known_rule_set(self, value, **kwargs):
        if value not in self.rule_sets:
            raise ValidationError(f"Unknown rule set; known: {', '.join(sorted(self.rule_sets))}.")

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data, **kwargs):
        """Checks across fields, on the fields that are valid on their own, so every error shows at once."""
        errors = {}
        rule_set = self.rule_sets.get(data.get("rule_set"))
        if rule_set is not None and data.get("dutch_share", 0) > rule_set.dutch_priority.max_share:
            errors["dutch_share"] = [f"The Dutch-language share is at most {rule_set.dutch_priority.max_share * 100:g} "
                                     f"% of the licensed places (rule set {rule_set.version})."]
        if data.get("min_age_months", 0) > data.get("max_age_months", MAX_AGE_MONTHS):
            errors["max_age_months"] = ["The oldest age cannot be below the youngest."]
        order = data.get("kg2024_group_order")
        if order is not None and sorted(order) != sorted(ABSOLUTE_PRIORITY_GROUPS):
            errors["kg2024_group_order"] = [f"Order exactly these groups: {', '.join(ABSOLUTE_PRIORITY_GROUPS)}."]
        if errors:
            raise ValidationError(errors)


class FreePlaceInput(_Input):
    start_date = fields.Date(required=True)
    weekdays = fields.Dict(keys=fields.String(validate=OneOf(WEEKDAYS)), values=fields.String(validate=OneOf(DAY_PARTS)),
                           required=True, validate=Length(min=1, error="Give at least one free day."))
    min_age_months = _count(0, MAX_AGE_MONTHS, load_default=None)
    max_age_months = _count(0, MAX_AGE_MONTHS, load_default=None)

    def __init__(self, facility: Facility, today: date, **kwargs):
        super().__init__(**kwargs)
        self.facility, self.today = facility, today

    @validates_schema
    def _fits_the_facility(self, data, **kwargs):
        """A place is on the facility's opening days, in its age range, and at most 7 months ahead."""
        facility, errors = self.facility, {}
        closed = sorted(set(data["weekdays"]) - facility.opening_days, key=WEEKDAYS.index)
        if closed:
            errors["weekdays"] = [f"The facility is closed on {', '.join(closed)}."]
        low, high = self._age_group(data)
        if low > high:
            errors["max_age_months"] = ["The oldest age cannot be below the youngest."]
        elif low < facility.min_age_months or high > facility.max_age_months:
            errors["min_age_months"] = [f"The facility takes children of {facility.min_age_months} to "
                                        f"{facility.max_age_months} months."]
        latest = add_months(self.today, ALLOCATION_HORIZON_MONTHS)
        if data["start_date"] < self.today:
            errors["start_date"] = ["A free place cannot start in the past."]
        elif data["start_date"] > latest:
            errors["start_date"] = [f"Places are allocated at most {ALLOCATION_HORIZON_MONTHS} months ahead "
                                    f"(until {latest.isoformat()})."]
        if errors:
            raise ValidationError(errors)

    def _age_group(self, data) -> tuple[int, int]:
        """The place's age group; without one, the facility's whole age range."""
        low, high = data["min_age_months"], data["max_age_months"]
        return (self.facility.min_age_months if low is None else low,
                self.facility.max_age_months if high is None else high)

    @post_load
    def _complete(self, data, **kwargs):
        data["min_age_months"], data["max_age_months"] = self._age_group(data)
        return data


class DepartureInput(_Input):
    """Which enrolled child left (by its request, or by the enrollment once the dossier is erased) and the
    first day it no longer takes its place. The day may lie ahead, as far as places are allocated."""
    request_id = _text(64)
    enrollment_id = fields.Integer(strict=True, validate=Range(min=1))
    left_on = fields.Date(required=True)

    def __init__(self, today: date, **kwargs):
        super().__init__(**kwargs)
        self.today = today

    @validates_schema
    def _one_child_not_too_far_ahead(self, data, **kwargs):
        errors = {}
        if "request_id" in data and "enrollment_id" in data:
            errors["enrollment_id"] = ["Give the request_id or the enrollment_id, not both."]
        elif "request_id" not in data and "enrollment_id" not in data:
            errors["request_id"] = ["Give the request_id (or the enrollment_id) of the child who leaves."]
        latest = add_months(self.today, ALLOCATION_HORIZON_MONTHS)
        if data["left_on"] > latest:
            errors["left_on"] = [f"Record a departure at most {ALLOCATION_HORIZON_MONTHS} months ahead "
                                 f"(until {latest.isoformat()})."]
        if errors:
            raise ValidationError(errors)


def validate(schema: Schema, payload) -> dict:
    """Load `payload`; raise InvalidInput({field: [messages]}) when it is invalid."""
    if not isinstance(payload, dict):
        raise InvalidInput({"_schema": ["Give a JSON object."]})
    try:
        return schema.load(payload)
    except ValidationError as problem:
        raise InvalidInput(problem.messages) from None
