"""What ranking works on: facilities, their occupancy, a free place, and candidates.

Values are immutable. Constructors check what the type alone cannot, so a bad facility or place
is refused where it is made, with the field named.
"""
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Mapping

from matching.criteria import ABSOLUTE_PRIORITY_GROUPS, FACILITY_RULES

# The vocabulary of the registration contract (events.md SNAPSHOT).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
DAY_PARTS = ("full", "morning", "afternoon")
REQUEST_STATUSES = ("active", "enrolled", "cancelled", "expired")
MAX_FACILITIES = 5
ANSWER_WINDOWS_DAYS = (10, 14)
DEFAULT_RULE_SET = "kg-2013"


def _require(condition: bool, where: str, problem: str):
    if not condition:
        raise ValueError(f"{where}: {problem}")


def _check_weekdays(days: Mapping[str, str], where: str):
    _require(bool(days), where, "at least one weekday is needed")
    for day, part in days.items():
        _require(day in WEEKDAYS, where, f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        _require(part in DAY_PARTS, where, f"{day}: unknown day part {part!r} (use {', '.join(DAY_PARTS)})")


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    municipality: str
    licensed_capacity: int
    opening_days: frozenset[str]
    min_age_months: int
    max_age_months: int
    income_related_tariff: bool
    dutch_share: float  # fraction of licensed places; the rule set caps it (see ranking.check_facility)
    answer_window_days: int
    extra_rules: tuple[str, ...] = ()  # the facility's own published rules, in its order
    rule_set: str = DEFAULT_RULE_SET
    kg2024_group_order: tuple[str, ...] | None = None  # None: the rule set's default order
    staff_dossier_ids: frozenset[str] = frozenset()  # for the "children_of_staff" rule

    def __post_init__(self):
        where = f"facility {self.id}"
        object.__setattr__(self, "opening_days", frozenset(self.opening_days))
        object.__setattr__(self, "extra_rules", tuple(self.extra_rules))
        object.__setattr__(self, "staff_dossier_ids", frozenset(self.staff_dossier_ids))
        if self.kg2024_group_order is not None:
            object.__setattr__(self, "kg2024_group_order", tuple(self.kg2024_group_order))
        _require(self.licensed_capacity >= 1, where, "licensed_capacity must be at least 1")
        _require(bool(self.opening_days) and self.opening_days <= set(WEEKDAYS), where,
                 f"opening_days must be among {', '.join(WEEKDAYS)}")
        _require(0 <= self.min_age_months <= self.max_age_months, where,
                 "age range: 0 <= min_age_months <= max_age_months")
        _require(0 < self.dutch_share <= 1, where, "dutch_share must be a fraction above 0 (at least one child)")
        _require(self.answer_window_days in ANSWER_WINDOWS_DAYS, where,
                 f"answer_window_days must be one of {ANSWER_WINDOWS_DAYS}")
        unknown = [rule for rule in self.extra_rules if rule not in FACILITY_RULES]
        _require(not unknown, where, f"unknown extra_rules {unknown} (known: {sorted(FACILITY_RULES)})")
        _require(len(set(self.extra_rules)) == len(self.extra_rules), where, "extra_rules repeat a rule")
        if self.kg2024_group_order is not None:
            _require(sorted(self.kg2024_group_order) == sorted(ABSOLUTE_PRIORITY_GROUPS), where,
                     f"kg2024_group_order must order exactly {', '.join(ABSOLUTE_PRIORITY_GROUPS)}")


@dataclass(frozen=True, slots=True)
class Occupancy:
    """Children enrolled now, and how many of them count for each quota.

    A child counts for the Dutch share when its family meets the Dutch-language criterion, however
    it got its place; open offers made on Dutch-language priority count too, so two places ranked
    at once cannot both use the last seat of the share.
    """
    enrolled: int
    enrolled_dutch_priority: int
    enrolled_vulnerable: int
    open_dutch_priority_offers: int = 0
    enrolled_other_families: int = 0  # kg-2024: enrolled outside the three absolute groups

    def __post_init__(self):
        for name in ("enrolled", "enrolled_dutch_priority", "enrolled_vulnerable",
                     "open_dutch_priority_offers", "enrolled_other_families"):
            _require(getattr(self, name) >= 0, "occupancy", f"{name} must not be negative")
        for name in ("enrolled_dutch_priority", "enrolled_vulnerable", "enrolled_other_families"):
            _require(getattr(self, name) <= self.enrolled, "occupancy", f"{name} cannot exceed enrolled")


@dataclass(frozen=True, slots=True)
class FreePlace:
    facility_id: str
    start_date: date
    weekdays: Mapping[str, str]  # {"mon": "full", "wed": "morning"}: what is free on each day
    min_age_months: int
    max_age_months: int

    def __post_init__(self):
        where = f"free place in {self.facility_id}"
        object.__setattr__(self, "weekdays", MappingProxyType(dict(self.weekdays)))
        _check_weekdays(self.weekdays, where)
        _require(0 <= self.min_age_months <= self.max_age_months, where,
                 "age group: 0 <= min_age_months <= max_age_months")


@dataclass(frozen=True, slots=True)
class Priority:
    """The priority flags of the dossier snapshot (events.md); the health detail never reaches matching."""
    dutch_proficiency: bool = False
    dutch_proof_declared: bool = False
    single_parent: bool = False
    income_below_threshold: bool = False
    health_or_care_situation: bool = False
    no_secondary_diploma: bool = False
    work_or_training_need: bool = False
    work_regime_fraction: float = 0.0
    integration_course_complete: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """One child's request as matching sees it: a row of the read model."""
    request_id: str
    dossier_id: str
    child_birth_date: date
    desired_start_date: date
    care_plan: Mapping[str, str]
    facility_ids: tuple[str, ...]
    urgent: bool
    status: str
    registered_at: datetime
    priority: Priority = field(default_factory=Priority)
    foster_child: bool = False
    sibling_facility_ids: frozenset[str] = frozenset()

    def __post_init__(self):
        where = f"request {self.request_id}"
        object.__setattr__(self, "facility_ids", tuple(self.facility_ids))
        object.__setattr__(self, "sibling_facility_ids", frozenset(self.sibling_facility_ids))
        _check_weekdays(self.care_plan, where)
        _require(len(self.facility_ids) <= MAX_FACILITIES, where,
                 f"at most {MAX_FACILITIES} facilities may be chosen")
        _require(self.status in REQUEST_STATUSES, where, f"unknown status {self.status!r}")
        _require(self.registered_at.tzinfo is not None, where, "registered_at must be timezone-aware")


def _date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _datetime(value) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"expected a UTC timestamp, got {value!r} without a timezone")
    return instant


def candidate_from_snapshot(dossier: dict, request: dict) -> Candidate:
    """Map one request of a dossier SNAPSHOT (events.md) to a Candidate.

    Accepts the raw JSON (ISO strings) as well as the schema-loaded form (date objects).
    """
    child = next((c for c in dossier["children"] if c["id"] == request["child_id"]), None)
    if child is None:
        raise ValueError(f"request {request['id']}: child {request['child_id']} is not in dossier {dossier['id']}")
    flags = dossier["priority"]
    return Candidate(
        request_id=request["id"],
        dossier_id=dossier["id"],
        child_birth_date=_date(child["birth_date"]),
        desired_start_date=_date(request["desired_start_date"]),
        care_plan=dict(request["care_plan"]),
        facility_ids=tuple(request["facility_ids"]),
        urgent=request["urgent"],
        status=request["status"],
        registered_at=_datetime(request["registered_at"]),
        priority=Priority(
            dutch_proficiency=flags["dutch_proficiency"],
            dutch_proof_declared=flags["dutch_proof_declared"],
            single_parent=flags["single_parent"],
            income_below_threshold=flags["income_below_threshold"],
            health_or_care_situation=flags["health_or_care_situation"],
            no_secondary_diploma=flags["no_secondary_diploma"],
            work_or_training_need=flags["work_or_training_need"],
            work_regime_fraction=float(flags["work_regime_fraction"]),
            integration_course_complete=flags["integration_course_complete"],
        ),
        foster_child=child["foster_child"],
        sibling_facility_ids=frozenset(child["sibling_facility_ids"]),
    )
