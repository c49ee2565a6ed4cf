"""A Claro dataset grid: rows, columns, cell ids and which cells are empty.

Claro's bulk tasks (Claro API reference, "Tasks" > "Bulk Processing Logic") target
cells of a dataset by cell id, row id or column id, and by default only the *empty* ones.
:class:`Grid` is the model the selection resolver (:mod:`taskcore.claro.selection`) reads.

Theory of operation:

- Rows are only ever appended (a ``new_rows`` task adds up to 10,000 at once); a row's
  *position* is its index in row order and never changes.  Columns are appended and
  removed; each live column owns a *slot*.
- Emptiness is one flat ``bytearray``, row-major, ``stride`` bytes per row: byte
  ``position * stride + slot`` is 1 when the cell is empty, else 0.  Slots past the last
  live column, and the slots of removed columns (tombstones), are always 0.  One byte per
  cell keeps a 10,000 x 100 grid at 1 MB (a Python set of the empty cells' ``(row,
  column)`` tuples is about 30 times that) and lets the resolver filter and count with
  C-level slicing (``buf[slot::stride]``) and :meth:`bytearray.count`.
- Alongside it, each column slot has a bit-packed emptiness index: a ``bytearray`` of
  ``ceil(rows / 8)`` bytes whose bit ``position`` (little-endian: bit ``position % 8`` of
  byte ``position // 8``) is 1 when the cell is empty.  It is one more bit per cell (1/8
  of the bytes) and kept exactly in sync with the bytes; ``int.from_bytes`` of it, masked
  with the selected rows and popcounted, counts a column's empty selected cells reading
  ``rows / 8`` bytes (the selection resolver's intersection count).  Removed columns'
  slots hold an empty ``bytearray``.
- Empty counts are kept per column slot and for the whole grid, so counting every empty
  cell is O(1) and counting a column's is O(1).
- Costs are proportional to the change: filling or emptying a cell is O(1); adding ``k``
  rows is O(k x columns); adding or removing a column is O(rows), amortised: the stride
  grows by doubling, and tombstones are compacted once they outnumber live columns.
- Every structural edit (rows or columns added or removed) bumps :attr:`Grid.version`,
  so a selection resolved before it can tell it is stale.
- Cell ids are a two-way mapping ``cell id <-> (row id, column id)`` given by a
  :class:`CellCodec`.  :class:`DefaultCellCodec` derives ids from the row and column ids
  (``row_1:col_name``); :class:`CellTable` lets a caller name cells its own way
  (``cell_1``), as the Claro reference's examples do.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, repeat
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import quote, unquote

from taskcore.errors import GridIdNotFound, ValidationError

__all__ = ["CellCodec", "CellTable", "DefaultCellCodec", "Grid"]

_EMPTY = 1
_FILLED = 0
# bytes 0/1 <-> ASCII "0"/"1", for packing the emptiness bitmap with C-level calls.
_TO_ASCII = bytes.maketrans(b"\x00\x01", b"01")
_FROM_ASCII = bytes.maketrans(b"01", b"\x00\x01")
_DUMP_FORMAT = 1


@runtime_checkable
class CellCodec(Protocol):
    """A two-way mapping between cell ids and ``(row id, column id)`` pairs.

    It must be a bijection over the pairs it is asked about: ``locate(cell_id(r, c)) ==
    (r, c)``, and ``locate`` answers ``None`` for a string that is no cell id.  The grid
    checks that the located row and column exist, so a codec need not know the grid.
    """

    def cell_id(self, row_id: str, column_id: str) -> str:
        """Return the id of the cell at ``row_id`` x ``column_id``."""
        ...

    def locate(self, cell_id: str) -> tuple[str, str] | None:
        """Return the ``(row id, column id)`` that ``cell_id`` names, or ``None``."""
        ...


# Characters that quote(..., safe="") leaves alone: an id made only of these needs no
# unquoting, the fast path of DefaultCellCodec.locate (a bulk request may name thousands).
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


class DefaultCellCodec:
    """Cell ids ``<row id>:<column id>``, each part percent-encoded (``row_1:col_name``).

    Percent-encoding (:func:`urllib.parse.quote` with no safe characters) makes any pair
    of strings round-trip, ``:`` included; only the canonical encoding of a pair is
    accepted by :meth:`locate`, so every cell has exactly one id.
    """

    def cell_id(self, row_id: str, column_id: str) -> str:
        """Return ``quote(row_id) + ":" + quote(column_id)``."""
        return f"{quote(row_id, safe='')}:{quote(column_id, safe='')}"

    def locate(self, cell_id: str) -> tuple[str, str] | None:
        """Return the pair ``cell_id`` encodes, or ``None`` when it is not canonical."""
        row_part, sep, column_part = cell_id.partition(":")
        if not sep:
            return None
        if _PLAIN.fullmatch(row_part) and _PLAIN.fullmatch(column_part):
            return row_part, column_part
        try:
            pair = (unquote(row_part, errors="strict"), unquote(column_part, errors="strict"))
        except UnicodeDecodeError:  # percent-escapes that are not UTF-8 name no string
            return None
        if self.cell_id(*pair) != cell_id:
            return None
        return pair

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefaultCellCodec)

    def __hash__(self) -> int:
        return hash(DefaultCellCodec)

    def __repr__(self) -> str:
        return "DefaultCellCodec()"


class CellTable:
    """Caller-chosen cell ids (``cell_1``) for some cells, a fallback codec for the rest.

    Args:
        names: cell id -> ``(row id, column id)``; each pair named at most once.
        fallback: ids of the cells ``names`` does not name (default
            :class:`DefaultCellCodec`).

    Raises:
        ValidationError: two names for one pair, or a name that the fallback would
            read as another cell (the mapping would not be two-way).  No table is made.
    """

    def __init__(
        self,
        names: Mapping[str, tuple[str, str]],
        fallback: CellCodec | None = None,
    ) -> None:
        self.fallback: CellCodec = DefaultCellCodec() if fallback is None else fallback
        by_pair: dict[tuple[str, str], str] = {}
        by_name: dict[str, tuple[str, str]] = {}
        for name, given in names.items():
            pair = (given[0], given[1])
            if pair in by_pair:
                raise ValidationError(
                    f"cell {pair!r} is named twice: {by_pair[pair]!r} and {name!r}",
                    field="cellIds",
                )
            other = self.fallback.locate(name)
            if other is not None and other != pair:
                raise ValidationError(
                    f"cell id {name!r} would also name cell {other!r}", field="cellIds"
                )
            by_pair[pair] = name
            by_name[name] = pair
        self._by_name = by_name
        self._by_pair = by_pair

    @property
    def names(self) -> dict[str, tuple[str, str]]:
        """A copy of the table: cell id -> ``(row id, column id)``."""
        return dict(self._by_name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CellTable):
            return NotImplemented
        return self._by_name == other._by_name and self.fallback == other.fallback

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # compared by content, like a dict

    def __repr__(self) -> str:
        return f"CellTable({len(self._by_name)} names, fallback={self.fallback!r})"

    def cell_id(self, row_id: str, column_id: str) -> str:
        """Return the cell's name, or the fallback's id when it has none."""
        name = self._by_pair.get((row_id, column_id))
        return self.fallback.cell_id(row_id, column_id) if name is None else name

    def locate(self, cell_id: str) -> tuple[str, str] | None:
        """Return the pair named ``cell_id``, else the fallback's unless that pair is named."""
        pair = self._by_name.get(cell_id)
        if pair is not None:
            return pair
        pair = self.fallback.locate(cell_id)
        if pair is None or pair in self._by_pair:
            return None
        return pair


class Grid:
    """A dataset's grid: ordered rows and columns, cell ids, and which cells are empty.

    Mutable, and **not thread-safe on its own**: the service that owns a dataset serialises
    every access to its grid (and a locked dataset takes no edits at all).

    Args:
        row_ids: the rows, in order.
        column_ids: the columns, in order.
        filled: whether the initial cells hold a value (default: all empty).
        codec: the cell-id mapping (default :class:`DefaultCellCodec`).

    Raises:
        ValidationError: a row or column id given twice.  No grid is made.
    """

    def __init__(
        self,
        row_ids: Iterable[str] = (),
        column_ids: Iterable[str] = (),
        *,
        filled: bool = False,
        codec: CellCodec | None = None,
    ) -> None:
        self.codec: CellCodec = DefaultCellCodec() if codec is None else codec
        columns = _unique(column_ids, "columnIds")
        self._stride = max(8, len(columns))
        self._slot_ids: list[str | None] = list(columns)
        self._slot_of: dict[str, int] = {c: s for s, c in enumerate(columns)}
        self._slot_empty: list[int] = [0] * len(columns)
        # Per slot, bit p set iff the cell (p, slot) is empty; b"" for a removed column.
        self._empty_bits: list[bytearray] = [bytearray() for _ in columns]
        self._row_ids: list[str] = []
        self._position: dict[str, int] = {}
        self._buf = bytearray()
        self._row_empty = array("l")  # empty cells per row position
        self._total_empty = 0
        self._version = 0
        self._columns_cache: tuple[str, ...] | None = None
        self._rows_cache: tuple[str, ...] | None = None
        self.add_rows(row_ids, filled=filled)
        self._version = 0

    # --- reading ------------------------------------------------------------------------

    @property
    def row_ids(self) -> tuple[str, ...]:
        """The row ids, in row order."""
        if self._rows_cache is None:
            self._rows_cache = tuple(self._row_ids)
        return self._rows_cache

    @property
    def column_ids(self) -> tuple[str, ...]:
        """The column ids, in column order."""
        if self._columns_cache is None:
            self._columns_cache = tuple(c for c in self._slot_ids if c is not None)
        return self._columns_cache

    @property
    def row_count(self) -> int:
        """How many rows the grid has."""
        return len(self._row_ids)

    @property
    def column_count(self) -> int:
        """How many columns the grid has."""
        return len(self._slot_of)

    @property
    def cell_count(self) -> int:
        """How many cells the grid has (rows x columns)."""
        return len(self._row_ids) * len(self._slot_of)

    @property
    def empty_count(self) -> int:
        """How many cells are empty (O(1))."""
        return self._total_empty

    @property
    def version(self) -> int:
        """Bumped by every structural edit (rows added, columns added or removed)."""
        return self._version

    def has_row(self, row_id: str) -> bool:
        """Return whether ``row_id`` is a row of the grid."""
        return row_id in self._position

    def has_column(self, column_id: str) -> bool:
        """Return whether ``column_id`` is a column of the grid."""
        return column_id in self._slot_of

    def is_empty(self, row_id: str, column_id: str) -> bool:
        """Return whether the cell at ``row_id`` x ``column_id`` is empty (O(1)).

        Raises:
            GridIdNotFound: no such row or column.  Nothing changed.
        """
        return self._buf[self._offset(row_id, column_id)] == _EMPTY

    def row_empty_count(self, row_id: str) -> int:
        """Return how many cells of the row are empty (O(1)).

        Raises:
            GridIdNotFound: no such row.  Nothing changed.
        """
        return self._row_empty[self._position_of(row_id)]

    def column_empty_count(self, column_id: str) -> int:
        """Return how many cells of the column are empty (O(1)).

        Raises:
            GridIdNotFound: no such column.  Nothing changed.
        """
        return self._slot_empty[self._slot(column_id)]

    def cell_id(self, row_id: str, column_id: str) -> str:
        """Return the id of the cell at ``row_id`` x ``column_id``.

        Raises:
            GridIdNotFound: no such row or column.  Nothing changed.
        """
        self._offset(row_id, column_id)
        return self.codec.cell_id(row_id, column_id)

    def locate(self, cell_id: str) -> tuple[str, str]:
        """Return the ``(row id, column id)`` of the cell ``cell_id`` names.

        Raises:
            GridIdNotFound: ``cell_id`` names no cell of this grid (``kind="cell"``).
                Nothing changed.
        """
        pair = self.codec.locate(cell_id)
        if pair is None or pair[0] not in self._position or pair[1] not in self._slot_of:
            raise GridIdNotFound("cell", cell_id)
        return pair

    # --- editing ------------------------------------------------------------------------

    def set_filled(self, row_id: str, column_id: str, filled: bool) -> None:
        """Fill (``filled=True``) or empty a cell.  O(1).

        Raises:
            GridIdNotFound: no such row or column.  Nothing changed.
        """
        offset = self._offset(row_id, column_id)
        new = _FILLED if filled else _EMPTY
        old = self._buf[offset]
        if old == new:
            return
        self._buf[offset] = new
        position, slot = divmod(offset, self._stride)
        self._empty_bits[slot][position >> 3] ^= 1 << (position & 7)  # it changed: flip
        delta = 1 if new == _EMPTY else -1
        self._slot_empty[slot] += delta
        self._row_empty[position] += delta
        self._total_empty += delta

    def add_rows(self, row_ids: Iterable[str], *, filled: bool = False) -> None:
        """Append rows, in the order given.  O(rows added x columns).

        Args:
            row_ids: the new rows' ids.
            filled: whether the new cells hold a value (default: empty, as a new row is).

        Raises:
            ValidationError: an id given twice or already a row (``field="rowIds"``).
                Nothing changed.
        """
        new = _unique(row_ids, "rowIds")
        for row_id in new:
            if row_id in self._position:
                raise ValidationError(f"row {row_id!r} already exists", field="rowIds")
        if not new:
            return
        template = bytearray(self._stride)
        if not filled:
            for slot, column_id in enumerate(self._slot_ids):
                if column_id is not None:
                    template[slot] = _EMPTY
        start = len(self._row_ids)
        self._extend_bits(start, len(new), filled)
        self._row_ids.extend(new)
        self._position.update(zip(new, range(start, start + len(new)), strict=True))
        self._buf.extend(bytes(template) * len(new))
        if not filled:
            for slot in self._slot_of.values():
                self._slot_empty[slot] += len(new)
            self._total_empty += len(new) * len(self._slot_of)
        self._row_empty.extend(repeat(0 if filled else len(self._slot_of), len(new)))
        self._rows_cache = None
        self._version += 1

    def add_column(self, column_id: str, *, filled: bool = False) -> None:
        """Append a column after the last one.  O(rows), amortised.

        Args:
            column_id: the new column's id.
            filled: whether its cells hold a value (default: empty, as a new column is).

        Raises:
            ValidationError: ``column_id`` is already a column (``field="columnId"``).
                Nothing changed.
        """
        if column_id in self._slot_of:
            raise ValidationError(f"column {column_id!r} already exists", field="columnId")
        if len(self._slot_ids) == self._stride:
            self._relayout(2 * self._stride)
        slot = len(self._slot_ids)
        self._slot_ids.append(column_id)
        self._slot_of[column_id] = slot
        rows = len(self._row_ids)
        self._slot_empty.append(0 if filled else rows)
        size = (rows + 7) // 8
        self._empty_bits.append(
            bytearray(size) if filled else bytearray(((1 << rows) - 1).to_bytes(size, "little"))
        )
        if not filled:
            self._buf[slot :: self._stride] = bytes([_EMPTY]) * rows
            self._total_empty += rows
            row_empty = self._row_empty
            for position in range(rows):
                row_empty[position] += 1
        self._columns_cache = None
        self._version += 1

    def remove_column(self, column_id: str) -> None:
        """Remove a column and its cells.  O(rows), amortised.

        Raises:
            GridIdNotFound: no such column.  Nothing changed.
        """
        slot = self._slot(column_id)
        row_empty = self._row_empty
        for position in compress(range(len(self._row_ids)), self._buf[slot :: self._stride]):
            row_empty[position] -= 1
        self._buf[slot :: self._stride] = bytes(len(self._row_ids))
        self._total_empty -= self._slot_empty[slot]
        self._slot_empty[slot] = 0
        self._empty_bits[slot] = bytearray()
        self._slot_ids[slot] = None
        del self._slot_of[column_id]
        # Tombstones cost a byte per row each; compact once they outnumber live columns,
        # so a removal stays O(rows) amortised.
        if len(self._slot_ids) - len(self._slot_of) > max(8, len(self._slot_of)):
            self._relayout(max(8, len(self._slot_of)))
        self._columns_cache = None
        self._version += 1

    # --- persistence --------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Return a compact JSON-able form of the grid, its cell ids included.

        ``empty`` is base64 of a little-endian bitmap: bit ``i`` is the ``i``-th cell in
        row-major order (row order, then column order), 1 when the cell is empty.  A grid
        whose codec is a :class:`CellTable` (over the default fallback) also has
        ``cellNames``: ``{cell id: [row id, column id]}``, so the named cells (the Claro
        reference's ``"cell_1"``) survive a store, a restart and another process.

        Returns:
            ``{"format": 1, "rows": [...], "columns": [...], "empty": "<base64>"}`` and,
            for a named grid, ``"cellNames"``.

        Raises:
            ValidationError: the codec is neither :class:`DefaultCellCodec` nor a
                :class:`CellTable` over it, so it cannot be written down; nothing changed.
        """
        names = _storable_names(self.codec)
        dumped: dict[str, Any] = {
            "format": _DUMP_FORMAT,
            "rows": list(self._row_ids),
            "columns": list(self.column_ids),
            "empty": self._packed_empty(),
        }
        if names is not None:
            dumped["cellNames"] = names
        return dumped

    def _packed_empty(self) -> str:
        """The emptiness bitmap as :meth:`dump` writes it (base64)."""
        columns = self.column_ids
        flags = self._flags(range(len(self._row_ids)), [self._slot_of[c] for c in columns])
        count = len(flags)
        if count:
            bits = int(flags.translate(_TO_ASCII)[::-1], 2)
            packed = bits.to_bytes((count + 7) // 8, "little")
        else:
            packed = b""
        return base64.b64encode(packed).decode("ascii")

    @classmethod
    def load(cls, data: Mapping[str, Any], *, codec: CellCodec | None = None) -> Grid:
        """Rebuild a grid from :meth:`dump`'s output.

        Args:
            data: what :meth:`dump` returned (possibly through JSON).
            codec: the cell-id mapping to use; by default the dump's own (a
                :class:`CellTable` of its ``cellNames``, else :class:`DefaultCellCodec`).

        Returns:
            A new grid equal to the one dumped.

        Raises:
            ValidationError: ``data`` is not a dump of this format.  Nothing is made.
        """
        if data.get("format") != _DUMP_FORMAT:
            raise ValidationError("not a grid dump of format 1", field="format")
        rows, columns, empty = data.get("rows"), data.get("columns"), data.get("empty")
        for name, ids in (("rows", rows), ("columns", columns)):
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValidationError(f"{name} must be a list of strings", field=name)
        assert isinstance(rows, list)  # narrowed above, for mypy
        assert isinstance(columns, list)
        if not isinstance(empty, str):
            raise ValidationError("empty must be a base64 string", field="empty")
        try:
            packed = base64.b64decode(empty.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValidationError("empty is not valid base64", field="empty") from None
        count = len(rows) * len(columns)
        if len(packed) != (count + 7) // 8 or int.from_bytes(packed, "little") >> count:
            raise ValidationError(f"empty must hold exactly {count} bits", field="empty")
        if codec is None:
            codec = _codec_of(data.get("cellNames"))
        grid = cls(rows, columns, filled=True, codec=codec)
        if count:
            ascii_bits = format(int.from_bytes(packed, "little"), f"0{count}b")[::-1]
            flags = ascii_bits.encode("ascii").translate(_FROM_ASCII)
            width = len(columns)
            size = (len(rows) + 7) // 8
            for slot in range(width):
                column = flags[slot::width]
                grid._buf[slot :: grid._stride] = column
                bits = int(column.translate(_TO_ASCII)[::-1], 2)
                grid._empty_bits[slot][:] = bits.to_bytes(size, "little")
                empties = column.count(_EMPTY)
                grid._slot_empty[slot] = empties
                grid._total_empty += empties
            grid._row_empty = array(
                "l", (flags.count(_EMPTY, i, i + width) for i in range(0, count, width))
            )
        return grid

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return (
            self.row_ids == other.row_ids
            and self.column_ids == other.column_ids
            and self._packed_empty() == other._packed_empty()
        )

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable: equal grids may diverge later

    def __repr__(self) -> str:
        return (
            f"<Grid {self.row_count} rows x {self.column_count} columns, {self._total_empty} empty>"
        )

    # --- private interface of the selection resolver -------------------------------------

    def _position_of(self, row_id: str) -> int:
        try:
            return self._position[row_id]
        except KeyError:
            raise GridIdNotFound("row", row_id) from None

    def _slot(self, column_id: str) -> int:
        try:
            return self._slot_of[column_id]
        except KeyError:
            raise GridIdNotFound("column", column_id) from None

    def _offset(self, row_id: str, column_id: str) -> int:
        position = self._position_of(row_id)
        return position * self._stride + self._slot(column_id)

    def _flags(self, positions: Sequence[int], slots: Sequence[int]) -> bytearray:
        """Emptiness of ``positions`` x ``slots``, row-major, one byte (0/1) per cell.

        ``slots`` are distinct and in column order; a list of ``positions`` is not empty.
        Runs at C speed: a slice per row or per slot, never Python code per cell.
        """
        width = len(slots)
        stride, buf = self._stride, self._buf
        dense = width == stride  # distinct slots, as many as the stride: every slot
        if isinstance(positions, range) and positions.step == 1:
            base, stop = positions.start * stride, positions.stop * stride
            if dense:
                return buf[base:stop]
            flags = bytearray(len(positions) * width)
            for j, slot in enumerate(slots):
                flags[j::width] = buf[base + slot : stop : stride]
            return flags
        if dense:
            return bytearray().join([buf[p * stride : p * stride + stride] for p in positions])
        flags = bytearray(len(positions) * width)
        # itemgetter picks the selected rows out of a column slice in one C call.
        pick = operator.itemgetter(*positions)
        one = len(positions) == 1
        for j, slot in enumerate(slots):
            picked = pick(buf[slot::stride])
            flags[j::width] = bytes([picked] if one else picked)
        return flags

    def _extend_bits(self, start: int, count: int, filled: bool) -> None:
        """Grow each live column's bits from ``start`` rows by ``count`` rows, all set or not.

        O(``count`` x columns / 8): only the bytes of the new rows are written (the byte
        holding row ``start`` may already hold older rows' bits, so it is OR-ed).
        ``bytearray.extend`` over-allocates, so growing is amortised O(1) per byte.
        """
        size, first = (start + count + 7) // 8, start >> 3
        grow = bytes(size - (start + 7) // 8)
        run = (
            b"" if filled else (((1 << count) - 1) << (start & 7)).to_bytes(size - first, "little")
        )
        for slot in self._slot_of.values():
            bits = self._empty_bits[slot]
            bits += grow
            if run:
                bits[first] |= run[0]
                bits[first + 1 : size] = run[1:]

    def _relayout(self, stride: int) -> None:
        """Copy the live columns, in order, into a buffer of ``stride`` bytes per row."""
        rows = len(self._row_ids)
        buf = bytearray(rows * stride)
        slot_ids: list[str | None] = []
        slot_empty: list[int] = []
        empty_bits: list[bytearray] = []
        for old_slot, column_id in enumerate(self._slot_ids):
            if column_id is None:
                continue
            new_slot = len(slot_ids)
            buf[new_slot::stride] = self._buf[old_slot :: self._stride]
            slot_ids.append(column_id)
            slot_empty.append(self._slot_empty[old_slot])
            empty_bits.append(self._empty_bits[old_slot])  # bits are per column: moved as is
        self._buf, self._stride = buf, stride
        self._slot_ids, self._slot_empty = slot_ids, slot_empty
        self._empty_bits = empty_bits
        self._slot_of = {c: s for s, c in enumerate(slot_ids) if c is not None}


def _storable_names(codec: CellCodec) -> dict[str, list[str]] | None:
    """A codec as a dump keeps it: ``None`` for the default, the names of a table."""
    if isinstance(codec, DefaultCellCodec):
        return None
    if isinstance(codec, CellTable) and isinstance(codec.fallback, DefaultCellCodec):
        return {name: [row, column] for name, (row, column) in codec.names.items()}
    raise ValidationError(
        f"cannot store a grid whose cell ids come from {type(codec).__name__}: use "
        "DefaultCellCodec or a CellTable over it",
        field="codec",
    )


def _codec_of(names: Any) -> CellCodec:
    """The codec a dump's ``cellNames`` describe."""
    if names is None:
        return DefaultCellCodec()
    if not isinstance(names, dict) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        for pair in names.values()
    ):
        raise ValidationError(
            "cellNames must map cell ids to [row id, column id]", field="cellNames"
        )
    return CellTable({name: (pair[0], pair[1]) for name, pair in names.items()})


def _unique(ids: Iterable[str], field: str) -> list[str]:
    """Return ``ids`` as a list, refusing repeats and non-strings with ValidationError."""
    result = list(ids)
    seen: set[str] = set()
    for item in result:
        if not isinstance(item, str):
            raise ValidationError(f"{field} must hold strings, got {item!r}", field=field)
        if item in seen:
            raise ValidationError(f"{field} names {item!r} twice", field=field)
        seen.add(item)
    return result
