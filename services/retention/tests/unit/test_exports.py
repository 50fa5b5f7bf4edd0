import csv
import io
import json

import pytest
from PIL import Image

from retention.exports import demand_by_month, demand_chart, demand_chart_png, tables_to_json, to_csv, to_json
from retention.facts import RequestFact
from retention.statistics import count_facts, publish

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def facts(month, group, number):
    return [RequestFact("Jette", "12-17", month, group, "0-30")] * number


@pytest.fixture
def tables():
    # 2025-02 has 4 requests: hidden, and 2025-03 (the next smallest month) with it.
    counts = count_facts(facts("2025-01", "work", 30) + facts("2025-01", "dutch", 12)
                         + facts("2025-02", "work", 4) + facts("2025-03", "work", 15)
                         + facts("2025-04", "dutch", 25) + facts("2025-04", "work", 20))
    return publish(counts, [("start_month", None), ("start_month", "priority_group")], threshold=10)


def test_csv_has_a_header_a_row_per_label_and_totals_with_hidden_numbers_empty(tables):
    rows = list(csv.reader(io.StringIO(to_csv(tables[0]))))
    assert rows == [
        ["start_month", "total"],
        ["2025-01", "42"],
        ["2025-02", ""],
        ["2025-03", ""],
        ["2025-04", "45"],
        ["total", "106"],
    ]


def test_two_dimensional_csv_ends_every_row_with_its_total(tables):
    rows = list(csv.reader(io.StringIO(to_csv(tables[1]))))
    assert rows[0] == ["start_month x priority_group", "dutch", "vulnerable", "work", "other", "none", "total"]
    assert rows[1] == ["2025-01", "12", "0", "30", "0", "0", "42"]
    assert rows[-1][0] == "total" and rows[-1][-1] == "106"
    assert len(rows) == 6 and all(len(row) == 7 for row in rows)


def test_json_holds_the_same_numbers_with_null_for_hidden(tables):
    document = json.loads(to_json(tables[1]))
    assert document["rows"] == "start_month" and document["columns"] == "priority_group"
    assert document["threshold"] == 10
    assert document["row_labels"] == ["2025-01", "2025-02", "2025-03", "2025-04", "total"]
    assert document["column_labels"] == ["dutch", "vulnerable", "work", "other", "none", "total"]
    assert document["values"][1][2] is None  # 2025-02, work: 4 requests
    assert document["values"][4][5] == 106
    csv_rows = list(csv.reader(io.StringIO(to_csv(tables[1]))))[1:]
    assert [[None if value == "" else int(value) for value in row[1:]] for row in csv_rows] == document["values"]


def test_the_chart_shows_only_published_months(tables):
    assert demand_by_month(tables[0]) == [("2025-01", 42), ("2025-04", 45)]
    bars = demand_chart(tables[0]).axes[0].patches
    assert sorted(bar.get_height() for bar in bars) == [42, 45]


def test_the_chart_is_a_valid_png(tables):
    png = demand_chart_png(tables[1])
    assert png[:8] == PNG_SIGNATURE
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (1000, 450)


def test_several_tables_are_one_json_list_of_the_single_table_documents(tables):
    assert json.loads(tables_to_json(tables)) == [json.loads(to_json(table)) for table in tables]


def test_demand_over_time_needs_months_as_rows():
    (table,) = publish(count_facts(facts("2025-01", "work", 30)), [("priority_group", None)])
    with pytest.raises(ValueError):
        demand_by_month(table)
