"""Row tables: flat, typed rows that a store filters, sorts, counts and pages itself.

The document tables of the store port (:class:`~taskcore.store.Unit`) answer a lookup by
key and a scan of a key range.  A listing with filters, a chosen sort order and pages over
a long history needs more, and must not read and sort every document to answer page 1.
A *row table* is that extension of the port: next to its documents a service keeps one
flat row per record (a few ``str`` or ``int`` columns copied out of the document), and
the store answers

- :meth:`RowsUnit.select`: the keys of the rows that pass a filter, sorted by one column
  (ascending or descending) and then by key, always ascending, one page of them;
- :meth:`RowsUnit.count`: how many rows pass a filter;
- :meth:`RowsUnit.distinct`: the distinct value tuples of some columns over the rows
  that pass a filter.

A filter (a :data:`Where`) maps column names to conditions, all of which must hold:
:class:`Eq` (equal to a value), :class:`In` (one of a set of values) and
:class:`Between` (within inclusive bounds, either of which may be open).

What each store keeps: :class:`~taskcore.store.MemoryStore` a hash index per column and
a sorted list per sortable column; :class:`~taskcore.store.SqliteStore` a real table per
row table (``rows_<name>``, one typed column each, the key as primary key) with an index
``(column, key)`` per sortable column and the extra indexes the table declares.  A
PostgreSQL store implements the same three queries with the same SQL.

Rows are written in the same unit as their document (:meth:`RowsUnit.put_row`,
:meth:`RowsUnit.delete_row`), so they never disagree with it after a commit, and a unit
that raises leaves neither behind.

A row table's declaration is fixed: on SQLite its columns are created once, at the
first write, so a service that needs other columns declares a table with another name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import attrs

from taskcore.store.port import Store, Unit
from taskcore.text import has_lone_surrogate

__all__ = [
    "Between",
    "Condition",
    "Eq",
    "In",
    "RowTable",
    "RowsStore",
    "RowsUnit",
    "Value",
    "Where",
]

Value = str | int
"""What a column holds: text or a whole number (never ``bool``, ``None`` or a float)."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}\Z")


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or "__" in name or name == "key":
        raise ValueError(
            f"a row table's {what} is a lower-case identifier of at most 48 characters "
            f"(letters, digits, single underscores; not 'key'), not {name!r}"
        )
    return name


def check_value(column: str, kind: type[str] | type[int], value: object) -> Value:
    """``value`` if it is a valid value of a ``kind`` column, else ``ValueError``.

    Text must be valid Unicode (no lone surrogates: SQLite and PostgreSQL store UTF-8)
    without NUL (PostgreSQL text cannot hold it, and SQLite's JSON functions cut a string
    at it).
    """
    if type(value) is not kind:
        raise ValueError(f"column {column!r} holds {kind.__name__}, not {value!r}")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"column {column!r} cannot hold NUL")
        if has_lone_surrogate(value):
            raise ValueError(f"column {column!r} cannot hold a lone surrogate")
        return value
    if not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ValueError(f"column {column!r} holds 64-bit integers, not {value!r}")
    return value


@attrs.frozen
class Eq:
    """The column equals ``value``."""

    value: Value


def _frozen(values: Iterable[Value]) -> frozenset[Value]:
    if isinstance(values, str | bytes):
        raise ValueError(f"In takes a collection of values, not the string {values!r}")
    return frozenset(values)


@attrs.frozen
class In:
    """The column equals one of ``values`` (an empty set matches nothing)."""

    values: frozenset[Value] = attrs.field(converter=_frozen)


@attrs.frozen
class Between:
    """``low <= column <= high``; ``None`` leaves that side open."""

    low: Value | None = None
    high: Value | None = None


Condition = Eq | In | Between
Where = Mapping[str, Condition]
"""Column name -> condition; a row passes when every condition holds."""


def _name_validator(_: object, __: object, value: str) -> None:
    _check_name("name", value)


def _columns(
    columns: Mapping[str, type[str] | type[int]],
) -> tuple[tuple[str, type[str] | type[int]], ...]:
    return tuple(dict(columns).items())


def _sortable(columns: Iterable[str]) -> tuple[str, ...]:
    return tuple(columns)


def _indexes(indexes: Iterable[Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(columns) for columns in indexes)


@attrs.frozen
class RowTable:
    """The declaration of a row table.

    Attributes:
        name: a lower-case identifier (SQLite's table is ``rows_<name>``).
        columns: column name -> ``str`` or ``int``; every row has every column.
        sortable: the columns :meth:`RowsUnit.select` may order by (each gets an index).
        indexes: further indexes, as column tuples (say ``("dataset_id",
            "start_time")`` for "the rows of these datasets in this window").

    Raises:
        ValueError: a name that is not an identifier, a column type other than ``str``
            or ``int``, or a sortable or indexed column that is not a column.
    """

    name: str = attrs.field(validator=_name_validator)
    columns: tuple[tuple[str, type[str] | type[int]], ...] = attrs.field(converter=_columns)
    sortable: tuple[str, ...] = attrs.field(default=(), converter=_sortable)
    indexes: tuple[tuple[str, ...], ...] = attrs.field(default=(), converter=_indexes)

    def __attrs_post_init__(self) -> None:
        for column, kind in self.columns:
            _check_name("column", column)
            if kind not in (str, int):
                raise ValueError(f"column {column!r} is str or int, not {kind!r}")
        if not self.columns:
            raise ValueError("a row table has at least one column")
        names = self.column_names
        for column in (*self.sortable, *(c for cols in self.indexes for c in cols)):
            if column not in names:
                raise ValueError(f"{column!r} is not a column of row table {self.name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns, in declaration order."""
        return tuple(column for column, _ in self.columns)

    def row(self, values: Mapping[str, object]) -> tuple[Value, ...]:
        """``values`` as a tuple in column order, each checked.

        Raises:
            ValueError: a column is missing, unknown, or of the wrong type.
        """
        if len(values) != len(self.columns) or not all(c in values for c, _ in self.columns):
            raise ValueError(
                f"a row of {self.name!r} has exactly the columns {list(self.column_names)}, "
                f"not {sorted(values)}"
            )
        return tuple(check_value(c, kind, values[c]) for c, kind in self.columns)

    def check_where(self, where: Where) -> None:
        """Refuse a filter on an unknown column or with a value of the wrong type.

        Raises:
            ValueError: the filter is not valid for this table.
        """
        if not isinstance(where, Mapping):
            raise ValueError(f"a filter maps column names to conditions, not {where!r}")
        kinds = dict(self.columns)
        for column, condition in where.items():
            kind = kinds.get(column)
            if kind is None:
                raise ValueError(f"{column!r} is not a column of row table {self.name!r}")
            given: Iterable[object]
            if isinstance(condition, Eq):
                given = (condition.value,)
            elif isinstance(condition, In):
                given = condition.values
            elif isinstance(condition, Between):
                given = [v for v in (condition.low, condition.high) if v is not None]
            else:
                raise ValueError(f"not a condition: {condition!r}")
            for value in given:
                check_value(column, kind, value)

    def check_columns(self, columns: Iterable[str]) -> None:
        """Refuse a name in ``columns`` that is not a column (for ``distinct``).

        Raises:
            ValueError: a name is not a column of this table.
        """
        for column in columns:
            if column not in self.column_names:
                raise ValueError(f"{column!r} is not a column of row table {self.name!r}")

    def check_order(self, order_by: str | None) -> None:
        """Refuse an ``order_by`` that is not a sortable column (``None`` is by key).

        Raises:
            ValueError: the column is not sortable.
        """
        if order_by is not None and order_by not in self.sortable:
            raise ValueError(f"{order_by!r} is not a sortable column of {self.name!r}")


def check_page(offset: int, limit: int | None) -> None:
    """Refuse an ``offset`` or ``limit`` that is not a whole number in 0..2**63-1.

    Raises:
        ValueError: either is negative, too large or not an int.
    """
    for name, value in (("offset", offset), ("limit", limit)):
        if value is None and name == "limit":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValueError(f"{name} is a whole number in 0..2**63-1, not {value!r}")


@runtime_checkable
class RowsUnit(Unit, Protocol):
    """A unit of a store with row tables (see the module docstring)."""

    def put_row(self, table: RowTable, key: str, row: Mapping[str, Value]) -> None:
        """Set the row at ``key`` (every column of ``table``), replacing any.

        Raises:
            ValueError: a column is missing, unknown or of the wrong type, or text holds
                a lone surrogate; nothing was written.
            RuntimeError: the unit is a read unit.
        """
        ...

    def delete_row(self, table: RowTable, key: str) -> None:
        """Remove the row at ``key``; a missing row does nothing.

        Raises:
            RuntimeError: the unit is a read unit.
        """
        ...

    def select(
        self,
        table: RowTable,
        where: Where,
        *,
        order_by: str | None = None,
        descending: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[str]:
        """The keys of the rows that pass ``where``, ordered by ``order_by`` (descending
        if asked) and then by key ascending, whatever the order (so pages never overlap
        or skip), from ``offset``, at most ``limit``.  ``order_by=None`` orders by key.

        Raises:
            ValueError: an unknown or unsortable column, a value of the wrong type, or a
                negative ``offset``/``limit``; nothing was read.
        """
        ...

    def count(self, table: RowTable, where: Where) -> int:
        """How many rows pass ``where``.

        Raises:
            ValueError: an unknown column or a value of the wrong type.
        """
        ...

    def distinct(
        self, table: RowTable, columns: Sequence[str], where: Where
    ) -> list[tuple[Value, ...]]:
        """The distinct tuples of ``columns`` over the rows that pass ``where``, sorted
        ascending.

        Raises:
            ValueError: an unknown column or a value of the wrong type.
        """
        ...


@runtime_checkable
class RowsStore(Store, Protocol):
    """A store whose units have row tables (:class:`RowsUnit`)."""

    def unit(self, *, readonly: bool = False) -> AbstractContextManager[RowsUnit]:
        """Begin a unit of work (see :meth:`taskcore.store.Store.unit`)."""
        ...
