"""Anonymised statistics (P9): aggregate counts of request facts, published with small numbers hidden.

The aggregate holds no ids, only how many requests share the same five categories, so it survives
the erasure of the dossiers it came from. Nothing leaves the service except the one- and
two-dimensional tables that `publish` returns, with primary and complementary suppression applied
to all of them together.
"""
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from retention.facts import CLOSED_LABELS, DIMENSIONS, RequestFact
from retention.suppression import TOTAL, Grid, suppress

DEFAULT_THRESHOLD = 10

Layout = tuple[str, str | None]  # (row dimension, column dimension or None for a 1-D table)

STANDARD_LAYOUTS: tuple[Layout, ...] = (
    *((dimension, None) for dimension in DIMENSIONS),
    ("start_month", "priority_group"),
    ("municipality", "age_band"),
    ("municipality", "priority_group"),
    ("municipality", "waiting_band"),
)


@dataclass(frozen=True)
class PublishedTable:
    rows: str
    columns: str | None
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]  # () for a 1-D table: its numbers are in the TOTAL column
    threshold: int
    values: Mapping[tuple[str, str], int | None]  # (row or TOTAL, column or TOTAL) -> count, None if hidden

    def value(self, row: str, column: str = TOTAL) -> int | None:
        return self.values[(row, column)]


def count_facts(facts: Iterable[RequestFact], counts: Mapping[RequestFact, int] | None = None) -> Counter:
    """The aggregate `counts` plus `facts`, as a new Counter."""
    aggregate = Counter(counts or {})
    for fact in facts:
        if not isinstance(fact, RequestFact):
            raise TypeError("statistics count RequestFact values only")
        aggregate[fact] += 1
    return aggregate


def publish(counts: Mapping[RequestFact, int], layouts: Sequence[Layout] = STANDARD_LAYOUTS,
            threshold: int = DEFAULT_THRESHOLD) -> tuple[PublishedTable, ...]:
    """The tables for `layouts`, in that order, with every number in 1..threshold-1 hidden (None)
    and enough other numbers hidden that no hidden one can be recomputed, across all the tables."""
    for rows, columns in layouts:
        if rows not in DIMENSIONS or columns not in (*DIMENSIONS, None) or rows == columns:
            raise ValueError(f"no table of {rows} by {columns}")
    if any(count < 0 for count in counts.values()):
        raise ValueError("counts are never negative")
    labels = {dimension: _labels(dimension, counts) for dimension in DIMENSIONS}
    grids = [_grid(rows, columns, labels) for rows, columns in layouts]
    values = _marginal_counts(counts, layouts)
    hidden = suppress(grids, values, threshold)
    return tuple(
        PublishedTable(
            rows, columns, grid.row_labels, grid.column_labels, threshold,
            {position: None if key in hidden else values[key] for position, key in grid.keys.items()},
        )
        for (rows, columns), grid in zip(layouts, grids)
    )


def _labels(dimension, counts) -> tuple[str, ...]:
    if dimension in CLOSED_LABELS:
        return CLOSED_LABELS[dimension]
    # Months: every month from the first to the last one seen, so a month without demand shows as 0.
    months = sorted(fact.start_month for fact, count in counts.items() if count)
    if not months:
        return ()
    year, month = map(int, months[0].split("-"))
    labels = []
    while (label := f"{year:04d}-{month:02d}") <= months[-1]:
        labels.append(label)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(labels)


def _key(*pairs) -> frozenset:
    """The name of a published number: the categories it counts; shared by every table showing it."""
    return frozenset((dimension, label) for dimension, label in pairs if dimension and label != TOTAL)


def _grid(rows, columns, labels) -> Grid:
    row_labels = labels[rows]
    column_labels = labels[columns] if columns else ()
    keys = {
        (row, column): _key((rows, row), (columns, column))
        for row in (*row_labels, TOTAL)
        for column in (*column_labels, TOTAL)
    }
    return Grid(row_labels, column_labels, keys)


def _marginal_counts(counts, layouts) -> Counter:
    projections = {frozenset()}
    for rows, columns in layouts:
        projections |= {frozenset({rows}), frozenset({columns, rows} - {None}), frozenset({columns} - {None})}
    values = Counter()
    for fact, count in counts.items():
        for dimensions in projections:
            values[_key(*((dimension, getattr(fact, dimension)) for dimension in dimensions))] += count
    return values
