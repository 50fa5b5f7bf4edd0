import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention.suppression import TOTAL, Grid, suppress


def grid_of(matrix):
    """A 2-D grid whose numbers are keyed by position, and the values with all totals."""
    rows = tuple(f"r{index}" for index in range(len(matrix)))
    columns = tuple(f"c{index}" for index in range(len(matrix[0])))
    values = {}
    for row, cells in zip(rows, matrix):
        for column, value in zip(columns, cells):
            values[(row, column)] = value
        values[(row, TOTAL)] = sum(cells)
    for index, column in enumerate(columns):
        values[(TOTAL, column)] = sum(cells[index] for cells in matrix)
    values[(TOTAL, TOTAL)] = sum(map(sum, matrix))
    return Grid(rows, columns, {position: position for position in values}), values


def one_dimensional(counts):
    rows = tuple(f"r{index}" for index in range(len(counts)))
    values = {(row, TOTAL): count for row, count in zip(rows, counts)}
    values[(TOTAL, TOTAL)] = sum(counts)
    return Grid(rows, (), {position: position for position in values}), values


def lines_with_one_hidden(grid, hidden):
    return [line for line in grid.lines() if sum(grid.keys[position] in hidden for position in line) == 1]


counts = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 60))
matrices = st.integers(1, 6).flatmap(
    lambda width: st.lists(st.lists(counts, min_size=width, max_size=width), min_size=1, max_size=6))


@settings(max_examples=300, deadline=None)
@given(matrix=matrices, threshold=st.integers(2, 15))
def test_no_published_number_is_small_and_no_hidden_one_can_be_recomputed(matrix, threshold,
                                                                          recomputable_keys):
    grid, values = grid_of(matrix)
    hidden = suppress([grid], values, threshold)
    assert not [key for key in values if key not in hidden and 0 < values[key] < threshold]
    assert lines_with_one_hidden(grid, hidden) == []
    assert recomputable_keys([grid], hidden) == set()


@given(column=st.lists(counts, min_size=1, max_size=8), threshold=st.integers(2, 15))
def test_one_dimensional_tables_hide_at_least_two_numbers_or_none(column, threshold, recomputable_keys):
    grid, values = one_dimensional(column)
    hidden = suppress([grid], values, threshold)
    assert not [key for key in values if key not in hidden and 0 < values[key] < threshold]
    assert len(hidden) != 1
    assert recomputable_keys([grid], hidden) == set()


def test_a_single_small_number_takes_the_next_smallest_with_it():
    grid, values = one_dimensional([40, 3, 25, 12])
    assert suppress([grid], values, 10) == {("r1", TOTAL), ("r3", TOTAL)}


def test_two_hidden_numbers_per_line_do_not_suffice_when_they_form_a_bridge(recomputable_keys):
    # Two blocks of small numbers, joined by one small cell (r0, c2): every line holds 2 or 3 hidden
    # numbers, yet that cell is fixed by the equations until one more cell closes a cycle through it.
    grid, values = grid_of([
        [3, 4, 5, 30],
        [2, 6, 40, 30],
        [30, 40, 7, 8],
        [30, 40, 9, 3],
    ])
    primary = {key for key, value in values.items() if 0 < value < 10}
    assert lines_with_one_hidden(grid, primary) == []
    assert recomputable_keys([grid], primary) == {("r0", "c2")}
    hidden = suppress([grid], values, 10)
    assert hidden > primary
    assert recomputable_keys([grid], hidden) == set()


def test_inner_cells_are_hidden_before_totals():
    grid, values = grid_of([[5, 20, 30], [20, 20, 30]])
    hidden = suppress([grid], values, 10)
    assert {("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")} == hidden


def test_a_number_hidden_in_one_table_is_hidden_in_every_table_sharing_it(recomputable_keys):
    # The 1-D table of rows is the TOTAL column of the 2-D table: both hold the same numbers.
    two_d, values = grid_of([[3, 30], [40, 30], [25, 25]])
    one_d = Grid(two_d.row_labels, (), {
        position: key for position, key in two_d.keys.items() if position[1] == TOTAL
    })
    hidden = suppress([two_d, one_d], values, 10)
    assert lines_with_one_hidden(two_d, hidden) == lines_with_one_hidden(one_d, hidden) == []
    assert recomputable_keys([two_d, one_d], hidden) == set()


def test_the_threshold_is_at_least_one():
    grid, values = one_dimensional([1, 2])
    with pytest.raises(ValueError):
        suppress([grid], values, 0)
