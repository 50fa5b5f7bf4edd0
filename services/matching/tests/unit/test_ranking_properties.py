"""Properties of rank() on generated facilities, places and candidates, under both rule sets."""
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from matching.criteria import ABSOLUTE_PRIORITY_GROUPS, has_dutch_priority
from matching.model import Candidate, Facility, FreePlace, Occupancy, Priority
from matching.quotas import facility_dutch_seats
from matching.ranking import eligible, is_vulnerable, offer_respects_dutch_share, rank
from matching.rulesets import load_rule_sets

RULE_SETS = load_rule_sets()
FACILITY_IDS = ("fac-0001", "fac-0002", "fac-0003")
DAYS = ("mon", "tue", "wed", "thu", "fri")
PLACE_START = date(2026, 9, 1)
EXAMPLES = settings(max_examples=50, deadline=None)

day_plans = st.dictionaries(st.sampled_from(DAYS), st.sampled_from(("full", "morning", "afternoon")),
                            min_size=1, max_size=3)


@st.composite
def facilities(draw):
    rule_set = draw(st.sampled_from(sorted(RULE_SETS)))
    return Facility(
        id="fac-0001", name="Generated", municipality="Brussel",
        licensed_capacity=draw(st.integers(1, 30)), opening_days=set(DAYS), min_age_months=0, max_age_months=36,
        income_related_tariff=draw(st.booleans()), dutch_share=draw(st.sampled_from((0.05, 0.2, 0.5, 0.55))),
        answer_window_days=draw(st.sampled_from((10, 14))),
        extra_rules=draw(st.permutations(("children_of_staff", "sibling")).flatmap(
            lambda rules: st.integers(0, 2).map(lambda n: rules[:n]))),
        rule_set=rule_set, kg2024_group_order=draw(st.none() | st.permutations(ABSOLUTE_PRIORITY_GROUPS)),
        staff_dossier_ids={"d-1", "d-4"},
    )


@st.composite
def places(draw):
    """Mostly generous places, so that many candidates fit and the order has something to order."""
    weekdays = {day: draw(st.sampled_from(("full", "full", "full", "morning", "afternoon"))) for day in DAYS}
    return FreePlace(facility_id="fac-0001", start_date=PLACE_START, weekdays=weekdays,
                     min_age_months=draw(st.sampled_from((0, 0, 0, 12))),
                     max_age_months=draw(st.sampled_from((18, 36, 36, 36))))


# Family profiles: few enough that candidates often tie on every rule, varied enough to reach every rule.
PROFILES = (
    Priority(),
    Priority(dutch_proficiency=True, dutch_proof_declared=True),
    Priority(dutch_proficiency=True),
    Priority(dutch_proficiency=True, dutch_proof_declared=True, income_below_threshold=True, single_parent=True),
    Priority(income_below_threshold=True, single_parent=True),
    Priority(health_or_care_situation=True, no_secondary_diploma=True, work_or_training_need=True),
    Priority(work_or_training_need=True, single_parent=True),
    Priority(work_or_training_need=True, work_regime_fraction=0.8),
    Priority(work_regime_fraction=0.79, integration_course_complete=True),
)


@st.composite
def candidate_lists(draw, max_size=25, for_the_place=False):
    """Candidates with varied eligibility; `for_the_place`: all would fit PLACE_START in fac-0001 on weekdays."""
    candidates = []
    for i in range(draw(st.integers(0, max_size))):
        if for_the_place:
            chosen = ("fac-0001",) + tuple(draw(st.lists(st.sampled_from(FACILITY_IDS[1:]), unique=True)))
            desired, plan, status = PLACE_START + timedelta(days=draw(st.integers(0, 200))), {"mon": "full"}, "active"
        else:
            chosen = tuple(draw(st.lists(st.sampled_from(FACILITY_IDS), unique=True, max_size=3)))
            desired = PLACE_START + timedelta(days=draw(st.integers(-30, 240)))
            plan = draw(day_plans)
            status = draw(st.sampled_from(("active",) * 5 + ("enrolled", "cancelled", "expired")))
        candidates.append(Candidate(
            request_id=f"r-{i}", dossier_id=f"d-{i}",
            child_birth_date=date(2025, 1, 1) + timedelta(days=draw(st.sampled_from((0, 400, 700)))),
            desired_start_date=desired, care_plan=plan, facility_ids=chosen,
            urgent=draw(st.booleans()), status=status,
            registered_at=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=draw(st.integers(0, 1))),
            priority=draw(st.sampled_from(PROFILES)),
            foster_child=draw(st.integers(0, 5)) == 0,
            sibling_facility_ids=draw(st.lists(st.sampled_from(FACILITY_IDS), unique=True, max_size=2)),
        ))
    return candidates


@st.composite
def occupancies(draw, facility):
    enrolled = draw(st.integers(0, facility.licensed_capacity))
    return Occupancy(enrolled=enrolled, enrolled_dutch_priority=draw(st.integers(0, enrolled)),
                     enrolled_vulnerable=draw(st.integers(0, enrolled)),
                     enrolled_other_families=draw(st.integers(0, enrolled)))


def _view(ranking):
    return [(c.request_id, c.position, c.reasons, c.dutch_priority) for c in ranking.candidates]


@EXAMPLES
@given(data=st.data(), facility=facilities(), place=places(), candidates=candidate_lists())
def test_order_is_deterministic_whatever_the_input_order(data, facility, place, candidates):
    occupancy = data.draw(occupancies(facility))
    rule_set = RULE_SETS[facility.rule_set]
    shuffled = data.draw(st.permutations(candidates))
    assert _view(rank(facility, occupancy, place, shuffled, rule_set)) == \
        _view(rank(facility, occupancy, place, candidates, rule_set))


@EXAMPLES
@given(facility=facilities(), profile=st.sampled_from(PROFILES), order=st.permutations(range(8)))
def test_candidates_equal_on_every_rule_are_ordered_by_request_id_whatever_the_input_order(facility, profile, order):
    twins = [Candidate(request_id=f"r-{i}", dossier_id="d-twins", child_birth_date=date(2025, 3, 1),
                       desired_start_date=PLACE_START, care_plan={"mon": "full"}, facility_ids=("fac-0001",),
                       urgent=False, status="active", registered_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                       priority=profile) for i in order]
    place = FreePlace(facility_id="fac-0001", start_date=PLACE_START, weekdays={"mon": "full"},
                      min_age_months=0, max_age_months=36)
    occupancy = Occupancy(enrolled=0, enrolled_dutch_priority=0, enrolled_vulnerable=0)
    ranking = rank(facility, occupancy, place, twins, RULE_SETS[facility.rule_set])
    assert [c.request_id for c in ranking.candidates] == [f"r-{i}" for i in range(8)]


@EXAMPLES
@given(data=st.data(), facility=facilities(), place=places(), candidates=candidate_lists())
def test_order_is_total_and_consistent_on_any_subset(data, facility, place, candidates):
    occupancy = data.draw(occupancies(facility))
    rule_set = RULE_SETS[facility.rule_set]
    full = [c.request_id for c in rank(facility, occupancy, place, candidates, rule_set).candidates]
    assert len(set(full)) == len(full)
    subset = data.draw(st.lists(st.sampled_from(candidates), unique_by=lambda c: c.request_id)) if candidates else []
    part = [c.request_id for c in rank(facility, occupancy, place, subset, rule_set).candidates]
    assert part == [request_id for request_id in full if request_id in set(part)]


@EXAMPLES
@given(data=st.data(), facility=facilities(), place=places(), candidates=candidate_lists())
def test_exactly_the_eligible_requests_are_ranked_and_never_an_unchosen_non_urgent_one(
        data, facility, place, candidates):
    occupancy = data.draw(occupancies(facility))
    ranking = rank(facility, occupancy, place, candidates, RULE_SETS[facility.rule_set])
    ranked = {c.request_id for c in ranking.candidates}
    assert ranked == {c.request_id for c in candidates if eligible(c, facility, place)[0]}
    by_id = {c.request_id: c for c in candidates}
    for request_id in ranked:
        candidate = by_id[request_id]
        assert candidate.status == "active" and (candidate.urgent or facility.id in candidate.facility_ids)
    assert [c.position for c in ranking.candidates] == list(range(1, len(ranked) + 1))


@settings(max_examples=50, deadline=None)
@given(data=st.data(), facility=facilities(), candidates=candidate_lists(max_size=30, for_the_place=True))
def test_offers_made_from_successive_rankings_never_exceed_the_dutch_share(data, facility, candidates):
    """Offer the first in line, again and again; parents accept or decline, in any order.

    Every offer that rests on Dutch-language priority must find a free seat in the share,
    counting enrolled Dutch-speaking families and the priority offers still open. So the
    children placed on that priority, with those counted at the start, never exceed the share
    (Dutch-speaking families may still get places on other grounds).
    """
    rule_set = RULE_SETS[facility.rule_set]
    seats = facility_dutch_seats(facility, rule_set)
    place = FreePlace(facility_id=facility.id, start_date=PLACE_START, weekdays={"mon": "full"},
                      min_age_months=0, max_age_months=36)
    enrolled = data.draw(st.integers(0, facility.licensed_capacity - 1))
    dutch = dutch_at_start = data.draw(st.integers(0, min(enrolled, seats)))
    waiting = {c.request_id: c for c in candidates}
    open_offers = {}  # request_id -> (candidate, rests on Dutch priority)
    vulnerable, placed_on_priority = 0, 0
    while True:
        occupancy = Occupancy(enrolled=enrolled, enrolled_dutch_priority=dutch, enrolled_vulnerable=vulnerable,
                              open_dutch_priority_offers=sum(1 for _, d in open_offers.values() if d))
        room = enrolled + len(open_offers) < facility.licensed_capacity
        ranking = rank(facility, occupancy, place, list(waiting.values()), rule_set) if room else None
        if ranking is not None and ranking.candidates and (not open_offers or data.draw(st.booleans())):
            first = ranking.candidates[0]
            assert offer_respects_dutch_share(first, facility, occupancy, rule_set)
            if first.dutch_priority:
                assert dutch + occupancy.open_dutch_priority_offers < seats
            open_offers[first.request_id] = (waiting.pop(first.request_id), first.dutch_priority)
        elif open_offers:
            request_id = data.draw(st.sampled_from(sorted(open_offers)))
            candidate, on_priority = open_offers.pop(request_id)
            if data.draw(st.booleans()):  # accepted: the child is enrolled; a declined request leaves this place
                enrolled += 1
                placed_on_priority += on_priority
                dutch += has_dutch_priority(candidate)
                vulnerable += is_vulnerable(candidate, facility, rule_set)
        else:
            break
        assert dutch_at_start + placed_on_priority + sum(1 for _, d in open_offers.values() if d) <= seats
