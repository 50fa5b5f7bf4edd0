"""Rank the candidates for one free place by the facility's rule set (DOMAIN.md "Priority rules").

Each step of the rule set gives every candidate a sort key and the sentences that explain it; the
candidate's order is the tuple of its step keys followed by the tie-breaks, compared left to
right. The tie-breaks end with the request id, so the order is total and does not depend on the
order candidates come in. Quota steps (Dutch-language share, vulnerable families) only lift
candidates while the facility's current occupancy is under the quota.

Urgency makes a request visible to every facility (P2) but does not move it up: no rule says so.

This module is also the public face of the pure core: the service imports from here.
"""
from dataclasses import dataclass
from datetime import timezone
from typing import Callable, Iterable

from matching import reasons
from matching.criteria import (CHARACTERISTICS, FACILITY_RULES, OTHER_PRIORITY_GROUPS, has_dutch_priority,
                               works_or_trains_enough)
from matching.eligibility import eligible, latest_desired_start, misfit
from matching.model import Candidate, Facility, FreePlace, Occupancy, Priority, candidate_from_snapshot
from matching.quotas import (dutch_seats_taken, dutch_share_seats, facility_dutch_seats, other_families_seats,
                             vulnerable_seats)
from matching.rulesets import RuleSet

__all__ = [
    "Candidate", "Facility", "FreePlace", "Occupancy", "Priority", "RankedCandidate", "Ranking", "RankingError",
    "candidate_from_snapshot", "check_facility", "check_place", "dutch_share_seats", "eligible",
    "has_dutch_priority", "in_absolute_priority_group", "is_vulnerable", "offer_respects_dutch_share", "rank",
]


class RankingError(ValueError):
    """The facility, place or rule set given to rank() do not belong together."""


@dataclass(frozen=True)
class RankedCandidate:
    request_id: str
    dossier_id: str
    position: int  # 1 = first in line
    reasons: list[str]
    dutch_priority: bool  # put ahead by the Dutch-language priority: an offer uses a seat of the share


@dataclass(frozen=True)
class Ranking:
    facility_id: str
    place: FreePlace
    rule_set_version: str
    notes: tuple[str, ...]  # quota states for the whole ranking
    candidates: tuple[RankedCandidate, ...]


def check_facility(facility: Facility, rule_set: RuleSet):
    """Refuse a facility that the rule set does not allow (a Dutch share above its maximum)."""
    if facility.rule_set != rule_set.version:
        raise RankingError(f"facility {facility.id} follows rule set {facility.rule_set}, not {rule_set.version}")
    if facility.dutch_share > rule_set.dutch_priority.max_share:
        raise RankingError(f"facility {facility.id}: dutch_share {facility.dutch_share} is above the "
                           f"{rule_set.dutch_priority.max_share:.0%} that rule set {rule_set.version} allows")


def check_place(facility: Facility, place: FreePlace):
    """Refuse a place of another facility, on a day the facility is closed, or outside its age range."""
    if place.facility_id != facility.id:
        raise RankingError(f"the free place belongs to {place.facility_id}, not {facility.id}")
    closed = sorted(set(place.weekdays) - facility.opening_days)
    if closed:
        raise RankingError(f"facility {facility.id} is closed on {', '.join(closed)}")
    if place.min_age_months < facility.min_age_months or place.max_age_months > facility.max_age_months:
        raise RankingError(f"age group {place.min_age_months}-{place.max_age_months} months is outside the "
                           f"{facility.min_age_months}-{facility.max_age_months} months facility {facility.id} takes")


def is_vulnerable(candidate: Candidate, facility: Facility, rule_set: RuleSet) -> bool:
    """Does the family meet the rule set's vulnerability definition? (The service counts enrolled_vulnerable with it.)"""
    rule = rule_set.vulnerability
    return rule is not None and _vulnerability_counts(candidate, facility, rule)[0]


def in_absolute_priority_group(candidate: Candidate, facility: Facility, rule_set: RuleSet) -> bool:
    """kg-2024: is the family in one of the absolute groups? (Those who are not count as "other families".)"""
    groups = rule_set.absolute_priority_groups
    return groups is not None and any(_in_absolute_group(name, candidate, facility, groups)
                                      for name in groups.default_order)


def offer_respects_dutch_share(candidate: RankedCandidate, facility: Facility, occupancy: Occupancy,
                               rule_set: RuleSet) -> bool:
    """May the place be offered to `candidate` now without exceeding the Dutch-language share?

    Only an offer that rests on the Dutch-language priority uses the share. `occupancy` is the
    current one, which may have changed since the ranking was made.
    """
    return not candidate.dutch_priority or dutch_seats_taken(occupancy) < facility_dutch_seats(facility, rule_set)


def _vulnerability_counts(candidate, facility, rule) -> tuple[bool, int]:
    met = [name for name in rule.characteristics if CHARACTERISTICS[name](candidate, facility)]
    core = sum(1 for name in met if name in rule.core_characteristics)
    return len(met) >= rule.min_characteristics and core >= rule.min_core_characteristics, len(met)


def _percent(share: float) -> str:
    return f"{share * 100:g}"


class _Quotas:
    """Everything a ranking derives from the facility and its occupancy, once per ranking."""

    def __init__(self, facility: Facility, occupancy: Occupancy, rule_set: RuleSet):
        self.facility, self.rule_set = facility, rule_set
        capacity = facility.licensed_capacity
        self.dutch_seats = facility_dutch_seats(facility, rule_set)
        self.dutch_taken = dutch_seats_taken(occupancy)
        self.dutch_applies = self.dutch_taken < self.dutch_seats
        rule = rule_set.vulnerability
        if rule is not None:
            self.vulnerable_seats = vulnerable_seats(capacity, rule.min_share)
            self.vulnerable_taken = occupancy.enrolled_vulnerable
            self.vulnerable_applies = self.vulnerable_taken < self.vulnerable_seats
        groups = rule_set.absolute_priority_groups
        if groups is not None:
            self.group_order = facility.kg2024_group_order or groups.default_order
            self.other_seats = other_families_seats(capacity, groups.other_families_max_share)
            self.other_taken = occupancy.enrolled_other_families

    def notes(self, steps: tuple[str, ...]) -> tuple[str, ...]:
        notes = []
        if "dutch_priority" in steps:
            notes.append(reasons.NOTE_DUTCH.format(taken=self.dutch_taken, seats=self.dutch_seats,
                                                   state=self._state(self.dutch_applies)))
        if "vulnerable_families" in steps:
            notes.append(reasons.NOTE_VULNERABLE.format(
                taken=self.vulnerable_taken, seats=self.vulnerable_seats,
                percent=_percent(self.rule_set.vulnerability.min_share), state=self._state(self.vulnerable_applies)))
        if "absolute_priority_groups" in steps:
            notes.append(reasons.NOTE_OTHER_FAMILIES.format(taken=self.other_taken, seats=self.other_seats))
        skipped = [step for step in self.rule_set.steps if step not in steps]
        if skipped:
            notes.append(reasons.NOTE_STEPS_SKIPPED.format(steps=", ".join(skipped)))
        return tuple(notes)

    @staticmethod
    def _state(applies: bool) -> str:
        return reasons.STATE_APPLIES if applies else reasons.STATE_MET


# A step maps (candidate, quotas) to (sort key, explaining sentences); a lower key goes first.
Step = Callable[[Candidate, _Quotas], tuple[object, tuple[str, ...]]]


def _dutch_priority(candidate, q):
    if has_dutch_priority(candidate):
        text = reasons.DUTCH_PRIORITY if q.dutch_applies else reasons.DUTCH_SHARE_FULL
        return (0 if q.dutch_applies else 1), (text.format(taken=q.dutch_taken, seats=q.dutch_seats),)
    if candidate.priority.dutch_proficiency:
        return 1, (reasons.DUTCH_PROOF_MISSING,)
    return 1, ()


def _vulnerable_families(candidate, q):
    rule = q.rule_set.vulnerability
    vulnerable, count = _vulnerability_counts(candidate, q.facility, rule)
    if not vulnerable:
        return 1, ()
    text = reasons.VULNERABLE if q.vulnerable_applies else reasons.VULNERABLE_MINIMUM_MET
    return (0 if q.vulnerable_applies else 1), (text.format(
        count=count, total=len(rule.characteristics), taken=q.vulnerable_taken, seats=q.vulnerable_seats,
        percent=_percent(rule.min_share)),)


def _work_or_training_need(candidate, q):
    return (0, (reasons.WORK_NEED,)) if candidate.priority.work_or_training_need else (1, ())


def _other_priority_groups(candidate, q):
    groups = [name for name in q.rule_set.other_priority_groups if OTHER_PRIORITY_GROUPS[name](candidate, q.facility)]
    if not groups:
        return 0, ()
    labels = ", ".join(reasons.OTHER_GROUP_LABELS[name] for name in groups)
    return -len(groups), (reasons.OTHER_GROUPS.format(count=len(groups), groups=labels),)


def _in_absolute_group(name, candidate, facility, groups) -> bool:
    if name == "work_or_training":
        return works_or_trains_enough(candidate, groups.min_work_regime_fraction,
                                      groups.integration_course_counts_as_training)
    if name == "sibling_attending":
        return facility.id in candidate.sibling_facility_ids
    return candidate.foster_child


def _absolute_priority_groups(candidate, q):
    groups = q.rule_set.absolute_priority_groups
    member = tuple(_in_absolute_group(name, candidate, q.facility, groups) for name in q.group_order)
    if not any(member):
        return (1,) * len(member), (reasons.NO_ABSOLUTE_GROUP.format(
            taken=q.other_taken, seats=q.other_seats, percent=_percent(groups.other_families_max_share)),)
    fraction = _percent(groups.min_work_regime_fraction)
    texts = tuple(reasons.ABSOLUTE_GROUP.format(
        rank=i + 1, total=len(member), label=reasons.ABSOLUTE_GROUP_LABELS[name].format(percent=fraction))
        for i, name in enumerate(q.group_order) if member[i])
    return tuple(0 if m else 1 for m in member), texts


def _facility_rules(candidate, q):
    met = tuple(FACILITY_RULES[name](candidate, q.facility) for name in q.facility.extra_rules)
    texts = tuple(reasons.FACILITY_RULE.format(label=reasons.FACILITY_RULE_LABELS[name])
                  for name, ok in zip(q.facility.extra_rules, met) if ok)
    return tuple(0 if ok else 1 for ok in met), texts


STEPS: dict[str, Step] = {
    "dutch_priority": _dutch_priority,
    "vulnerable_families": _vulnerable_families,
    "work_or_training_need": _work_or_training_need,
    "other_priority_groups": _other_priority_groups,
    "absolute_priority_groups": _absolute_priority_groups,
    "facility_rules": _facility_rules,
}


def _tie_break(candidate: Candidate, names: tuple[str, ...]) -> tuple[tuple, str]:
    values = {"registered_at": candidate.registered_at, "child_birth_date": candidate.child_birth_date,
              "request_id": candidate.request_id}
    # isoformat is several times faster than strftime, and this runs for every ranked candidate.
    shown = {"registered_at": candidate.registered_at.astimezone(timezone.utc).isoformat(" ", "minutes")[:16],
             "child_birth_date": candidate.child_birth_date.isoformat(), "request_id": candidate.request_id}
    parts = ", then ".join(reasons.TIE_BREAK_PARTS[name].format(**shown) for name in names)
    return tuple(values[name] for name in names), reasons.TIE_BREAK.format(parts=parts)


def rank(facility: Facility, occupancy: Occupancy, place: FreePlace, candidates: Iterable[Candidate],
         rule_set: RuleSet) -> Ranking:
    """Rank the eligible `candidates` for `place`; candidates that do not fit are left out.

    Raises RankingError when facility, place and rule set do not belong together, or when a
    request id occurs twice.
    """
    check_facility(facility, rule_set)
    check_place(facility, place)
    step_names = rule_set.steps_for(facility.income_related_tariff)
    steps = [STEPS[name] for name in step_names]
    dutch_step = "dutch_priority" in step_names
    quotas = _Quotas(facility, occupancy, rule_set)
    latest_start = latest_desired_start(place)
    seen, scored = set(), []
    for candidate in candidates:
        if candidate.request_id in seen:
            raise RankingError(f"request {candidate.request_id} is given twice")
        seen.add(candidate.request_id)
        if misfit(candidate, facility.id, place, latest_start) is not None:
            continue
        keys, said = [], []
        for step in steps:
            key, sentences = step(candidate, quotas)
            keys.append(key)
            said.extend(sentences)
        tie_key, tie_text = _tie_break(candidate, rule_set.tie_breaks)
        urgent = [reasons.URGENT] if facility.id not in candidate.facility_ids else []
        texts = urgent + (said or [reasons.NO_PRIORITY]) + [tie_text]
        dutch = dutch_step and quotas.dutch_applies and has_dutch_priority(candidate)
        scored.append((tuple(keys) + tie_key, candidate, texts, dutch))
    scored.sort(key=lambda entry: entry[0])
    return Ranking(
        facility_id=facility.id,
        place=place,
        rule_set_version=rule_set.version,
        notes=quotas.notes(step_names),
        candidates=tuple(RankedCandidate(candidate.request_id, candidate.dossier_id, position, texts, dutch)
                         for position, (_, candidate, texts, dutch) in enumerate(scored, start=1)),
    )
