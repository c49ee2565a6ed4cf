"""Claro bulk cell selection: parse it, check it, resolve it against a dataset grid.

Claro API reference, "Tasks" > "Create Bulk Processing Task" and "Bulk Processing
Logic", with taskcore's decisions (docs/selection.md):

- Five targeting modes (:class:`TargetMode`): no ids = every cell of the dataset;
  ``cellIds`` = exactly those cells; ``columnIds`` = whole columns; ``rowIds`` = whole
  rows; ``rowIds`` and ``columnIds`` = their intersection.
- The ids give the scope, then ``processOnlyEmpty`` (default true) filters it, in every
  mode: ``{}`` is "every empty cell".
- ``cellIds`` with ``rowIds`` or ``columnIds`` is ``INVALID_SELECTION`` with the Claro reference's
  exact message.  An empty array, or an id the dataset does not have, is
  ``INVALID_SELECTION`` naming the field and the ids: an explicit selection is never
  widened to the whole dataset.  For the same reason a JSON ``null`` is not "absent" but
  a ``VALIDATION_ERROR``, like any wrong JSON type.
- Duplicates are ignored, and the order of ids never matters: targets come in dataset
  order (row order, then column order).  Zero targets is a valid selection.

:meth:`Selection.resolve` checks the ids against a :class:`~taskcore.claro.grid.Grid` and
returns a :class:`Resolution`: ``count`` without building the cells, ``cells()`` lazily,
``contains()`` in O(1).  The brute-force oracle it is tested against is
:func:`taskcore.testing.selection.brute_force_targets`.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from itertools import chain, compress, product
from typing import Any

import attrs

from taskcore.claro.grid import Grid
from taskcore.errors import InvalidSelection, ValidationError

__all__ = ["Resolution", "Selection", "TargetMode"]

CELL_IDS, ROW_IDS, COLUMN_IDS, PROCESS_ONLY_EMPTY = (
    "cellIds",
    "rowIds",
    "columnIds",
    "processOnlyEmpty",
)
_WIRE_FIELDS = (CELL_IDS, ROW_IDS, COLUMN_IDS, PROCESS_ONLY_EMPTY)
# Error messages list at most this many ids; the error's unknown_ids holds them all.
_IDS_IN_MESSAGE = 10
# cells() computes emptiness a block of about this many cells at a time.
_BLOCK_CELLS = 1 << 16
# Relative costs of the two ways to count an intersection (measured on CPython 3.11, in
# units of about 0.1 ns): gathering one selected cell's byte through an itemgetter over a
# strided memoryview of its column, against the bit-packed way: marking a selected row in
# the row mask, building the mask (per grid row), and popcounting a column's emptiness
# bits (per grid row per selected column).  Only the choice of method depends on them,
# never the result.
_GATHER_COST, _MARK_COST, _MASK_COST, _POPCOUNT_COST = 160, 160, 12, 1
_ONE = ord("1")  # a selected row in the ASCII row mask


class TargetMode(StrEnum):
    """Which of the Claro reference's five "Target Selection Options" a selection uses."""

    ALL = "all"
    CELLS = "cells"
    COLUMNS = "columns"
    ROWS = "rows"
    INTERSECTION = "intersection"


def _ids(field: str, value: Iterable[str] | None) -> tuple[str, ...] | None:
    """Check one id field and drop repeats, keeping first occurrences in order."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{field} must be an array of strings, got {type(value).__name__}", field=field
        )
    ids = tuple(value)
    for index, item in enumerate(ids):
        if not isinstance(item, str):
            raise ValidationError(
                f"{field}[{index}] must be a string, got {type(item).__name__}", field=field
            )
    return tuple(dict.fromkeys(ids))


def _cell_ids(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return _ids(CELL_IDS, value)


def _row_ids(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return _ids(ROW_IDS, value)


def _column_ids(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return _ids(COLUMN_IDS, value)


def _check_flag(_: object, __: attrs.Attribute[bool], value: object) -> None:
    # bool is a subclass of int, but 1 is not a bool: JSON's true only.
    if type(value) is not bool:
        raise ValidationError(
            f"{PROCESS_ONLY_EMPTY} must be a boolean, got {type(value).__name__}",
            field=PROCESS_ONLY_EMPTY,
        )


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_IDS_IN_MESSAGE])
    more = len(ids) - _IDS_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


@attrs.frozen
class Selection:
    """The cells a Claro bulk task targets, as the request states them.

    Build it from the request body with :meth:`from_wire`, or directly.  Id fields are
    ``None`` when absent; repeats are dropped (first occurrences kept, in order).

    Attributes:
        cell_ids: ``cellIds``, or ``None``.
        row_ids: ``rowIds``, or ``None``.
        column_ids: ``columnIds``, or ``None``.
        process_only_empty: ``processOnlyEmpty`` (default true).

    Raises:
        ValidationError: an id field that is not an iterable of strings, or a
            ``process_only_empty`` that is not a bool (``field`` names it).
        InvalidSelection: ``cell_ids`` with ``row_ids`` or ``column_ids`` (the Claro reference's
            message, :attr:`InvalidSelection.COMBINED_MESSAGE`), or an empty id field.
    """

    cell_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_cell_ids)
    row_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_row_ids)
    column_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_column_ids)
    process_only_empty: bool = attrs.field(default=True, validator=_check_flag)

    def __attrs_post_init__(self) -> None:
        if self.cell_ids is not None and (self.row_ids is not None or self.column_ids is not None):
            raise InvalidSelection(InvalidSelection.COMBINED_MESSAGE)
        for field, ids in self._id_fields():
            if ids is not None and not ids:
                raise InvalidSelection(
                    f"{field} must not be empty: omit it to select the whole dataset",
                    field=field,
                )

    def _id_fields(self) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
        return (
            (CELL_IDS, self.cell_ids),
            (ROW_IDS, self.row_ids),
            (COLUMN_IDS, self.column_ids),
        )

    @classmethod
    def from_wire(cls, body: Mapping[str, object]) -> Selection:
        """Parse the selection keys of a bulk request body.

        Only ``cellIds``, ``rowIds``, ``columnIds`` and ``processOnlyEmpty`` are accepted:
        the caller removes the request's other keys (``webhookId``) first.

        Args:
            body: the decoded JSON object.

        Returns:
            The selection.

        Raises:
            ValidationError: ``body`` is not an object, has another key, an id field is
                not an array of strings (``null`` included), or ``processOnlyEmpty`` is
                not a boolean; ``field`` names the key.
            InvalidSelection: ``cellIds`` combined with ``rowIds``/``columnIds``, or an
                empty array.
        """
        if not isinstance(body, Mapping):
            raise ValidationError(f"the selection must be a JSON object, got {type(body).__name__}")
        for key in body:
            if key not in _WIRE_FIELDS:
                raise ValidationError(
                    f"unknown field {key!r}; a selection has {', '.join(_WIRE_FIELDS)}",
                    field=str(key),
                )
        values: dict[str, Any] = {}
        for key, name in ((CELL_IDS, "cell_ids"), (ROW_IDS, "row_ids"), (COLUMN_IDS, "column_ids")):
            if key in body:
                value = body[key]
                # JSON arrays only: null is not "absent" (it would widen the selection).
                if not isinstance(value, list | tuple):
                    raise ValidationError(
                        f"{key} must be an array of strings, got {_json_type(value)}",
                        field=key,
                    )
                values[name] = value
        if PROCESS_ONLY_EMPTY in body:
            values["process_only_empty"] = body[PROCESS_ONLY_EMPTY]
        return cls(**values)

    def to_wire(self) -> dict[str, Any]:
        """Return the request-body form: the present id fields and ``processOnlyEmpty``."""
        body: dict[str, Any] = {}
        for field, ids in self._id_fields():
            if ids is not None:
                body[field] = list(ids)
        body[PROCESS_ONLY_EMPTY] = self.process_only_empty
        return body

    @property
    def mode(self) -> TargetMode:
        """Which targeting mode the selection uses."""
        if self.cell_ids is not None:
            return TargetMode.CELLS
        if self.row_ids is not None and self.column_ids is not None:
            return TargetMode.INTERSECTION
        if self.row_ids is not None:
            return TargetMode.ROWS
        if self.column_ids is not None:
            return TargetMode.COLUMNS
        return TargetMode.ALL

    def resolve(self, grid: Grid) -> Resolution:
        """Check the ids against ``grid`` and return the selection's targets there.

        Args:
            grid: the dataset's grid.

        Returns:
            A :class:`Resolution` bound to the grid's current structure.

        Raises:
            InvalidSelection: an id the grid does not have; ``field`` names the field
                (``rowIds`` is checked before ``columnIds``) and ``unknown_ids`` lists
                that field's unknown ids in request order.  The grid is unchanged.
        """
        return Resolution(self, grid)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


# A block of a cellIds selection: its cells (in offset order), and a reader that returns
# their emptiness flags from the grid buffer given the block's first offset.
_CellBlock = tuple[list[tuple[str, str]], Callable[[bytearray, int], tuple[bool, ...]], int]


def _cell_block(cells: list[tuple[str, str]], offsets: list[int], start: int) -> _CellBlock:
    """The block of ``cells`` (sorted by their buffer ``offsets``) from index ``start``.

    Its reader is a :class:`struct.Struct` whose format skips the bytes between the
    block's cells (``x`` pads) and reads each cell's byte as a bool (``?``, runs of
    adjacent cells as one ``n?``): one C call gathers the whole block's flags.
    """
    stop = start + _BLOCK_CELLS
    block_offsets = offsets[start:stop]
    base = previous = block_offsets[0]
    parts = ["<"]
    run = 1
    for offset in block_offsets[1:]:
        if offset == previous + 1:
            run += 1
        else:
            parts.append(f"{run}?{offset - previous - 1}x")
            run = 1
        previous = offset
    parts.append(f"{run}?")
    return cells[start:stop], struct.Struct("".join(parts)).unpack_from, base


def _refuse_unknown(field: str, unknown: list[str]) -> None:
    if unknown:
        raise InvalidSelection(
            f"Unknown {field} in this dataset: {_listed(unknown)}",
            field=field,
            unknown_ids=unknown,
        )


class Resolution:
    """A selection resolved against a grid: how many targets, which, and a membership test.

    The scope (which rows, columns or cells) is fixed when the selection is resolved;
    emptiness is read from the grid when asked, so ``count``, ``cells()`` and
    ``contains()`` always describe the grid as it is *now*.  A structural edit of the grid
    (rows added, columns added or removed) makes the resolution stale: resolve again.
    (A dataset is locked while a task runs, so its structure cannot change under one.)

    Attributes:
        selection: what was resolved.
        grid: the grid it was resolved against.
        mode: the selection's targeting mode.
    """

    __slots__ = (
        "_cell_blocks",
        "_cell_offsets",
        "_cells",
        "_column_ids",
        "_offset_set",
        "_positions",
        "_row_set",
        "_slot_set",
        "_slots",
        "_version",
        "grid",
        "mode",
        "selection",
    )

    def __init__(self, selection: Selection, grid: Grid) -> None:
        self.selection: Selection = selection
        self.grid: Grid = grid
        self.mode: TargetMode = selection.mode
        self._version = grid.version
        self._cells: list[tuple[str, str]] = []
        self._cell_offsets: list[int] = []
        self._cell_blocks: list[_CellBlock] = []
        self._offset_set: frozenset[int] = frozenset()
        self._row_set: frozenset[int] | None = None
        self._slot_set: frozenset[int] | None = None
        positions: Sequence[int] = range(grid.row_count)
        columns: Sequence[str] = grid.column_ids
        if selection.cell_ids is not None:
            located: list[tuple[int, tuple[str, str]]] = []
            unknown: list[str] = []
            for cell_id in selection.cell_ids:
                pair = grid.codec.locate(cell_id)
                if pair is None or not grid.has_row(pair[0]) or not grid.has_column(pair[1]):
                    unknown.append(cell_id)
                else:
                    located.append((grid._offset(*pair), pair))
            _refuse_unknown(CELL_IDS, unknown)
            # Two ids for one cell (a CellTable name and its fallback id cannot both
            # locate, but a custom codec might) are one target.
            by_offset = dict(sorted(located))
            self._cell_offsets = list(by_offset)
            self._cells = list(by_offset.values())
            self._offset_set = frozenset(by_offset)
            self._cell_blocks = [
                _cell_block(self._cells, self._cell_offsets, i)
                for i in range(0, len(by_offset), _BLOCK_CELLS)
            ]
            positions, columns = [], []
        if selection.row_ids is not None:
            known = grid._position
            try:  # one C-level pass when every id is known, the common case
                positions = sorted(map(known.__getitem__, selection.row_ids))
            except KeyError:
                positions = []
            if len(positions) != len(selection.row_ids):
                _refuse_unknown(ROW_IDS, [r for r in selection.row_ids if r not in known])
        if selection.column_ids is not None:
            slot_of = grid._slot_of
            try:
                columns = sorted(selection.column_ids, key=slot_of.__getitem__)
            except KeyError:
                columns = []
            if len(columns) != len(selection.column_ids):
                _refuse_unknown(COLUMN_IDS, [c for c in selection.column_ids if c not in slot_of])
        self._positions = positions
        self._column_ids = columns
        self._slots = [grid._slot_of[c] for c in columns]

    def _check_fresh(self) -> None:
        if self.grid.version != self._version:
            raise RuntimeError(
                "the grid's rows or columns changed after this selection was resolved; "
                "resolve it again"
            )

    @property
    def count(self) -> int:
        """How many cells are targets (the task's ``targetCells``), without listing them.

        O(1) for ``{}`` and ``columnIds``, O(selected rows) for ``rowIds``, O(selected
        cells) for ``cellIds`` (one C call per block of cells), and for an intersection
        O(min(selected rows x selected columns, selected rows + rows + selected columns
        x rows / 8 bytes)): a gather of the selected rows' bytes per column when few rows
        are selected, else a mask of the selected rows built once and, per column, a
        popcount of the grid's bit-packed emptiness under it (the cheaper by the sizes).

        Raises:
            RuntimeError: the grid's structure changed since resolution.
        """
        self._check_fresh()
        grid = self.grid
        only_empty = self.selection.process_only_empty
        if self.mode is TargetMode.CELLS:
            if not only_empty:
                return len(self._cell_offsets)
            buf = grid._buf
            return sum(sum(unpack(buf, base)) for _, unpack, base in self._cell_blocks)
        rows, columns = len(self._positions), len(self._slots)
        if not only_empty:
            return rows * columns
        if self.mode is TargetMode.ALL:
            return grid.empty_count
        if self.mode is TargetMode.COLUMNS:
            return sum(grid._slot_empty[s] for s in self._slots)
        if self.mode is TargetMode.ROWS:
            return sum(map(grid._row_empty.__getitem__, self._positions))
        return self._intersection_count()

    def _intersection_count(self) -> int:
        # Two exact methods, both at C speed; the cheaper one for these sizes is used.
        grid = self.grid
        buf, stride, positions = grid._buf, grid._stride, self._positions
        selected, columns = len(positions), len(self._slots)
        rows = grid.row_count
        if _GATHER_COST * columns * selected < (
            _MARK_COST * selected + (_MASK_COST + _POPCOUNT_COST * columns) * rows
        ):
            # Few rows: per selected column, one itemgetter built once picks the selected
            # rows' bytes out of a strided view of the column (no copy); sum the 0/1s.
            pick = operator.itemgetter(*positions)
            with memoryview(buf) as view:
                if selected == 1:
                    return sum(view[positions[0] * stride + slot] for slot in self._slots)
                return sum(sum(pick(view[slot::stride])) for slot in self._slots)
        # Many rows: the selected rows as one int mask (ASCII "0"/"1" per row, highest row
        # first, parsed in one C call), then per selected column its bit-packed emptiness
        # (rows / 8 bytes) masked and popcounted.  A plain loop marks the rows: on CPython
        # 3.11 it beats map(mask.__setitem__, ...) through a deque by 2x.
        mask = bytearray(b"0") * rows
        for position in positions:
            mask[position] = _ONE
        mask.reverse()
        row_mask = int(mask, 2)
        bits = grid._empty_bits
        return sum(
            (int.from_bytes(bits[slot], "little") & row_mask).bit_count() for slot in self._slots
        )

    def cells(self) -> Iterator[tuple[str, str]]:
        """Yield the target cells as ``(row id, column id)``, in dataset order.

        Dataset order is row-major: grid row order, then grid column order, whatever the
        order of the request's ids.  Lazy: emptiness is read a block of rows (for
        ``cellIds``, of cells) at a time as the iterator reaches it, so a cell filled
        before its block is reached is skipped.  Each block costs a few C calls: for
        ``cellIds`` one precompiled :class:`struct.Struct` gathers the block's flags and
        ``compress`` keeps its empty cells; otherwise ``product`` and ``compress``.

        Raises:
            RuntimeError: the grid's structure changed since resolution (raised when
                ``cells()`` is called, or when the iterator reaches the next block).
        """
        self._check_fresh()
        if self.mode is TargetMode.CELLS:
            return chain.from_iterable(map(self._cell_targets, self._cell_blocks))
        if not self._slots:
            return iter(())
        step = max(1, _BLOCK_CELLS // len(self._slots))
        return chain.from_iterable(map(self._row_block(step), range(0, len(self._positions), step)))

    def _cell_targets(self, block: _CellBlock) -> Iterator[tuple[str, str]]:
        # Called by chain.from_iterable when the iterator reaches the block: one C call
        # reads the block's emptiness, compress keeps its empty cells, both at C speed.
        self._check_fresh()
        cells, unpack, base = block
        if not self.selection.process_only_empty:
            return iter(cells)
        return compress(cells, unpack(self.grid._buf, base))

    def _row_block(self, step: int) -> Callable[[int], Iterator[tuple[str, str]]]:
        grid, positions, columns = self.grid, self._positions, self._column_ids
        row_ids = grid._row_ids
        only_empty = self.selection.process_only_empty

        def block(start: int) -> Iterator[tuple[str, str]]:
            self._check_fresh()
            chunk = positions[start : start + step]
            pairs = product([row_ids[p] for p in chunk], columns)
            if not only_empty:
                return pairs
            return compress(pairs, grid._flags(chunk, self._slots))

        return block

    def contains(self, row_id: str, column_id: str) -> bool:
        """Return whether the cell at ``row_id`` x ``column_id`` is a target now.  O(1).

        A row or column the grid does not have holds no target: the answer is ``False``.

        Raises:
            RuntimeError: the grid's structure changed since resolution.
        """
        self._check_fresh()
        grid = self.grid
        position = grid._position.get(row_id)
        slot = grid._slot_of.get(column_id)
        if position is None or slot is None:
            return False
        offset = position * grid._stride + slot
        if self.mode is TargetMode.CELLS:
            in_scope = offset in self._offset_set
        else:
            if self._row_set is None:  # built on first use: count and cells() need none
                self._row_set = frozenset(self._positions)
                self._slot_set = frozenset(self._slots)
            assert self._slot_set is not None
            in_scope = position in self._row_set and slot in self._slot_set
        return in_scope and (not self.selection.process_only_empty or grid._buf[offset] == 1)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Same as :meth:`cells`."""
        return self.cells()

    def __repr__(self) -> str:
        return f"<Resolution {self.mode.value} of {self.grid!r}>"
