"""Hand-made cases for every kg-2013 rule and quota boundary."""
from datetime import date, datetime, timedelta, timezone

import pytest

from matching.model import Occupancy
from matching.ranking import RankingError, offer_respects_dutch_share, rank

EMPTY = Occupancy(enrolled=0, enrolled_dutch_priority=0, enrolled_vulnerable=0)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=timezone.utc)


@pytest.fixture
def ranked(make_facility, make_place, kg2013):
    def run(candidates, occupancy=EMPTY, **facility):
        return rank(make_facility(**facility), occupancy, make_place(), candidates, kg2013)
    return run


def reasons_of(ranking, request_id):
    return next(c.reasons for c in ranking.candidates if c.request_id == request_id)


# Dutch-language priority

def test_dutch_candidate_goes_first_while_the_share_has_room(ranked, make_candidate, dutch, ids):
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)])
    assert ids(ranking) == ["nl", "early"]
    assert ranking.candidates[0].dutch_priority and not ranking.candidates[1].dutch_priority
    assert reasons_of(ranking, "nl")[0] == (
        "Dutch-language priority: a parent knows Dutch (B1), proof declared; share 0 of 11 seats taken")


def test_share_one_seat_short_still_gives_priority(ranked, make_candidate, dutch, ids):
    occupancy = Occupancy(enrolled=15, enrolled_dutch_priority=10, enrolled_vulnerable=4)  # 11 seats of 20
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)],
                     occupancy)
    assert ids(ranking) == ["nl", "early"]
    assert "share 10 of 11 seats taken" in reasons_of(ranking, "nl")[0]


def test_share_full_gives_no_priority(ranked, make_candidate, dutch, ids):
    occupancy = Occupancy(enrolled=15, enrolled_dutch_priority=11, enrolled_vulnerable=4)
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)],
                     occupancy)
    assert ids(ranking) == ["early", "nl"]
    assert not ranking.candidates[1].dutch_priority
    assert reasons_of(ranking, "nl")[0] == ("A parent knows Dutch (B1), proof declared, but the Dutch-language share "
                                            "is full (11 of 11 seats): no priority now")


def test_open_dutch_priority_offers_use_the_share(ranked, make_candidate, dutch, ids):
    occupancy = Occupancy(enrolled=15, enrolled_dutch_priority=10, enrolled_vulnerable=4, open_dutch_priority_offers=1)
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)],
                     occupancy)
    assert ids(ranking) == ["early", "nl"]


@pytest.mark.parametrize("capacity, taken, applies", [
    (1, 0, True), (1, 1, False),      # one seat: the minimum of one child
    (2, 0, True), (2, 1, False),      # 55 % of 2 = 1.1 -> 1
    (3, 0, True), (3, 1, False),      # 1.65 -> 1
    (9, 3, True), (9, 4, False),      # 4.95 -> 4
    (10, 4, True), (10, 5, False),    # 5.5 -> 5
])
def test_55_percent_of_small_capacities(ranked, make_candidate, dutch, ids, capacity, taken, applies):
    occupancy = Occupancy(enrolled=taken, enrolled_dutch_priority=taken, enrolled_vulnerable=0)
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)],
                     occupancy, licensed_capacity=capacity)
    assert ids(ranking) == (["nl", "early"] if applies else ["early", "nl"])


def test_a_smaller_share_chosen_by_the_facility_is_respected(ranked, make_candidate, dutch, ids):
    occupancy = Occupancy(enrolled=5, enrolled_dutch_priority=5, enrolled_vulnerable=0)  # 25 % of 20 = 5 seats
    ranking = ranked([make_candidate("early", registered_at=at(1)), make_candidate("nl", registered_at=at(5), **dutch)],
                     occupancy, dutch_share=0.25)
    assert ids(ranking) == ["early", "nl"]


def test_proficiency_without_declared_proof_gives_no_priority(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("early", registered_at=at(1)),
                      make_candidate("nl", registered_at=at(5), dutch_proficiency=True)])
    assert ids(ranking) == ["early", "nl"]
    assert "no proof is declared" in reasons_of(ranking, "nl")[0]


# Vulnerable families

def test_vulnerable_family_comes_after_dutch_priority_and_before_others(ranked, make_candidate, dutch, vulnerable, ids):
    ranking = ranked([make_candidate("plain", registered_at=at(1)),
                      make_candidate("vulnerable", registered_at=at(3), **vulnerable),
                      make_candidate("nl", registered_at=at(5), **dutch)])
    assert ids(ranking) == ["nl", "vulnerable", "plain"]
    assert reasons_of(ranking, "vulnerable")[0] == ("Vulnerable family (2 of the 5 characteristics); vulnerable "
                                                    "families have 0 of the 4 places the 20 % minimum asks")


@pytest.mark.parametrize("flags, vulnerable", [
    ({"income_below_threshold": True, "single_parent": True}, True),
    ({"health_or_care_situation": True, "work_or_training_need": True}, True),
    ({"no_secondary_diploma": True, "income_below_threshold": True}, True),
    ({"work_or_training_need": True, "single_parent": True}, False),   # two, but none of the first three
    ({"income_below_threshold": True}, False),                         # one is not enough
    ({}, False),
])
def test_vulnerability_is_two_characteristics_with_one_of_the_first_three(ranked, make_candidate, flags, vulnerable):
    ranking = ranked([make_candidate("x", **flags)])
    assert any(t.startswith("Vulnerable family") for t in reasons_of(ranking, "x")) is vulnerable


def test_vulnerable_minimum_met_gives_no_priority(ranked, make_candidate, ids):
    occupancy = Occupancy(enrolled=10, enrolled_dutch_priority=0, enrolled_vulnerable=4)  # 20 % of 20 = 4
    ranking = ranked([make_candidate("plain", registered_at=at(1)),
                      make_candidate("vulnerable", registered_at=at(3), health_or_care_situation=True,
                                     no_secondary_diploma=True)], occupancy)
    assert ids(ranking) == ["plain", "vulnerable"]
    assert "the 20 % minimum is met (4 of 4 places)" in reasons_of(ranking, "vulnerable")[0]


def test_vulnerable_minimum_one_short_still_gives_priority(ranked, make_candidate, ids):
    occupancy = Occupancy(enrolled=10, enrolled_dutch_priority=0, enrolled_vulnerable=3)
    ranking = ranked([make_candidate("work", registered_at=at(1), work_or_training_need=True),
                      make_candidate("vulnerable", registered_at=at(3), health_or_care_situation=True,
                                     no_secondary_diploma=True)], occupancy)
    assert ids(ranking) == ["vulnerable", "work"]


def test_vulnerability_reason_does_not_say_which_characteristics(ranked, make_candidate):
    ranking = ranked([make_candidate("v", health_or_care_situation=True, no_secondary_diploma=True)])
    assert not any("health" in text for text in reasons_of(ranking, "v"))


# Work-related need and other groups

def test_work_need_comes_before_other_groups(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("foster", registered_at=at(1), foster_child=True),
                      make_candidate("work", registered_at=at(5), work_or_training_need=True)])
    assert ids(ranking) == ["work", "foster"]
    assert reasons_of(ranking, "work")[0].startswith("Work-related need")


def test_more_other_groups_go_first(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("one", registered_at=at(1), foster_child=True),
                      make_candidate("two", registered_at=at(5), foster_child=True, sibling_facility_ids={"fac-0001"}),
                      make_candidate("none", registered_at=at(1, 8))])
    assert ids(ranking) == ["two", "one", "none"]
    assert reasons_of(ranking, "two")[0] == (
        "Other priority groups (2): foster child, a brother or sister already in this facility")


def test_sibling_in_another_facility_is_not_a_group_here(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("early", registered_at=at(1)),
                      make_candidate("sibling", registered_at=at(5), sibling_facility_ids={"fac-0002"})])
    assert ids(ranking) == ["early", "sibling"]


# Facility rules

def test_facility_rules_come_after_the_legal_rules(ranked, make_candidate, ids):
    candidates = [make_candidate("staff", registered_at=at(5)),
                  make_candidate("work", registered_at=at(9), work_or_training_need=True),
                  make_candidate("plain", registered_at=at(1))]
    ranking = ranked(candidates, extra_rules=["children_of_staff"], staff_dossier_ids={"d-staff"})
    assert ids(ranking) == ["work", "staff", "plain"]
    assert reasons_of(ranking, "staff")[0] == "Facility rule: child of a staff member"


def test_facility_rules_apply_in_the_facility_order(ranked, make_candidate, ids):
    candidates = [make_candidate("staff", registered_at=at(5)),
                  make_candidate("sibling", registered_at=at(9), sibling_facility_ids={"fac-0001"})]
    # Both without income-related tariff, so the sibling is not already counted as an "other group".
    first = ranked(candidates, extra_rules=["children_of_staff", "sibling"], staff_dossier_ids={"d-staff"},
                   income_related_tariff=False)
    second = ranked(candidates, extra_rules=["sibling", "children_of_staff"], staff_dossier_ids={"d-staff"},
                    income_related_tariff=False)
    assert ids(first) == ["staff", "sibling"] and ids(second) == ["sibling", "staff"]


# Tie-breaks

def test_ties_break_on_registration_then_birth_date_then_request_id(ranked, make_candidate, ids):
    ranking = ranked([
        make_candidate("c", registered_at=at(2), child_birth_date=date(2025, 5, 1)),
        make_candidate("b", registered_at=at(2), child_birth_date=date(2025, 4, 1)),
        make_candidate("a", registered_at=at(2), child_birth_date=date(2025, 5, 1)),
        make_candidate("z", registered_at=at(1), child_birth_date=date(2025, 7, 1)),
    ])
    assert ids(ranking) == ["z", "b", "a", "c"]
    assert [c.position for c in ranking.candidates] == [1, 2, 3, 4]
    assert reasons_of(ranking, "z") == [
        "No priority rule applies",
        "Then by registration (2026-01-01 09:00 UTC), then child's birth date (2025-07-01), then request id (z)"]


# Facilities without income-related tariff

def test_without_income_related_tariff_only_dutch_work_and_facility_rules_count(ranked, make_candidate, vulnerable, ids):
    ranking = ranked([make_candidate("vulnerable", registered_at=at(5), **vulnerable),
                      make_candidate("foster", registered_at=at(4), foster_child=True),
                      make_candidate("plain", registered_at=at(3)),
                      make_candidate("work", registered_at=at(6), work_or_training_need=True)],
                     income_related_tariff=False)
    assert ids(ranking) == ["work", "plain", "foster", "vulnerable"]
    assert ranking.notes[-1] == "No income-related tariff: vulnerable_families, other_priority_groups do not apply"


# The whole ranking

def test_ranking_records_the_rule_set_and_the_quota_state(ranked, make_candidate):
    ranking = ranked([make_candidate()], Occupancy(enrolled=12, enrolled_dutch_priority=11, enrolled_vulnerable=1))
    assert ranking.rule_set_version == "kg-2013" and ranking.facility_id == "fac-0001"
    assert ranking.notes == ("Dutch-language share: 11 of 11 seats taken (no priority now)",
                             "Vulnerable families: 1 of the 4 places the 20 % minimum asks (priority applies)")


def test_ineligible_requests_are_left_out(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("fits"), make_candidate("elsewhere", facility_ids=("fac-0002",)),
                      make_candidate("urgent", facility_ids=("fac-0002",), urgent=True),
                      make_candidate("unborn", child_birth_date=date(2026, 10, 1)),
                      make_candidate("cancelled", status="cancelled")])
    assert sorted(ids(ranking)) == ["fits", "urgent"]
    assert reasons_of(ranking, "urgent")[0].startswith("Urgent request: did not choose this facility")


def test_urgency_alone_does_not_move_a_request_up(ranked, make_candidate, ids):
    ranking = ranked([make_candidate("urgent", registered_at=at(5), urgent=True),
                      make_candidate("chosen", registered_at=at(1))])
    assert ids(ranking) == ["chosen", "urgent"]


def test_no_candidates_gives_an_empty_ranking(ranked):
    assert ranked([]).candidates == ()


# Refusals

def test_a_share_above_the_rule_set_maximum_is_refused(make_facility, make_place, kg2013):
    with pytest.raises(RankingError, match="dutch_share 0.6 is above the 55% that rule set kg-2013 allows"):
        rank(make_facility(dutch_share=0.6), EMPTY, make_place(), [], kg2013)


def test_a_place_on_a_closed_day_is_refused(make_facility, make_place, kg2013):
    facility = make_facility(opening_days={"mon", "tue", "wed", "thu"})
    with pytest.raises(RankingError, match="closed on fri"):
        rank(facility, EMPTY, make_place(), [], kg2013)


def test_a_place_outside_the_facility_age_range_is_refused(make_facility, make_place, kg2013):
    with pytest.raises(RankingError, match="outside the 0-36 months"):
        rank(make_facility(), EMPTY, make_place(max_age_months=48), [], kg2013)


def test_a_place_of_another_facility_is_refused(make_facility, make_place, kg2013):
    with pytest.raises(RankingError, match="belongs to fac-0002"):
        rank(make_facility(), EMPTY, make_place(facility_id="fac-0002"), [], kg2013)


def test_the_facility_rule_set_must_be_the_one_given(make_facility, make_place, kg2024):
    with pytest.raises(RankingError, match="follows rule set kg-2013, not kg-2024"):
        rank(make_facility(), EMPTY, make_place(), [], kg2024)


def test_a_request_given_twice_is_refused(ranked, make_candidate):
    with pytest.raises(RankingError, match="request r-1 is given twice"):
        ranked([make_candidate("r-1"), make_candidate("r-1")])


# Offers and the Dutch share

def test_an_offer_on_dutch_priority_needs_a_free_seat_now(make_facility, make_place, make_candidate, dutch, kg2013):
    facility = make_facility(licensed_capacity=10)  # 5 seats
    ranking = rank(facility, Occupancy(enrolled=6, enrolled_dutch_priority=4, enrolled_vulnerable=2), make_place(),
                   [make_candidate("nl", **dutch), make_candidate("other")], kg2013)
    nl, other = ranking.candidates
    still_room = Occupancy(enrolled=6, enrolled_dutch_priority=4, enrolled_vulnerable=2)
    filled_meanwhile = Occupancy(enrolled=7, enrolled_dutch_priority=5, enrolled_vulnerable=2)
    offered_meanwhile = Occupancy(enrolled=6, enrolled_dutch_priority=4, enrolled_vulnerable=2,
                                  open_dutch_priority_offers=1)
    assert offer_respects_dutch_share(nl, facility, still_room, kg2013)
    assert not offer_respects_dutch_share(nl, facility, filled_meanwhile, kg2013)
    assert not offer_respects_dutch_share(nl, facility, offered_meanwhile, kg2013)
    assert offer_respects_dutch_share(other, facility, filled_meanwhile, kg2013)


def test_registration_time_is_shown_in_utc(ranked, make_candidate):
    brussels_summer = timezone(timedelta(hours=2))
    ranking = ranked([make_candidate("r", registered_at=datetime(2026, 5, 4, 11, 30, tzinfo=brussels_summer))])
    assert ranking.candidates[0].reasons[-1].startswith("Then by registration (2026-05-04 09:30 UTC)")
