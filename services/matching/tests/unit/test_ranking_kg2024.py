"""Hand-made cases for kg-2024: absolute priority groups in the facility's order."""
from datetime import datetime, timezone

import pytest

from matching.model import Occupancy
from matching.ranking import in_absolute_priority_group, is_vulnerable, rank

EMPTY = Occupancy(enrolled=0, enrolled_dutch_priority=0, enrolled_vulnerable=0)


def at(day: int) -> datetime:
    return datetime(2026, 1, day, 9, tzinfo=timezone.utc)


@pytest.fixture
def ranked(make_facility, make_place, kg2024):
    def run(candidates, occupancy=EMPTY, **facility):
        return rank(make_facility(rule_set="kg-2024", **facility), occupancy, make_place(), candidates, kg2024)
    return run


@pytest.fixture
def three_groups(make_candidate):
    """One candidate per group, registered in the reverse of the default order, plus one in no group."""
    return [make_candidate("none", registered_at=at(1)),
            make_candidate("foster", registered_at=at(2), foster_child=True),
            make_candidate("sibling", registered_at=at(3), sibling_facility_ids={"fac-0001"}),
            make_candidate("work", registered_at=at(4), work_regime_fraction=0.8)]


def test_default_order_is_work_then_siblings_then_foster_children(ranked, three_groups, ids):
    ranking = ranked(three_groups)
    assert ids(ranking) == ["work", "sibling", "foster", "none"]
    assert ranking.rule_set_version == "kg-2024"
    texts = next(c.reasons for c in ranking.candidates if c.request_id == "sibling")
    assert texts[0] == ("Absolute priority, group 2 of 3 in this facility's order: "
                        "a brother or sister attends this facility at the same time")


def test_the_facility_sets_the_order_of_the_groups(ranked, three_groups, ids):
    ranking = ranked(three_groups, kg2024_group_order=["foster_child", "work_or_training", "sibling_attending"])
    assert ids(ranking) == ["foster", "work", "sibling", "none"]


def test_within_a_group_a_second_group_counts_in_the_facility_order(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("work", registered_at=at(1), work_regime_fraction=1.0),
                      make_candidate("work+foster", registered_at=at(5), work_regime_fraction=1.0, foster_child=True)])
    assert ids(ranking) == ["work+foster", "work"]
    assert len([t for t in ranking.candidates[0].reasons if t.startswith("Absolute priority")]) == 2


@pytest.mark.parametrize("fraction, integration, in_group", [
    (0.8, False, True), (0.79, False, False), (1.0, False, True), (0.5, True, True), (0.0, False, False),
])
def test_work_or_training_is_at_least_four_fifths_or_a_complete_integration_course(
        ranked, make_candidate, ids, fraction, integration, in_group):
    ranking = ranked([make_candidate("none", registered_at=at(1)),
                      make_candidate("x", registered_at=at(5), work_regime_fraction=fraction,
                                     integration_course_complete=integration)])
    assert ids(ranking)[0] == ("x" if in_group else "none")


def test_dutch_priority_still_comes_first(ranked, make_candidate, dutch, ids):
    ranking = ranked([make_candidate("work", registered_at=at(1), work_regime_fraction=1.0),
                      make_candidate("nl", registered_at=at(5), **dutch)])
    assert ids(ranking) == ["nl", "work"]


def test_dutch_priority_ends_with_a_full_share(ranked, make_candidate, dutch, ids):
    ranking = ranked([make_candidate("work", registered_at=at(1), work_regime_fraction=1.0),
                      make_candidate("nl", registered_at=at(5), **dutch)],
                     Occupancy(enrolled=12, enrolled_dutch_priority=11, enrolled_vulnerable=0))
    assert ids(ranking) == ["work", "nl"]


def test_vulnerable_families_go_first_among_the_other_families(ranked, make_candidate, vulnerable, ids):
    ranking = ranked([make_candidate("plain", registered_at=at(1)),
                      make_candidate("vulnerable", registered_at=at(3), **vulnerable),
                      make_candidate("foster", registered_at=at(5), foster_child=True)])
    assert ids(ranking) == ["foster", "vulnerable", "plain"]


def test_other_families_are_told_how_much_of_the_10_percent_is_used(ranked, make_candidate):
    ranking = ranked([make_candidate("plain")], Occupancy(enrolled=15, enrolled_dutch_priority=5,
                                                          enrolled_vulnerable=4, enrolled_other_families=1))
    assert ranking.candidates[0].reasons[0] == ("In none of the absolute priority groups; places for other families: "
                                                "1 of 2 used (at most 10 %)")
    assert "Other families (outside the absolute groups): 1 of 2 places used" in ranking.notes


def test_without_income_related_tariff_the_vulnerable_step_does_not_apply(ranked, make_candidate, vulnerable, ids):
    candidates = [make_candidate("plain", registered_at=at(1)),
                  make_candidate("vulnerable", registered_at=at(3), **vulnerable)]
    assert ids(ranked(candidates, income_related_tariff=False)) == ["plain", "vulnerable"]
    assert ids(ranked(candidates)) == ["vulnerable", "plain"]


def test_facility_rules_come_after_the_groups(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("staff", registered_at=at(1)),
                      make_candidate("foster", registered_at=at(5), foster_child=True)],
                     extra_rules=["children_of_staff"], staff_dossier_ids={"d-staff"})
    assert ids(ranking) == ["foster", "staff"]


def test_occupancy_helpers_tell_which_quota_an_enrolled_child_counts_for(make_facility, make_candidate, kg2013,
                                                                         kg2024, vulnerable):
    facility = make_facility(rule_set="kg-2024")
    assert in_absolute_priority_group(make_candidate(sibling_facility_ids={"fac-0001"}), facility, kg2024)
    assert not in_absolute_priority_group(make_candidate(sibling_facility_ids={"fac-0002"}), facility, kg2024)
    assert not in_absolute_priority_group(make_candidate(foster_child=True), make_facility(), kg2013)
    assert is_vulnerable(make_candidate(**vulnerable), facility, kg2024)
    assert not is_vulnerable(make_candidate(work_or_training_need=True, single_parent=True), facility, kg2024)
