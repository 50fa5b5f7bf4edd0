"""Published tables as CSV, JSON and a PNG chart of demand over time.

A hidden number is an empty field in CSV, null in JSON, and no bar in the chart: only what
`statistics.publish` released ever reaches a file.
"""
import csv
import io
import json
from collections.abc import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from retention.statistics import PublishedTable
from retention.suppression import TOTAL


def table_rows(table: PublishedTable) -> list[list]:
    """Header then one row per label and the totals row; each row ends with its total."""
    corner = table.rows if table.columns is None else f"{table.rows} x {table.columns}"
    columns = (*table.column_labels, TOTAL)
    return [[corner, *columns]] + [
        [row, *(table.value(row, column) for column in columns)] for row in (*table.row_labels, TOTAL)
    ]


def to_csv(table: PublishedTable) -> str:
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    for row in table_rows(table):
        writer.writerow("" if value is None else value for value in row)
    return output.getvalue()


def document(table: PublishedTable) -> dict:
    header, *rows = table_rows(table)
    return {
        "rows": table.rows,
        "columns": table.columns,
        "threshold": table.threshold,
        "row_labels": [row[0] for row in rows],
        "column_labels": header[1:],
        "values": [row[1:] for row in rows],
    }


def to_json(table: PublishedTable) -> str:
    return json.dumps(document(table), ensure_ascii=False, indent=2)


def tables_to_json(tables: Iterable[PublishedTable]) -> str:
    return json.dumps([document(table) for table in tables], ensure_ascii=False, indent=2)


def demand_by_month(table: PublishedTable) -> list[tuple[str, int]]:
    """(month, requests) for every month whose total was published, in month order."""
    if table.rows != "start_month":
        raise ValueError("demand over time needs a table with start_month as rows")
    return [(month, table.value(month)) for month in table.row_labels if table.value(month) is not None]


def demand_chart(table: PublishedTable) -> Figure:
    demand = demand_by_month(table)
    # A Figure with its own Agg canvas: no pyplot, no global backend, safe in a long-running worker.
    figure = Figure(figsize=(10, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = {month: index for index, month in enumerate(table.row_labels)}
    axes.bar([positions[month] for month, _ in demand], [count for _, count in demand], color="#3b6ea5")
    step = max(1, len(table.row_labels) // 24)
    axes.set_xticks(range(0, len(table.row_labels), step), table.row_labels[::step], rotation=90)
    axes.set_xlim(-0.5, max(len(table.row_labels), 1) - 0.5)
    axes.set_xlabel("month of desired start")
    axes.set_ylabel("requests")
    axes.set_title("Childcare requests by month of desired start\n"
                   f"(no bar: no requests, or a number hidden because it was under {table.threshold} "
                   "or could reveal one that was)", fontsize=10)
    return figure


def demand_chart_png(table: PublishedTable) -> bytes:
    output = io.BytesIO()
    demand_chart(table).savefig(output, format="png")
    return output.getvalue()
