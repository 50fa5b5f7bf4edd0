import dataclasses
from collections import Counter
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention.facts import (
    AGE_BAND_LABELS, MUNICIPALITIES, PRIORITY_GROUPS, WAITING_BAND_LABELS, RequestFact, age_band,
    municipality, priority_group, request_fact, waiting_band,
)
from retention.statistics import STANDARD_LAYOUTS, count_facts, publish
from retention.suppression import TOTAL, Grid

NO_PRIORITY = {"dutch_proficiency": False, "dutch_proof_declared": False, "single_parent": False,
               "income_below_threshold": False, "health_or_care_situation": False,
               "no_secondary_diploma": False, "work_or_training_need": False,
               "work_regime_fraction": 0.0, "integration_course_complete": False}
CHILD = {"foster_child": False, "sibling_facility_ids": []}


def fact(**changes):
    return dataclasses.replace(
        RequestFact("Anderlecht", "6-11", "2025-09", "work", "31-90"), **changes)


# --- facts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("birth, start, band", [
    (date(2024, 3, 15), date(2024, 9, 14), "0-5"),
    (date(2024, 3, 15), date(2024, 9, 15), "6-11"),
    (date(2024, 3, 15), date(2025, 3, 14), "6-11"),
    (date(2024, 3, 15), date(2025, 3, 15), "12-17"),
    (date(2024, 3, 15), date(2027, 3, 15), "24-36"),
    (date(2024, 3, 15), date(2027, 4, 15), "other"),
    (date(2024, 3, 15), date(2024, 3, 1), "other"),
])
def test_age_band_counts_whole_months_at_the_desired_start(birth, start, band):
    assert age_band(birth, start) == band


@pytest.mark.parametrize("days, band", [(0, "0-30"), (30, "0-30"), (31, "31-90"), (365, "181-365"),
                                        (366, "366+")])
def test_waiting_band(days, band):
    assert waiting_band(days) == band


def test_a_request_cannot_close_before_it_was_registered():
    with pytest.raises(ValueError):
        waiting_band(-1)


def test_the_municipality_comes_from_the_postal_code_not_free_text():
    assert municipality("1070") == "Anderlecht"
    assert municipality(" 1120 ") == "Brussel"
    assert municipality("9000") == "outside_brussels"
    assert len(MUNICIPALITIES) == 20


@pytest.mark.parametrize("flags, child, group", [
    ({"dutch_proficiency": True, "dutch_proof_declared": True, "income_below_threshold": True,
      "single_parent": True}, CHILD, "dutch"),
    ({"dutch_proficiency": True, "work_or_training_need": True}, CHILD, "work"),
    ({"income_below_threshold": True, "single_parent": True}, CHILD, "vulnerable"),
    ({"health_or_care_situation": True, "no_secondary_diploma": True}, CHILD, "vulnerable"),
    ({"work_or_training_need": True, "single_parent": True}, CHILD, "work"),
    ({"income_below_threshold": True}, CHILD, "other"),
    ({}, {"foster_child": True, "sibling_facility_ids": []}, "other"),
    ({}, {"foster_child": False, "sibling_facility_ids": ["fac-0002"]}, "other"),
    ({}, CHILD, "none"),
])
def test_priority_group_is_the_first_kg_2013_group_that_applies(flags, child, group):
    assert priority_group({**NO_PRIORITY, **flags}, child) == group


def test_a_fact_from_a_snapshot_keeps_only_categories(snapshot):
    dossier = snapshot(statuses=("enrolled",))
    closed_at = datetime(2020, 5, 1, 9, tzinfo=timezone.utc)
    assert request_fact(dossier, "req-1", closed_at) == RequestFact(
        municipality="Anderlecht", age_band="6-11", start_month="2020-11", priority_group="none",
        waiting_band="91-180")


def test_facts_refuse_values_outside_their_categories():
    with pytest.raises(ValueError):
        fact(municipality="Kerkstraat 1, Anderlecht")
    with pytest.raises(ValueError):
        fact(start_month="2025-13")


def test_counting_adds_to_the_aggregate_without_changing_it():
    before = count_facts([fact()])
    after = count_facts([fact(), fact(age_band="0-5")], before)
    assert before == Counter({fact(): 1})
    assert after == Counter({fact(): 2, fact(age_band="0-5"): 1})


# --- publication ----------------------------------------------------------------------------------

def test_months_without_demand_are_published_as_zero():
    (table,) = publish(count_facts([fact(start_month="2025-11")] * 12 + [fact(start_month="2026-02")] * 15),
                       [("start_month", None)])
    assert table.row_labels == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert [table.value(month) for month in table.row_labels] == [12, 0, 0, 15]
    assert table.value(TOTAL) == 27


def test_a_small_number_is_hidden_with_a_complement_and_the_total_stays():
    counts = count_facts([fact(waiting_band="0-30")] * 3 + [fact(waiting_band="31-90")] * 40
                         + [fact(waiting_band="91-180")] * 12)
    (table,) = publish(counts, [("waiting_band", None)], threshold=10)
    assert table.value("0-30") is None and table.value("91-180") is None
    assert table.value("31-90") == 40 and table.value(TOTAL) == 55


def test_unknown_layouts_are_refused():
    with pytest.raises(ValueError):
        publish(Counter(), [("dossier_id", None)])
    with pytest.raises(ValueError):
        publish(Counter(), [("municipality", "municipality")])


SMALL_DOMAIN = st.builds(
    RequestFact,
    municipality=st.sampled_from(MUNICIPALITIES[:5]),
    age_band=st.sampled_from(AGE_BAND_LABELS[:5]),
    start_month=st.sampled_from(["2025-01", "2025-02", "2025-04", "2025-05", "2025-06"]),
    priority_group=st.sampled_from(PRIORITY_GROUPS[:3]),
    waiting_band=st.sampled_from(WAITING_BAND_LABELS[:2]),
)
LINKED_LAYOUTS = [("municipality", None), ("age_band", None), ("start_month", None),
                  ("municipality", "age_band"), ("start_month", "municipality"), ("priority_group", "waiting_band")]


def grids_of(tables):
    """The published tables as suppression grids, keyed by the categories each number counts."""
    grids = []
    for table in tables:
        def key(row, column, table=table):
            return frozenset((dimension, label) for dimension, label in ((table.rows, row), (table.columns, column))
                             if dimension and label != TOTAL)
        grids.append(Grid(table.row_labels, table.column_labels,
                          {position: key(*position) for position in table.values}))
    return grids


def true_values(counts, grids):
    return {key: sum(count for item, count in counts.items()
                     if all(getattr(item, dimension) == label for dimension, label in key))
            for grid in grids for key in grid.keys.values()}


@settings(max_examples=150, deadline=None)
@given(counts=st.dictionaries(SMALL_DOMAIN, st.integers(1, 25), max_size=60), threshold=st.integers(2, 12))
def test_published_tables_show_no_small_number_and_reveal_no_hidden_one(counts, threshold, recomputable_keys):
    tables = publish(Counter(counts), LINKED_LAYOUTS, threshold)
    grids = grids_of(tables)
    values = true_values(counts, grids)
    hidden = set()
    for table, grid in zip(tables, grids):
        for position, published in table.values.items():
            if published is None:
                hidden.add(grid.keys[position])
            else:
                assert published == values[grid.keys[position]]
                assert not 0 < published < threshold
        for line in grid.lines():
            assert sum(table.values[position] is None for position in line) != 1
    # Shared numbers (a 1-D table is a margin of the 2-D ones) are hidden everywhere or nowhere.
    for table, grid in zip(tables, grids):
        assert all((table.values[position] is None) == (key in hidden) for position, key in grid.keys.items())
    # Even all the tables' equations together fix no hidden number.
    assert recomputable_keys(grids, hidden) == set()


def test_the_standard_publication_covers_every_dimension_once_alone():
    one_dimensional = [rows for rows, columns in STANDARD_LAYOUTS if columns is None]
    assert sorted(one_dimensional) == sorted(dataclasses.asdict(fact()))
