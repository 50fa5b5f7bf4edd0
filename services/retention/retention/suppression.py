"""Cell suppression for published count tables (P9).

Primary suppression hides every number from 1 to threshold-1, totals included. Complementary
suppression then hides more numbers until none of the hidden ones can be recomputed from what is
published:
- every line (a row or column with its total) holds no hidden number or at least two;
- in a two-dimensional table no hidden number is a bridge. Read the table with its totals as a
  bipartite graph (a node per row and per column, an edge per hidden number): each line is one
  linear equation, and a hidden number is fixed by the equations exactly when its edge lies on no
  cycle. Two hidden numbers per line are not enough on their own (two hidden rectangles joined by
  one hidden cell reveal that cell).
Tables published together share their totals (the 1-D table of a dimension is the margin of every
2-D table with it), so a number hidden in one table is hidden in all, and the rules repeat over all
tables until nothing changes. Linked tables can still pin a number down together where no single
table does; so the last word is exact: the line equations of all tables are solved (by rank), and
while any hidden number is determined, one more number on a line through it is hidden. Complements are taken where they cost least: inner cells before
totals (so margins stay equal to the published 1-D tables), non-zero before zero, smallest first.
"""
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy

TOTAL = "total"

Position = tuple[str, str]


@dataclass(frozen=True)
class Grid:
    """A table's layout: `keys` names the number at each (row, column) position, totals included.

    `column_labels` is empty for a one-dimensional table, whose numbers sit in the TOTAL column.
    Two grids holding the same number (a shared total) use the same key for it.
    """
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    keys: Mapping[Position, Hashable]

    def lines(self) -> list[list[Position]]:
        """Every row and column with its total as the last position: the line sums to that total."""
        rows = (*self.row_labels, TOTAL)
        columns = (*self.column_labels, TOTAL)
        lines = [[(row, column) for row in self.row_labels] + [(TOTAL, column)] for column in columns]
        if self.column_labels:
            lines += [[(row, column) for column in self.column_labels] + [(row, TOTAL)] for row in rows]
        return lines


def suppress(grids: Sequence[Grid], values: Mapping[Hashable, int], threshold: int) -> frozenset:
    """The keys to hide so that no hidden number lies in 1..threshold-1 or can be recomputed."""
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    keys = {key for grid in grids for key in grid.keys.values()}
    hidden = {key for key in keys if 0 < values[key] < threshold}
    while True:
        changed = True
        while changed:
            changed = False
            for grid in grids:
                changed |= _complete_lines(grid, values, hidden)
                changed |= _close_bridges(grid, values, hidden)
        exposed = determined(grids, hidden)
        if not exposed:
            return frozenset(hidden)
        _hide_beside(grids, min(exposed, key=repr), values, hidden)


def determined(grids: Sequence[Grid], hidden) -> set:
    """The hidden keys whose value follows from the published numbers and the line equations.

    With the hidden numbers as unknowns, each line is one equation; an unknown is determined exactly
    when its unit vector lies in the row space of the equations (adding it leaves the rank unchanged).
    """
    unknowns = sorted(hidden, key=repr)
    index = {key: position for position, key in enumerate(unknowns)}
    rows = []
    for grid in grids:
        for line in grid.lines():
            row = numpy.zeros(len(unknowns))
            for position in line[:-1]:
                if grid.keys[position] in index:
                    row[index[grid.keys[position]]] += 1
            if grid.keys[line[-1]] in index:
                row[index[grid.keys[line[-1]]]] -= 1
            if row.any():
                rows.append(row)
    if not rows:
        return set()
    equations = numpy.array(rows)
    rank = numpy.linalg.matrix_rank(equations)
    unit = numpy.eye(len(unknowns))
    return {key for key, position in index.items()
            if numpy.linalg.matrix_rank(numpy.vstack([equations, unit[position]])) == rank}


def _hide_beside(grids, key, values, hidden):
    """Hide the cheapest open number on a line through `key`, in the first table that has one."""
    for grid in grids:
        for line in grid.lines():
            if key in {grid.keys[position] for position in line} and \
                    any(grid.keys[position] not in hidden for position in line):
                _hide_cheapest(grid, line, values, hidden)
                return
    raise RuntimeError("a determined number with every line through it hidden: the equations are inconsistent")


def _complete_lines(grid, values, hidden) -> bool:
    changed = False
    again = True
    while again:
        again = False
        for line in grid.lines():
            if sum(grid.keys[position] in hidden for position in line) == 1:
                _hide_cheapest(grid, line, values, hidden)
                again = changed = True
    return changed


def _close_bridges(grid, values, hidden) -> bool:
    """Put every hidden cell of a 2-D grid on a cycle; the lines must be complete already."""
    if not grid.column_labels:
        return False  # a 1-D table is one equation: two hidden numbers in it already suffice
    changed = False
    while bridge := _first_bridge(grid, hidden):
        row_side = _reachable(grid, hidden, ("row", bridge[0]), without=bridge)
        column_side = _reachable(grid, hidden, ("column", bridge[1]), without=bridge)
        # A hidden cell from the column's side to the row's side closes a cycle through the bridge.
        candidates = [(row, column) for (row, column) in grid.keys
                      if ("row", row) in column_side and ("column", column) in row_side]
        _hide_cheapest(grid, candidates, values, hidden)
        changed = True
    return changed


def _hide_cheapest(grid, positions, values, hidden):
    order = {position: index for index, position in enumerate(grid.keys)}
    open_positions = [position for position in positions if grid.keys[position] not in hidden]
    if not open_positions:
        raise RuntimeError("no number left to hide: the lines were not completed first")
    cheapest = min(open_positions, key=lambda position: (
        TOTAL in position, values[grid.keys[position]] == 0, values[grid.keys[position]], order[position],
    ))
    hidden.add(grid.keys[cheapest])


def _edges(grid, hidden) -> dict:
    """Adjacency of the hidden cells' graph: node -> {neighbour node: position}."""
    adjacency = {}
    for (row, column), key in grid.keys.items():
        if key in hidden:
            adjacency.setdefault(("row", row), {})[("column", column)] = (row, column)
            adjacency.setdefault(("column", column), {})[("row", row)] = (row, column)
    return adjacency


def _reachable(grid, hidden, start, without) -> set:
    adjacency = _edges(grid, hidden)
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for neighbour, position in adjacency.get(node, {}).items():
            if position != without and neighbour not in seen:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen


def _first_bridge(grid, hidden) -> Position | None:
    """A hidden position whose edge is a bridge (Tarjan's low-link, iterative), or None."""
    adjacency = _edges(grid, hidden)
    discovered, low = {}, {}
    bridges = []
    for root in adjacency:
        if root in discovered:
            continue
        discovered[root] = low[root] = len(discovered)
        stack = [(root, None, iter(adjacency[root].items()))]
        while stack:
            node, via, neighbours = stack[-1]
            step = next(neighbours, None)
            if step is None:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > discovered[parent]:
                        bridges.append(via)
                continue
            neighbour, position = step
            if position == via:
                continue
            if neighbour in discovered:
                low[node] = min(low[node], discovered[neighbour])
            else:
                discovered[neighbour] = low[neighbour] = len(discovered)
                stack.append((neighbour, position, iter(adjacency[neighbour].items())))
    if not bridges:
        return None
    order = {position: index for index, position in enumerate(grid.keys)}
    return min(bridges, key=order.__getitem__)
