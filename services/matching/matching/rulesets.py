"""Priority rule sets as versioned data files, validated when loaded.

A rule set names its steps and criteria; the criteria live in `matching.criteria` and the steps
in `matching.ranking`. A file that does not validate is refused with its path and the field at
fault, so a broken rule set stops the service at start-up instead of ranking wrongly.
"""
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from matching.criteria import ABSOLUTE_PRIORITY_GROUPS, CHARACTERISTICS, OTHER_PRIORITY_GROUPS

DEFAULT_DIR = Path(__file__).parent / "rulesets"
STEPS = ("dutch_priority", "vulnerable_families", "work_or_training_need",
         "other_priority_groups", "absolute_priority_groups", "facility_rules")
TIE_BREAKS = ("registered_at", "child_birth_date", "request_id")
# The step that needs each optional section; a rule set using the step must have the section.
_SECTION_OF_STEP = {"vulnerable_families": "vulnerability", "other_priority_groups": "other_priority_groups",
                    "absolute_priority_groups": "absolute_priority_groups"}


class RuleSetError(ValueError):
    def __init__(self, path, field: str, problem: str):
        self.path, self.field = Path(path), field
        super().__init__(f"rule set {path}: {field}: {problem}")


@dataclass(frozen=True)
class Period:
    start: date
    end: date | None  # inclusive; None: still in force

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class DutchPriorityQuota:
    max_share: float  # of licensed places, rounded down
    min_seats: int


@dataclass(frozen=True)
class VulnerabilityRule:
    min_share: float  # of licensed places, rounded up: it is a minimum
    characteristics: tuple[str, ...]
    core_characteristics: tuple[str, ...]
    min_characteristics: int
    min_core_characteristics: int


@dataclass(frozen=True)
class AbsolutePriorityGroups:
    default_order: tuple[str, ...]
    min_work_regime_fraction: float
    integration_course_counts_as_training: bool
    other_families_max_share: float  # of licensed places, rounded down


@dataclass(frozen=True)
class RuleSet:
    version: str
    description: str
    effective: tuple[Period, ...]
    dutch_priority: DutchPriorityQuota
    vulnerability: VulnerabilityRule | None
    other_priority_groups: tuple[str, ...]
    absolute_priority_groups: AbsolutePriorityGroups | None
    steps: tuple[str, ...]
    steps_without_income_related_tariff: tuple[str, ...]
    tie_breaks: tuple[str, ...]

    def steps_for(self, income_related_tariff: bool) -> tuple[str, ...]:
        return self.steps if income_related_tariff else self.steps_without_income_related_tariff

    def in_force_on(self, day: date) -> bool:
        return any(period.contains(day) for period in self.effective)


class _Section:
    """A mapping read from the file, that knows its own dotted field name for error messages."""

    def __init__(self, path: Path, data, name: str, known: tuple[str, ...]):
        self.path, self.name = path, name
        if not isinstance(data, dict):
            raise self.error("", "must be a mapping")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise self.error(unknown[0], f"unknown field (known: {', '.join(known)})")
        self.data = data

    def field(self, key: str) -> str:
        return f"{self.name}.{key}".strip(".")

    def error(self, key: str, problem: str) -> RuleSetError:
        return RuleSetError(self.path, self.field(key) or "(top level)", problem)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str):
        if key not in self.data:
            raise self.error(key, "is missing")
        return self.data[key]

    def section(self, key: str, known: tuple[str, ...]) -> "_Section":
        return _Section(self.path, self.raw(key), self.field(key), known)

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty text")
        return value.strip()

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def share(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise self.error(key, f"must be a fraction above 0 and at most 1, got {value!r}")
        return float(value)

    def count(self, key: str, minimum: int = 0) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"must be a whole number of at least {minimum}, got {value!r}")
        return value

    def names(self, key: str, allowed) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "must be a non-empty list")
        for name in value:
            if name not in allowed:
                raise self.error(key, f"unknown name {name!r} (known: {', '.join(allowed)})")
        if len(set(value)) != len(value):
            raise self.error(key, "lists a name twice")
        return tuple(value)

    def day(self, key: str, nullable: bool = False) -> date | None:
        value = self.raw(key)
        if value is None and nullable:
            return None
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, date):
            raise self.error(key, f"must be a date YYYY-MM-DD, got {value!r}")
        return value


def _periods(top: _Section) -> tuple[Period, ...]:
    value = top.raw("effective")
    if not isinstance(value, list) or not value:
        raise top.error("effective", "must be a non-empty list of {from, until} periods")
    periods = []
    for i, item in enumerate(value):
        entry = _Section(top.path, item, f"effective[{i}]", ("from", "until"))
        period = Period(entry.day("from"), entry.day("until", nullable=True))
        if period.end is not None and period.end < period.start:
            raise entry.error("until", "is before from")
        periods.append(period)
    return tuple(periods)


def _vulnerability(top: _Section, quotas: _Section) -> VulnerabilityRule:
    quota = quotas.section("vulnerable_families", ("min_share",))
    rule = top.section("vulnerability", ("characteristics", "core_characteristics",
                                         "min_characteristics", "min_core_characteristics"))
    characteristics = rule.names("characteristics", tuple(CHARACTERISTICS))
    core = rule.names("core_characteristics", characteristics)
    vulnerability = VulnerabilityRule(
        min_share=quota.share("min_share"),
        characteristics=characteristics,
        core_characteristics=core,
        min_characteristics=rule.count("min_characteristics", 1),
        min_core_characteristics=rule.count("min_core_characteristics", 0),
    )
    if vulnerability.min_characteristics > len(characteristics):
        raise rule.error("min_characteristics", "is more than the characteristics listed")
    if vulnerability.min_core_characteristics > min(len(core), vulnerability.min_characteristics):
        raise rule.error("min_core_characteristics", "is more than min_characteristics or the core listed")
    return vulnerability


def _absolute_groups(top: _Section) -> AbsolutePriorityGroups:
    section = top.section("absolute_priority_groups", (
        "default_order", "min_work_regime_fraction", "integration_course_counts_as_training",
        "other_families_max_share"))
    order = section.names("default_order", ABSOLUTE_PRIORITY_GROUPS)
    if len(order) != len(ABSOLUTE_PRIORITY_GROUPS):
        raise section.error("default_order", f"must order all of {', '.join(ABSOLUTE_PRIORITY_GROUPS)}")
    return AbsolutePriorityGroups(
        default_order=order,
        min_work_regime_fraction=section.share("min_work_regime_fraction"),
        integration_course_counts_as_training=section.flag("integration_course_counts_as_training"),
        other_families_max_share=section.share("other_families_max_share"),
    )


def _steps(top: _Section) -> tuple[tuple[str, ...], tuple[str, ...]]:
    steps = top.names("steps", STEPS)
    without = top.names("steps_without_income_related_tariff", steps)
    if list(without) != [step for step in steps if step in without]:
        raise top.error("steps_without_income_related_tariff", "must keep the order of steps")
    for step, section in _SECTION_OF_STEP.items():
        if step in steps and not top.has(section):
            raise top.error(section, f"is missing (step {step} needs it)")
        if step not in steps and top.has(section):
            raise top.error(section, f"is given but no step uses it (step {step})")
    return steps, without


def parse_rule_set(data, path) -> RuleSet:
    path = Path(path)
    top = _Section(path, data, "", (
        "version", "description", "effective", "quotas", "vulnerability", "other_priority_groups",
        "absolute_priority_groups", "steps", "steps_without_income_related_tariff", "tie_breaks"))
    version = top.text("version")
    if version != path.stem:
        raise top.error("version", f"{version!r} does not match the file name {path.name}")
    steps, without = _steps(top)
    quotas = top.section("quotas", ("dutch_priority", "vulnerable_families"))
    if quotas.has("vulnerable_families") != ("vulnerable_families" in steps):
        raise quotas.error("vulnerable_families", "must be given exactly when step vulnerable_families is used")
    dutch = quotas.section("dutch_priority", ("max_share", "min_seats"))
    tie_breaks = top.names("tie_breaks", TIE_BREAKS)
    if tie_breaks[-1] != "request_id":
        raise top.error("tie_breaks", "must end with request_id, the only unique one, so the order is total")
    return RuleSet(
        version=version,
        description=top.text("description"),
        effective=_periods(top),
        dutch_priority=DutchPriorityQuota(dutch.share("max_share"), dutch.count("min_seats", 1)),
        vulnerability=_vulnerability(top, quotas) if "vulnerable_families" in steps else None,
        other_priority_groups=(top.names("other_priority_groups", tuple(OTHER_PRIORITY_GROUPS))
                               if "other_priority_groups" in steps else ()),
        absolute_priority_groups=_absolute_groups(top) if "absolute_priority_groups" in steps else None,
        steps=steps,
        steps_without_income_related_tariff=without,
        tie_breaks=tie_breaks,
    )


def load_rule_set(path) -> RuleSet:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RuleSetError(path, "(file)", f"cannot be read: {error}") from error
    return parse_rule_set(data, path)


def load_rule_sets(directory=DEFAULT_DIR) -> dict[str, RuleSet]:
    """Every *.yaml rule set in `directory`, by version; refuses a directory without any."""
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise RuleSetError(directory, "(directory)", "holds no rule set (*.yaml)")
    return {rule_set.version: rule_set for rule_set in map(load_rule_set, paths)}
