"""Which priority criteria a candidate meets, by the names rule sets use.

Rule sets refer to criteria by name; the predicates live here so a rule set stays data. Every
predicate takes the candidate and the facility, because some criteria (a sibling already in this
facility) depend on where the place is.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matching.model import Candidate

# Names of the family characteristics, exactly the priority flags of the dossier snapshot.
CHARACTERISTICS = {
    "income_below_threshold": lambda c, f: c.priority.income_below_threshold,
    "health_or_care_situation": lambda c, f: c.priority.health_or_care_situation,
    "no_secondary_diploma": lambda c, f: c.priority.no_secondary_diploma,
    "work_or_training_need": lambda c, f: c.priority.work_or_training_need,
    "single_parent": lambda c, f: c.priority.single_parent,
}

OTHER_PRIORITY_GROUPS = {
    "single_parent": CHARACTERISTICS["single_parent"],
    "income_below_threshold": CHARACTERISTICS["income_below_threshold"],
    "foster_child": lambda c, f: c.foster_child,
    "sibling_in_facility": lambda c, f: f.id in c.sibling_facility_ids,
}

# kg-2024's absolute groups; work_or_training needs the rule set's thresholds (see ranking).
ABSOLUTE_PRIORITY_GROUPS = ("work_or_training", "sibling_attending", "foster_child")

FACILITY_RULES = {
    "children_of_staff": lambda c, f: c.dossier_id in f.staff_dossier_ids,
    "sibling": lambda c, f: f.id in c.sibling_facility_ids,
}


def has_dutch_priority(candidate: Candidate) -> bool:
    """A parent knows Dutch at B1 and the family declared having proof (checked at the first meeting)."""
    return candidate.priority.dutch_proficiency and candidate.priority.dutch_proof_declared


def works_or_trains_enough(candidate: Candidate, min_fraction: float, integration_course_counts: bool) -> bool:
    priority = candidate.priority
    if priority.work_regime_fraction >= min_fraction:
        return True
    return integration_course_counts and priority.integration_course_complete
