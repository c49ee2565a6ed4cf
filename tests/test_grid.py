"""The Claro dataset grid: edits, cell ids, errors, persistence, and its state machine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant

from taskcore.claro import CellCodec, CellTable, DefaultCellCodec, Grid
from taskcore.errors import CATALOGUE, GridIdNotFound, ValidationError
from taskcore.testing.grid import GridMachine


def assert_bit_index_exact(grid: Grid) -> None:
    """The grid's bit-packed emptiness index says exactly what its bytes say, cell by cell."""
    rows, stride = grid.row_count, grid._stride
    assert len(grid._slot_ids) == len(grid._empty_bits)
    for slot, column_id in enumerate(grid._slot_ids):
        bits = grid._empty_bits[slot]
        if column_id is None:  # a removed column keeps no bits
            assert bytearray() == bits
            continue
        expected = bytearray((rows + 7) // 8)  # bits past the last row are 0 too
        for position in range(rows):
            if grid._buf[position * stride + slot]:
                expected[position >> 3] |= 1 << (position & 7)
        assert expected == bits, f"column {column_id!r}"


class IndexedGridMachine(GridMachine):
    """The public machine, plus invariants on taskcore's private emptiness index."""

    @invariant()
    def bit_index_matches_every_cell(self) -> None:
        """Bit ``position`` of a column's bits is set iff the model says the cell is empty."""
        assert_bit_index_exact(self.grid)
        grid = self.grid
        for (row, column), empty in self.empty.items():
            position, slot = grid._position[row], grid._slot_of[column]
            assert empty == bool(grid._empty_bits[slot][position >> 3] >> (position & 7) & 1)

    @invariant()
    def bit_index_survives_a_dump(self) -> None:
        """``Grid.load(dump())`` rebuilds the same bits for every column (slots may move)."""
        loaded = Grid.load(self.grid.dump())
        assert_bit_index_exact(loaded)
        for column in self.columns:
            assert (
                self.grid._empty_bits[self.grid._slot_of[column]]
                == loaded._empty_bits[loaded._slot_of[column]]
            )


TestGrid = IndexedGridMachine.TestCase


def small_grid() -> Grid:
    grid = Grid(["row_1", "row_2", "row_3"], ["col_name", "col_category"])
    grid.set_filled("row_1", "col_name", True)
    return grid


def test_a_new_grid_is_empty_unless_told_filled() -> None:
    assert 6 == small_grid().empty_count + 1
    assert 0 == Grid(["a"], ["b"], filled=True).empty_count


def test_reading_a_grid() -> None:
    grid = small_grid()
    assert ("row_1", "row_2", "row_3") == grid.row_ids
    assert ("col_name", "col_category") == grid.column_ids
    assert (3, 2, 6) == (grid.row_count, grid.column_count, grid.cell_count)
    assert (1, 2) == (grid.row_empty_count("row_1"), grid.row_empty_count("row_2"))
    assert (2, 3) == (grid.column_empty_count("col_name"), grid.column_empty_count("col_category"))


def test_unknown_ids_raise_grid_id_not_found_and_change_nothing() -> None:
    grid = small_grid()
    before = grid.dump()
    with pytest.raises(GridIdNotFound) as row:
        grid.set_filled("row_9", "col_name", True)
    with pytest.raises(GridIdNotFound) as column:
        grid.is_empty("row_1", "col_9")
    with pytest.raises(GridIdNotFound) as cell:
        grid.locate("row_1:col_9")
    with pytest.raises(GridIdNotFound):
        grid.remove_column("col_9")
    with pytest.raises(GridIdNotFound):
        grid.cell_id("row_9", "col_name")
    assert ("row", "row_9") == (row.value.kind, row.value.grid_id)
    assert ("column", "col_9") == (column.value.kind, column.value.grid_id)
    assert {
        "message": "Dataset has no cell with id 'row_1:col_9'",
        "kind": "cell",
        "id": "row_1:col_9",
    } == cell.value.details
    assert (404, GridIdNotFound) == (cell.value.status, CATALOGUE["GRID_ID_NOT_FOUND"])
    assert isinstance(cell.value, LookupError)
    assert before == grid.dump()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda g: g.add_rows(["row_4", "row_4"]), "rowIds"),
        (lambda g: g.add_rows(["row_4", "row_1"]), "rowIds"),
        (lambda g: g.add_rows(["row_4", 5]), "rowIds"),
        (lambda g: g.add_column("col_name"), "columnId"),
    ],
)
def test_repeated_ids_are_refused_and_change_nothing(edit: object, field: str) -> None:
    grid = small_grid()
    before, version = grid.dump(), grid.version
    with pytest.raises(ValidationError) as error:
        edit(grid)  # type: ignore[operator]
    assert field == error.value.field
    assert (before, version) == (grid.dump(), grid.version)


def test_filling_and_emptying_a_cell_updates_every_count() -> None:
    grid = small_grid()
    grid.set_filled("row_2", "col_category", True)
    grid.set_filled("row_2", "col_category", True)
    grid.set_filled("row_1", "col_name", False)
    assert (False, True) == (
        grid.is_empty("row_2", "col_category"),
        grid.is_empty("row_1", "col_name"),
    )
    assert (5, 2, 3) == (
        grid.empty_count,
        grid.column_empty_count("col_category"),
        grid.column_empty_count("col_name"),
    )


def test_cell_edits_are_not_structural_but_row_and_column_edits_are() -> None:
    grid = small_grid()
    version = grid.version
    grid.set_filled("row_2", "col_name", True)
    assert version == grid.version
    grid.add_rows([])
    assert version == grid.version
    grid.add_rows(["row_4"])
    grid.add_column("col_new")
    grid.remove_column("col_new")
    assert version + 3 == grid.version


def test_adding_rows_leaves_existing_cells_and_fills_new_ones_as_told() -> None:
    grid = small_grid()
    before = {(r, c): grid.is_empty(r, c) for r in grid.row_ids for c in grid.column_ids}
    grid.add_rows([f"new_{i}" for i in range(10_000)], filled=True)
    grid.add_rows(["blank"])
    assert before == {cell: grid.is_empty(*cell) for cell in before}
    assert (10_004, 5 + 2) == (grid.row_count, grid.empty_count)
    assert (False, True) == (
        grid.is_empty("new_9999", "col_name"),
        grid.is_empty("blank", "col_name"),
    )


@pytest.mark.parametrize("filled", [False, True])
def test_the_bit_index_stays_exact_across_byte_boundaries(filled: bool) -> None:
    # Rows added in batches that start and end at many offsets within a byte, between
    # columns added (the stride doubles), cells edited, and columns removed until the
    # tombstones are compacted.
    grid = Grid([], ["a", "b"])
    made = 0
    for count in [0, 1, 3, 7, 8, 9, 2, 16, 5, 17, 1, 10_000]:
        grid.add_rows([f"r{made + i}" for i in range(count)], filled=filled)
        made += count
        grid.add_column(f"c{made}", filled=not filled)
        if made:
            grid.set_filled(f"r{made - 1}", "a", filled)
        assert_bit_index_exact(grid)
    stride = grid._stride
    for column in grid.column_ids[:-3]:
        grid.remove_column(column)
    assert grid._stride < stride  # compacted
    assert_bit_index_exact(grid)
    grid.set_filled("r9", grid.column_ids[0], False)
    grid.set_filled("r9", grid.column_ids[0], True)
    grid.set_filled("r10", grid.column_ids[-1], not filled)
    assert_bit_index_exact(grid)
    assert_bit_index_exact(Grid.load(grid.dump()))


def test_adding_and_removing_columns_keeps_order_and_cells() -> None:
    grid = Grid(["r1", "r2"], ["a"])
    grid.set_filled("r2", "a", True)
    for i in range(20):
        grid.add_column(f"c{i}", filled=i % 2 == 0)
    for i in range(0, 20, 3):
        grid.remove_column(f"c{i}")
    expected_columns = ("a", *(f"c{i}" for i in range(20) if i % 3))
    assert expected_columns == grid.column_ids
    assert (True, False) == (grid.is_empty("r1", "a"), grid.is_empty("r2", "a"))
    assert all(grid.is_empty("r1", c) == (int(c[1:]) % 2 == 1) for c in expected_columns[1:])
    assert 1 + 2 * sum(1 for c in expected_columns[1:] if int(c[1:]) % 2) == grid.empty_count


def test_removing_every_column_compacts_the_grid() -> None:
    grid = Grid(["r"], [f"c{i}" for i in range(40)])
    for i in range(40):
        grid.remove_column(f"c{i}")
    grid.add_column("last")
    assert (("last",), 1) == (grid.column_ids, grid.empty_count)
    assert grid._stride < 40  # tombstones were compacted away


def test_default_cell_ids_join_percent_encoded_row_and_column_ids() -> None:
    grid = Grid(["row_1", "a:b", "100%"], ["col_name", "é/x"])
    assert "row_1:col_name" == grid.cell_id("row_1", "col_name")
    assert "a%3Ab:%C3%A9%2Fx" == grid.cell_id("a:b", "é/x")
    assert ("100%", "é/x") == grid.locate(grid.cell_id("100%", "é/x"))


@pytest.mark.parametrize(
    "cell_id", ["row_1", "row%5F1:col_name", "a:b:c", "%FF:col_name", "row_1:col_name:"]
)
def test_only_canonical_default_cell_ids_locate(cell_id: str) -> None:
    assert DefaultCellCodec().locate(cell_id) is None


@given(st.text(), st.text())
def test_default_cell_ids_round_trip(row_id: str, column_id: str) -> None:
    codec = DefaultCellCodec()
    assert (row_id, column_id) == codec.locate(codec.cell_id(row_id, column_id))


def test_default_codecs_are_equal_values() -> None:
    assert DefaultCellCodec() == DefaultCellCodec()
    assert DefaultCellCodec() != CellTable({})
    assert hash(DefaultCellCodec()) == hash(DefaultCellCodec())
    assert "DefaultCellCodec()" == repr(DefaultCellCodec())
    assert isinstance(DefaultCellCodec(), CellCodec)


def test_a_cell_table_names_cells_and_falls_back_for_the_rest() -> None:
    table = CellTable({"cell_1": ("row_1", "col_name")})
    grid = Grid(["row_1"], ["col_name", "col_category"], codec=table)
    assert "cell_1" == grid.cell_id("row_1", "col_name")
    assert "row_1:col_category" == grid.cell_id("row_1", "col_category")
    assert ("row_1", "col_name") == grid.locate("cell_1")
    assert ("row_1", "col_category") == grid.locate("row_1:col_category")
    with pytest.raises(GridIdNotFound):
        grid.locate("row_1:col_name")  # that cell's id is cell_1: one id per cell


def test_a_cell_table_must_be_two_way() -> None:
    with pytest.raises(ValidationError, match="named twice"):
        CellTable({"cell_1": ("r", "c"), "cell_2": ("r", "c")})
    with pytest.raises(ValidationError, match="would also name"):
        CellTable({"r:d": ("r", "c")})
    assert ("r", "c") == CellTable({"r:c": ("r", "c")}).locate("r:c")


def test_dump_is_compact_json_and_loads_back_equal() -> None:
    grid = small_grid()
    grid.add_column("extra", filled=True)
    dumped = json.loads(json.dumps(grid.dump()))
    assert {"format", "rows", "columns", "empty"} == set(dumped)
    loaded = Grid.load(dumped)
    assert grid == loaded
    assert grid.empty_count == loaded.empty_count
    assert grid.column_empty_count("col_name") == loaded.column_empty_count("col_name")
    assert grid != Grid(["row_1"])
    assert grid != "grid"


def test_an_empty_grid_dumps_and_loads() -> None:
    assert Grid() == Grid.load(Grid().dump())
    assert "" == Grid(["r"]).dump()["empty"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"format": 2, "rows": [], "columns": [], "empty": ""}, "format"),
        ({"format": 1, "rows": "r", "columns": [], "empty": ""}, "rows"),
        ({"format": 1, "rows": [], "columns": [1], "empty": ""}, "columns"),
        ({"format": 1, "rows": [], "columns": [], "empty": None}, "empty"),
        ({"format": 1, "rows": ["r"], "columns": ["c"], "empty": "%%"}, "empty"),
        ({"format": 1, "rows": ["r"], "columns": ["c"], "empty": "é"}, "empty"),
        ({"format": 1, "rows": ["r"], "columns": ["c"], "empty": "AAA="}, "empty"),
        ({"format": 1, "rows": ["r"], "columns": ["c"], "empty": "Ag=="}, "empty"),
    ],
)
def test_a_malformed_dump_is_refused(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        Grid.load(data)
    assert field == error.value.field


def test_a_grid_is_mutable_so_unhashable_and_says_its_size() -> None:
    with pytest.raises(TypeError):
        hash(small_grid())
    assert "<Grid 3 rows x 2 columns, 5 empty>" == repr(small_grid())
