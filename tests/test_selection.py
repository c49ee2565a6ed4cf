"""Claro bulk selection: parsing, the Claro reference's examples, and the resolver
against brute force."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore.claro import CellTable, Grid, Resolution, Selection, TargetMode
from taskcore.claro import selection as selection_module
from taskcore.errors import InvalidSelection, ValidationError
from taskcore.testing.selection import brute_force_targets

# --- a small worked grid with the Claro reference's ids ---------------------------------

ROWS = ["row_1", "row_2", "row_3"]
COLUMNS = ["col_product_name", "col_name", "col_category"]
FILLED = {("row_1", "col_name"), ("row_2", "col_category"), ("row_3", "col_product_name")}
SEED_CELLS = {"cell_1": ("row_1", "col_name"), "cell_2": ("row_2", "col_name")}


def seed_grid() -> Grid:
    grid = Grid(ROWS, COLUMNS, codec=CellTable(SEED_CELLS))
    for row, column in FILLED:
        grid.set_filled(row, column, True)
    return grid


def targets(body: Mapping[str, object], grid: Grid | None = None) -> list[tuple[str, str]]:
    resolution = Selection.from_wire(body).resolve(grid or seed_grid())
    cells = list(resolution.cells())
    assert len(cells) == resolution.count
    return cells


POE = "processOnlyEmpty"
FIELDS = "cellIds, rowIds, columnIds, processOnlyEmpty"

# --- every example of "Bulk Processing Logic" ---------------------------------------------


def test_no_ids_target_every_empty_cell_of_the_dataset() -> None:
    expected = [(r, c) for r in ROWS for c in COLUMNS if (r, c) not in FILLED]
    assert expected == targets({})


def test_cell_ids_target_exactly_those_cells() -> None:
    # cell_1 is filled, so processOnlyEmpty (default true) leaves cell_2 only.
    assert [("row_2", "col_name")] == targets({"cellIds": ["cell_1", "cell_2"]})
    assert [("row_1", "col_name"), ("row_2", "col_name")] == targets(
        {"cellIds": ["cell_2", "cell_1"], "processOnlyEmpty": False}
    )


def test_column_ids_target_whole_columns() -> None:
    assert [
        ("row_1", "col_category"),
        ("row_2", "col_name"),
        ("row_3", "col_name"),
        ("row_3", "col_category"),
    ] == targets({"columnIds": ["col_name", "col_category"]})


def test_row_ids_target_whole_rows() -> None:
    assert [
        ("row_1", "col_product_name"),
        ("row_1", "col_category"),
        ("row_2", "col_product_name"),
        ("row_2", "col_name"),
    ] == targets({"rowIds": ["row_1", "row_2"]})


def test_row_and_column_ids_target_their_intersection() -> None:
    assert [("row_1", "col_category"), ("row_2", "col_name")] == targets(
        {"rowIds": ["row_1", "row_2"], "columnIds": ["col_name", "col_category"]}
    )


# --- the three request bodies of "Create Bulk Processing Task" (webhookId stripped) -------


def test_create_example_1_processes_all_empty_cells() -> None:
    assert 6 == Selection.from_wire({"processOnlyEmpty": True}).resolve(seed_grid()).count


def test_create_example_2_processes_specific_cells() -> None:
    assert 1 == Selection.from_wire({"cellIds": ["cell_1", "cell_2"]}).resolve(seed_grid()).count


def test_create_example_3_processes_the_empty_cells_of_an_intersection() -> None:
    body = {
        "rowIds": ["row_1", "row_2"],
        "columnIds": ["col_product_name", "col_category"],
        "processOnlyEmpty": True,
    }
    assert [
        ("row_1", "col_product_name"),
        ("row_1", "col_category"),
        ("row_2", "col_product_name"),
    ] == targets(body)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"cellIds": ["cell_1"], "rowIds": ["row_1"]},
        {"cellIds": ["cell_1"], "columnIds": ["col_name"]},
        {"cellIds": [], "rowIds": [], "columnIds": []},
    ],
)
def test_cell_ids_cannot_be_combined_with_row_ids_or_column_ids(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidSelection) as error:
        Selection.from_wire(body)
    assert {
        "error": "Invalid cell selection",
        "code": "INVALID_SELECTION",
        "details": {
            "message": "Cannot combine cellIds with rowIds or columnIds. Use either cellIds "
            "alone, or rowIds/columnIds, or no IDs to process all empty cells"
        },
    } == error.value.to_wire()
    assert InvalidSelection.COMBINED_MESSAGE == str(error.value)


@pytest.mark.parametrize("field", ["cellIds", "rowIds", "columnIds"])
def test_an_empty_id_array_is_refused_never_widened(field: str) -> None:
    with pytest.raises(InvalidSelection) as error:
        Selection.from_wire({field: []})
    assert (field, ()) == (error.value.field, error.value.unknown_ids)


@pytest.mark.parametrize(
    ("body", "field", "unknown"),
    [
        ({"cellIds": ["cell_9", "cell_1", "cell_8", "cell_9"]}, "cellIds", ("cell_9", "cell_8")),
        ({"rowIds": ["row_1", "row_9"]}, "rowIds", ("row_9",)),
        ({"columnIds": ["col_x", "col_name"]}, "columnIds", ("col_x",)),
        ({"rowIds": ["row_9"], "columnIds": ["col_x"]}, "rowIds", ("row_9",)),
        ({"rowIds": ["row_1"], "columnIds": ["col_x"]}, "columnIds", ("col_x",)),
        ({"cellIds": ["row_1:col_name"]}, "cellIds", ("row_1:col_name",)),
        ({"cellIds": ["row_1:col_x"]}, "cellIds", ("row_1:col_x",)),
    ],
)
def test_unknown_ids_are_refused_naming_them_and_the_grid_is_unchanged(
    body: dict[str, Any], field: str, unknown: tuple[str, ...]
) -> None:
    grid = seed_grid()
    before = grid.dump()
    with pytest.raises(InvalidSelection) as error:
        Selection.from_wire(body).resolve(grid)
    assert (field, unknown) == (error.value.field, error.value.unknown_ids)
    assert {"message", "field", "unknownIds"} == set(error.value.details)
    assert before == grid.dump()


def test_a_long_list_of_unknown_ids_is_shortened_in_the_message_only() -> None:
    ids = [f"nope_{i}" for i in range(12)]
    with pytest.raises(InvalidSelection) as error:
        Selection(row_ids=ids).resolve(seed_grid())
    assert tuple(ids) == error.value.unknown_ids
    assert str(error.value).endswith("nope_9 and 2 more")
    with pytest.raises(InvalidSelection) as by_oracle:
        brute_force_targets(Selection(row_ids=ids), seed_grid())
    assert error.value.to_wire() == by_oracle.value.to_wire()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"cellIds": "cell_1"}, "cellIds", "cellIds must be an array of strings, got string"),
        ({"rowIds": None}, "rowIds", "rowIds must be an array of strings, got null"),
        ({"rowIds": 3}, "rowIds", "rowIds must be an array of strings, got number"),
        ({"rowIds": True}, "rowIds", "rowIds must be an array of strings, got boolean"),
        ({"columnIds": {"a": 1}}, "columnIds", "columnIds must be an array of strings, got object"),
        ({"columnIds": b"ab"}, "columnIds", "columnIds must be an array of strings, got bytes"),
        ({"columnIds": ["a", 2]}, "columnIds", "columnIds[1] must be a string, got int"),
        ({POE: 1}, POE, f"{POE} must be a boolean, got int"),
        ({POE: "true"}, POE, f"{POE} must be a boolean, got str"),
        ({POE: None}, POE, f"{POE} must be a boolean, got NoneType"),
        ({"webhookId": "w"}, "webhookId", f"unknown field 'webhookId'; a selection has {FIELDS}"),
    ],
)  # fmt: skip
def test_wrong_json_types_are_validation_errors(
    body: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        Selection.from_wire(body)
    assert (field, message) == (error.value.field, str(error.value))


def test_a_body_that_is_not_an_object_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as error:
        Selection.from_wire(["cellIds"])  # type: ignore[arg-type]  # the point of the test
    assert error.value.field is None


def test_a_string_is_not_a_list_of_ids_in_python_either() -> None:
    with pytest.raises(ValidationError) as error:
        Selection(row_ids="row_1")
    assert "rowIds" == error.value.field
    with pytest.raises(ValidationError):
        Selection(row_ids=7)  # type: ignore[arg-type]


# --- the value --------------------------------------------------------------------------------


def test_process_only_empty_defaults_to_true() -> None:
    assert Selection.from_wire({}).process_only_empty


def test_duplicates_are_dropped_keeping_first_occurrences() -> None:
    assert ("b", "a") == Selection(row_ids=["b", "a", "b"]).row_ids


def test_to_wire_round_trips() -> None:
    bodies: list[dict[str, object]] = [
        {"processOnlyEmpty": True},
        {"cellIds": ["cell_1"], "processOnlyEmpty": False},
        {"rowIds": ["r"], "columnIds": ["c"], "processOnlyEmpty": True},
    ]
    for body in bodies:
        assert body == Selection.from_wire(body).to_wire()


@pytest.mark.parametrize(
    ("body", "mode"),
    [
        ({}, TargetMode.ALL),
        ({"cellIds": ["x"]}, TargetMode.CELLS),
        ({"columnIds": ["x"]}, TargetMode.COLUMNS),
        ({"rowIds": ["x"]}, TargetMode.ROWS),
        ({"rowIds": ["x"], "columnIds": ["y"]}, TargetMode.INTERSECTION),
    ],
)
def test_each_of_the_five_targeting_modes_is_named(body: dict[str, Any], mode: TargetMode) -> None:
    assert mode == Selection.from_wire(body).mode


def test_zero_target_cells_is_accepted() -> None:
    grid = Grid(["r"], ["c"], filled=True)
    resolution = Selection().resolve(grid)
    assert (0, []) == (resolution.count, list(resolution.cells()))
    assert (0, []) == (Selection().resolve(Grid()).count, list(Selection().resolve(Grid())))


# --- contains, liveness, staleness ----------------------------------------------------------


def test_contains_tells_targets_from_other_cells() -> None:
    grid = seed_grid()
    cells = Selection(cell_ids=["cell_2"]).resolve(grid)
    box = Selection(row_ids=["row_1"], column_ids=["col_category"]).resolve(grid)
    assert (True, False, False) == (
        cells.contains("row_2", "col_name"),
        cells.contains("row_1", "col_name"),
        cells.contains("row_9", "col_name"),
    )
    assert (True, False, False) == (
        box.contains("row_1", "col_category"),
        box.contains("row_2", "col_category"),
        box.contains("row_1", "col_x"),
    )


def test_a_resolution_reads_emptiness_live() -> None:
    grid = seed_grid()
    resolution = Selection(row_ids=["row_1"]).resolve(grid)
    iterator = resolution.cells()
    grid.set_filled("row_1", "col_product_name", True)
    assert ([("row_1", "col_category")], 1) == (list(iterator), resolution.count)
    assert not resolution.contains("row_1", "col_product_name")


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g.add_rows(["row_4"]),
        lambda g: g.add_column("col_new"),
        lambda g: g.remove_column("col_name"),
    ],
)
def test_a_structural_edit_makes_a_resolution_stale(edit: Any) -> None:
    grid = seed_grid()
    resolution = Selection().resolve(grid)
    edit(grid)
    with pytest.raises(RuntimeError, match="resolve it again"):
        _ = resolution.count
    with pytest.raises(RuntimeError):
        resolution.contains("row_1", "col_name")
    with pytest.raises(RuntimeError):
        resolution.cells()


def test_a_resolution_says_what_it_is() -> None:
    resolution = Selection(column_ids=["col_name"]).resolve(seed_grid())
    assert isinstance(resolution, Resolution)
    assert "<Resolution columns of <Grid 3 rows x 3 columns, 6 empty>>" == repr(resolution)


# --- the resolver against brute force -------------------------------------------------------

_ID = st.sampled_from(["a", "b", "c", "d", "e", "f", "g:h", "100%"])


@st.composite
def grids(draw: st.DrawFn) -> Grid:
    rows = draw(st.lists(st.sampled_from([f"r{i}" for i in range(40)]), unique=True, max_size=40))
    columns = draw(st.lists(_ID, unique=True, max_size=8))
    grid = Grid(rows, columns, filled=draw(st.booleans()))
    for row in rows:
        for column in columns:
            if draw(st.integers(0, 3)) == 0:
                grid.set_filled(row, column, not grid.is_empty(row, column))
    # Structural edits leave tombstones and spare stride behind: exercise those layouts.
    for column in draw(st.lists(st.sampled_from(columns), unique=True)) if columns else ():
        if draw(st.booleans()):
            grid.remove_column(column)
    if draw(st.booleans()):
        grid.add_column("late", filled=draw(st.booleans()))
    return grid


@st.composite
def selections(draw: st.DrawFn, grid: Grid) -> Selection:
    """Selections with known ids mostly, duplicates, and sometimes an unknown id."""
    known_rows = [*grid.row_ids, "zz"]
    known_columns = [*grid.column_ids, "zz"]
    cell_ids = [*(grid.cell_id(r, c) for r in grid.row_ids for c in grid.column_ids), "zz:zz"]
    only_empty = draw(st.booleans())
    mode = draw(st.sampled_from(TargetMode))
    if mode is TargetMode.ALL:
        return Selection(process_only_empty=only_empty)
    if mode is TargetMode.CELLS:
        return Selection(
            cell_ids=draw(st.lists(st.sampled_from(cell_ids), min_size=1)),
            process_only_empty=only_empty,
        )
    rows = draw(st.lists(st.sampled_from(known_rows), min_size=1))
    columns = draw(st.lists(st.sampled_from(known_columns), min_size=1))
    return Selection(
        row_ids=rows if mode in (TargetMode.ROWS, TargetMode.INTERSECTION) else None,
        column_ids=columns if mode in (TargetMode.COLUMNS, TargetMode.INTERSECTION) else None,
        process_only_empty=only_empty,
    )


def outcome(selection: Selection, grid: Grid) -> tuple[int, list[tuple[str, str]]] | str:
    """The resolver's count and cells, or the refusal as its wire body."""
    try:
        resolution = selection.resolve(grid)
    except InvalidSelection as error:
        return repr(error.to_wire())
    return resolution.count, list(resolution.cells())


def oracle(selection: Selection, grid: Grid) -> tuple[int, list[tuple[str, str]]] | str:
    try:
        cells = brute_force_targets(selection, grid)
    except InvalidSelection as error:
        return repr(error.to_wire())
    return len(cells), cells


@given(st.data())
def test_the_resolver_equals_brute_force(data: st.DataObject) -> None:
    grid = data.draw(grids())
    selection = data.draw(selections(grid))
    before = grid.dump()
    assert oracle(selection, grid) == outcome(selection, grid)
    assert before == grid.dump()


@given(st.data())
def test_contains_agrees_with_the_targets(data: st.DataObject) -> None:
    grid = data.draw(grids())
    selection = data.draw(selections(grid))
    try:
        resolution = selection.resolve(grid)
    except InvalidSelection:
        return
    expected = set(resolution.cells())
    actual = {(r, c) for r in grid.row_ids for c in grid.column_ids if resolution.contains(r, c)}
    assert expected == actual


@given(st.data())
def test_id_order_and_duplicates_do_not_matter(data: st.DataObject) -> None:
    grid = data.draw(grids())
    selection = data.draw(selections(grid))

    def shuffle(ids: tuple[str, ...] | None) -> list[str] | None:
        return None if ids is None else [*data.draw(st.permutations(ids)), *ids[:1]]

    shuffled = Selection(
        cell_ids=shuffle(selection.cell_ids),
        row_ids=shuffle(selection.row_ids),
        column_ids=shuffle(selection.column_ids),
        process_only_empty=selection.process_only_empty,
    )
    expected, actual = outcome(selection, grid), outcome(shuffled, grid)
    if isinstance(expected, str):  # a refusal lists the unknown ids in request order
        assert isinstance(actual, str)
    else:
        assert expected == actual


@given(st.data())
def test_row_and_column_intersection_commutes(data: st.DataObject) -> None:
    grid = data.draw(grids())
    rows = data.draw(st.lists(st.sampled_from(grid.row_ids), min_size=1)) if grid.row_ids else []
    columns = (
        data.draw(st.lists(st.sampled_from(grid.column_ids), min_size=1)) if grid.column_ids else []
    )
    if not rows or not columns:
        return
    both = Selection(row_ids=rows, column_ids=columns).resolve(grid)
    by_rows = set(Selection(row_ids=rows).resolve(grid).cells())
    by_columns = set(Selection(column_ids=columns).resolve(grid).cells())
    assert by_rows & by_columns == set(both.cells())
    assert by_columns & by_rows == set(both.cells())
    assert len(by_rows & by_columns) == both.count


@given(st.data())
def test_process_only_empty_false_is_a_superset_of_true(data: st.DataObject) -> None:
    grid = data.draw(grids())
    selection = data.draw(selections(grid))
    try:
        only_empty = set(attrs.evolve(selection, process_only_empty=True).resolve(grid))
    except InvalidSelection:
        return
    every = set(attrs.evolve(selection, process_only_empty=False).resolve(grid))
    assert only_empty <= every
    assert {c for c in every if grid.is_empty(*c)} == only_empty


@given(st.data())
def test_a_refused_selection_yields_nothing_and_leaves_the_grid_unchanged(
    data: st.DataObject,
) -> None:
    grid = data.draw(grids())
    field = data.draw(st.sampled_from(["cell_ids", "row_ids", "column_ids"]))
    ids: Any = ["zz", *data.draw(st.lists(st.sampled_from(grid.row_ids or ("r",))))]
    selection = Selection(**{field: ids})
    before, version = grid.dump(), grid.version
    with pytest.raises(InvalidSelection) as error:
        list(selection.resolve(grid).cells())
    assert "zz" in error.value.unknown_ids
    assert (before, version) == (grid.dump(), grid.version)


def test_large_selections_cross_block_boundaries() -> None:
    grid = Grid([f"r{i}" for i in range(9000)], [f"c{j}" for j in range(9)])
    for i in range(0, 9000, 7):
        grid.set_filled(f"r{i}", f"c{i % 9}", True)
    rows = [f"r{i}" for i in range(0, 9000, 2)]
    cells = [grid.cell_id(f"r{i}", f"c{i % 9}") for i in range(0, 9000, 3)] * 30
    for selection in [
        Selection(),
        Selection(row_ids=rows),
        Selection(column_ids=["c8", "c1"]),
        Selection(row_ids=rows, column_ids=["c3", "c4"]),
        Selection(row_ids=rows[:10], column_ids=["c3"]),
        Selection(cell_ids=[grid.cell_id(r, c) for r in grid.row_ids for c in grid.column_ids]),
        Selection(cell_ids=cells, process_only_empty=False),
    ]:
        assert oracle(selection, grid) == outcome(selection, grid)


@pytest.mark.parametrize("gather_cost", [0, 10**9], ids=["gather", "popcount"])
@given(data=st.data())
def test_both_intersection_counts_equal_brute_force(gather_cost: int, data: st.DataObject) -> None:
    # The count picks a method by the sizes; force each one and compare with the oracle.
    grid = data.draw(grids())
    if not grid.row_ids or not grid.column_ids:
        return
    rows = data.draw(st.lists(st.sampled_from(grid.row_ids), min_size=1))
    columns = data.draw(st.lists(st.sampled_from(grid.column_ids), min_size=1))
    selection = Selection(row_ids=rows, column_ids=columns)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(selection_module, "_GATHER_COST", gather_cost)
        assert len(brute_force_targets(selection, grid)) == selection.resolve(grid).count


def test_the_intersection_count_picks_its_method_by_size() -> None:
    grid = Grid([f"r{i}" for i in range(1000)], ["a", "b", "c"])
    grid.set_filled("r7", "b", True)
    gather, mark, mask, popcount = (
        selection_module._GATHER_COST,
        selection_module._MARK_COST,
        selection_module._MASK_COST,
        selection_module._POPCOUNT_COST,
    )
    few = Selection(row_ids=["r7", "r8"], column_ids=["b", "c"])  # gathers 4 bytes
    one = Selection(row_ids=["r7"], column_ids=["a", "b"])  # gathers 2 bytes
    many = Selection(row_ids=grid.row_ids[:900], column_ids=["c", "a", "b"])  # popcounts
    assert gather * 3 * 900 > mark * 900 + (mask + popcount * 3) * 1000  # "many": the bits
    assert gather * 2 * 2 < mark * 2 + (mask + popcount * 2) * 1000  # "few" gathers
    assert (3, 1, 2699) == (
        few.resolve(grid).count,
        one.resolve(grid).count,
        many.resolve(grid).count,
    )
