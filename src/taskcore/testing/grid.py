"""A Hypothesis state machine for :class:`taskcore.claro.Grid` against a naive model.

The model is a list of rows, a list of columns and a dict ``(row, column) -> empty``.
Every rule edits both; the invariants compare counts, order, emptiness and the dump.
Run it in your own suite with ``TestGrid = GridMachine.TestCase`` (needs hypothesis, the
``testing`` extra).
"""

from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from taskcore.claro.grid import Grid
from taskcore.errors import GridIdNotFound

__all__ = ["GridMachine"]

_IDS = st.text(alphabet="ab:%_", min_size=0, max_size=3)


class GridMachine(RuleBasedStateMachine):
    """Grid edits, step by step, against a dict of cells."""

    def __init__(self) -> None:
        super().__init__()
        self.grid: Grid = Grid()
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.empty: dict[tuple[str, str], bool] = {}
        self.made: int = 0

    def _fresh(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}{self.made}"

    @rule(count=st.integers(0, 4), filled=st.booleans())
    def add_rows(self, count: int, filled: bool) -> None:
        """Append ``count`` rows, all filled or all empty."""
        new = [self._fresh("r:") for _ in range(count)]
        note(f"add_rows({new}, filled={filled})")
        self.grid.add_rows(new, filled=filled)
        self.rows.extend(new)
        for row in new:
            for column in self.columns:
                self.empty[row, column] = not filled

    @rule(filled=st.booleans(), suffix=_IDS)
    def add_column(self, filled: bool, suffix: str) -> None:
        """Append a column whose id may need percent-encoding in cell ids."""
        column = self._fresh("c%") + suffix
        note(f"add_column({column!r}, filled={filled})")
        self.grid.add_column(column, filled=filled)
        self.columns.append(column)
        for row in self.rows:
            self.empty[row, column] = not filled

    @precondition(lambda self: self.columns)
    @rule(data=st.data())
    def remove_column(self, data: st.DataObject) -> None:
        """Remove a column and its cells."""
        column = data.draw(st.sampled_from(self.columns))
        note(f"remove_column({column!r})")
        self.grid.remove_column(column)
        self.columns.remove(column)
        for row in self.rows:
            del self.empty[row, column]

    @precondition(lambda self: self.empty)
    @rule(data=st.data(), filled=st.booleans())
    def set_filled(self, data: st.DataObject, filled: bool) -> None:
        """Fill or empty one cell (possibly to the state it already has)."""
        row, column = data.draw(st.sampled_from(sorted(self.empty)))
        note(f"set_filled({row!r}, {column!r}, {filled})")
        self.grid.set_filled(row, column, filled)
        self.empty[row, column] = not filled

    @rule(data=st.data(), unknown_row=st.booleans(), junk=_IDS)
    def unknown_ids_are_refused_and_change_nothing(
        self, data: st.DataObject, unknown_row: bool, junk: str
    ) -> None:
        """An id the grid lacks raises GridIdNotFound and leaves the grid as it was."""
        unknown_row = unknown_row or not self.columns or not self.rows
        # Fresh ids start with "r:" or "c%": an "x" id is never one of the grid's.
        row = "x" + junk if unknown_row else data.draw(st.sampled_from(self.rows))
        if not unknown_row:
            column = "x" + junk
        else:  # the row is looked up first, so any column does
            column = data.draw(st.sampled_from(self.columns)) if self.columns else "x"
        note(f"set_filled({row!r}, {column!r}, True) must be refused")
        before = self.grid.dump()
        refused: GridIdNotFound | None = None
        try:
            self.grid.set_filled(row, column, True)
        except GridIdNotFound as error:
            refused = error
        assert refused is not None, f"set_filled({row!r}, {column!r}) was accepted"
        assert ("row" if unknown_row else "column") == refused.kind
        assert before == self.grid.dump()

    @invariant()
    def order_and_counts_match(self) -> None:
        """Row and column order and the counts agree with the model."""
        assert tuple(self.rows) == self.grid.row_ids
        assert tuple(self.columns) == self.grid.column_ids
        assert len(self.rows) == self.grid.row_count
        assert len(self.columns) == self.grid.column_count
        assert sum(self.empty.values()) == self.grid.empty_count

    @invariant()
    def emptiness_matches(self) -> None:
        """Every cell, row count and column count agrees with the model."""
        for (row, column), empty in self.empty.items():
            assert empty == self.grid.is_empty(row, column)
        for row in self.rows:
            expected = sum(self.empty[row, c] for c in self.columns)
            assert expected == self.grid.row_empty_count(row)
        for column in self.columns:
            expected = sum(self.empty[r, column] for r in self.rows)
            assert expected == self.grid.column_empty_count(column)

    @invariant()
    def cell_ids_round_trip(self) -> None:
        """Every cell has an id that locates back to it."""
        for row, column in self.empty:
            assert (row, column) == self.grid.locate(self.grid.cell_id(row, column))

    @invariant()
    def dump_round_trips(self) -> None:
        """``Grid.load(grid.dump())`` is an equal grid."""
        assert self.grid == Grid.load(self.grid.dump())
