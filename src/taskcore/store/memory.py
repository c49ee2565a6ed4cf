"""The in-memory store: documents in dicts, one lock serialising units.

Thread-safe.  A unit holds the store's lock from begin to commit or rollback, so units
are serialised and nobody sees a unit's writes before it commits; each write notes what
it replaced, and a unit that raises puts all of it back, so it leaves nothing behind.
Read units (``store.unit(readonly=True)``) take the same lock: here a reader does wait
for a writer, which costs nothing measurable in one process.  Values are kept as the
very objects put (no copy, no JSON round trip): that is what makes it fast, and why the
port asks callers to treat values as read-only.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from datetime import datetime
from operator import itemgetter
from types import TracebackType
from typing import Any, Final, Self

from taskcore.clock import Clock, SystemClock
from taskcore.errors import StoreBusy
from taskcore.store.port import ClosesOnExit, RefusesWrites, check_scan_limit
from taskcore.store.rows import Between, Condition, Eq, In, RowTable, Value, Where, check_page

__all__ = ["MemoryStore"]

_NO_KEYS: Final[set[str]] = set()
"""The keys of a value no row holds (never changed)."""
_MISSING: Final = object()
"""Undo-log marker: the key had no value before the unit wrote it."""


class MemoryStore(ClosesOnExit):
    """A :class:`~taskcore.store.Store` in process memory (mutable, thread-safe).

    A context manager: ``with MemoryStore() as store:`` closes it at the end.

    Args:
        clock: where :attr:`Unit.now <taskcore.store.Unit.now>` comes from.
        busy_timeout: seconds a unit waits for the store's lock before it raises
            :class:`~taskcore.errors.StoreBusy`; ``None`` (the default) waits for ever.

    Raises:
        ValueError: ``busy_timeout`` is negative.
    """

    def __init__(self, clock: Clock | None = None, *, busy_timeout: float | None = None) -> None:
        if busy_timeout is not None and busy_timeout < 0:
            raise ValueError("busy_timeout must be >= 0 seconds, or None to wait for ever")
        self.clock: Clock = SystemClock() if clock is None else clock
        self.busy_timeout = busy_timeout
        self._timeout = -1.0 if busy_timeout is None else busy_timeout
        self._tables: dict[str, dict[str, Any]] = {}
        # Sorted keys of the tables that were scanned, kept in step by put and delete.
        self._sorted: dict[str, list[str]] = {}
        self._rows: dict[str, _MemoryRows] = {}
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False
        # Units are serialised by the lock, so one unit object of each kind serves them
        # all: it is (re)initialised in __enter__, after the lock is taken, and cleared in
        # __exit__.
        self._unit = _MemoryUnit(self)
        self._read_unit = _MemoryReadUnit(self)

    def unit(self, *, readonly: bool = False) -> _MemoryUnit:
        """Begin a unit of work (see :meth:`taskcore.store.Store.unit`).

        Args:
            readonly: begin a read unit, whose ``put`` and ``delete`` raise
                ``RuntimeError``.  It takes the same lock as a write unit.

        Raises:
            RuntimeError: the store is closed, or this thread is already inside one of
                its units; no unit was begun.
            StoreBusy: (on entering) the lock stayed busy for ``busy_timeout`` seconds;
                no unit was begun.
        """
        if self._owner == threading.get_ident():
            # Without this check the thread would wait on its own lock forever.
            raise RuntimeError("units do not nest: this thread is already in a unit")
        return self._read_unit if readonly else self._unit

    def close(self) -> None:
        """Drop every document; later units raise ``RuntimeError``.  Idempotent."""
        with self._lock:
            self._closed = True
            self._tables = {}
            self._sorted = {}
            self._rows = {}


class _MemoryUnit:
    """The unit of a :class:`MemoryStore`, and its own context manager.

    Writes go straight into the store's tables, each first noting the value it replaces
    in an undo log: nobody else can look while the unit holds the store's lock, commit
    just forgets the log, and rollback replays it backwards.  (Lean on purpose: the lock
    manager's hot path runs two units per acquire + release; docs/locks.md, "Cost".)
    """

    __slots__ = ("_now", "_store", "_undo")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        # (where, key, old value): ``where`` is a document table (a dict), a row table, or
        # the store's dict of row tables (a table created by the unit).
        self._undo: list[tuple[dict[str, Any] | _MemoryRows, str, Any]] = []
        self._now: datetime | None = None

    def __enter__(self) -> Self:
        store = self._store
        if not store._lock.acquire(True, store._timeout):
            raise StoreBusy(
                f"The store's lock stayed busy for {store.busy_timeout:g} seconds",
                retry_after_seconds=1,
            )
        if store._closed:
            store._lock.release()
            raise RuntimeError("the store is closed")
        store._owner = threading.get_ident()
        self._now = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        undo = self._undo
        if undo:
            if exc_type is not None:
                for rows, key, old in reversed(undo):
                    if old is _MISSING:
                        rows.pop(key, None)
                    else:
                        rows[key] = old
                self._store._sorted.clear()  # rebuilt by the next scan that needs one
            undo.clear()
        store = self._store
        for rows in store._rows.values():
            rows.memo = None  # a memo serves one unit only
        store._owner = None
        store._lock.release()

    @property
    def now(self) -> datetime:
        """The store clock's instant, read on first use and then fixed for the unit."""
        now = self._now
        if now is None:
            now = self._now = self._store.clock.now()
        return now

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)`` as this unit sees it, or ``None``."""
        rows = self._store._tables.get(table)
        return None if rows is None else rows.get(key)

    def get_many(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The values at the ``(table, key)`` pairs, ``None`` for a missing one (see
        :meth:`taskcore.store.Unit.get_many`): here, one :meth:`get` after another."""
        return {(table, key): self.get(table, key) for table, key in items}

    def claim(self, table: str, key: str) -> Any | None:
        """The value at ``(table, key)``, or ``None`` (see
        :meth:`taskcore.store.Unit.claim`): write units run one at a time here, so no
        other unit can hold the key and this is :meth:`get`."""
        return self.get(table, key)

    def put(self, table: str, key: str, value: Any) -> None:
        """Set ``(table, key)`` to ``value`` (undone if the unit raises)."""
        rows = self._store._tables.get(table)
        if rows is None:
            rows = self._store._tables[table] = {}
        old = rows.get(key, _MISSING)
        self._undo.append((rows, key, old))
        rows[key] = value
        if old is _MISSING:
            ordered = self._store._sorted.get(table)
            if ordered is not None:
                bisect.insort(ordered, key)

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``, if present (undone if the unit raises)."""
        rows = self._store._tables.get(table)
        if rows is not None:
            old = rows.pop(key, _MISSING)
            if old is not _MISSING:
                self._undo.append((rows, key, old))
                ordered = self._store._sorted.get(table)
                if ordered is not None:
                    del ordered[bisect.bisect_left(ordered, key)]

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table`` as this unit sees it, sorted by key."""
        return iter(sorted(self._store._tables.get(table, {}).items()))

    def scan(
        self, table: str, *, start: str = "", stop: str | None = None, limit: int | None = None
    ) -> Iterator[tuple[str, Any]]:
        """The pairs with ``start <= key < stop``, ascending, at most ``limit`` (see
        :meth:`taskcore.store.Unit.scan`).

        Cost: the first scan of a table sorts its keys, O(n log n); from then on the
        store keeps that table's keys sorted (a put of a new key or a delete costs one
        binary search and a C-level list insert or removal), so a scan is two binary
        searches and a slice, O(log n + limit), whatever the table's size.  Tables that
        are never scanned pay nothing.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        check_scan_limit(limit)
        store = self._store
        rows = store._tables.get(table)
        if not rows or limit == 0:
            return iter(())
        ordered = store._sorted.get(table)
        if ordered is None:
            ordered = store._sorted[table] = sorted(rows)
        low = bisect.bisect_left(ordered, start)
        high = len(ordered) if stop is None else bisect.bisect_left(ordered, stop, low)
        if limit is not None:
            high = min(high, low + limit)
        return iter([(key, rows[key]) for key in ordered[low:high]])

    # -- row tables (taskcore.store.rows) --------------------------------------------

    def _row_table(self, table: RowTable, *, create: bool = False) -> _MemoryRows:
        """The store's rows of ``table``; for a table never written, a new one that a
        write (``create``) keeps, undone if the unit raises, and a read forgets.

        Raises:
            ValueError: the store holds rows of a table of that name declared otherwise.
        """
        tables = self._store._rows
        rows = tables.get(table.name)
        if rows is None:
            rows = _MemoryRows(table)
            if create:
                self._undo.append((tables, table.name, _MISSING))
                tables[table.name] = rows
        elif rows.table != table:
            raise ValueError(f"row table {table.name!r} was declared otherwise before")
        return rows

    def put_row(self, table: RowTable, key: str, row: Mapping[str, Value]) -> None:
        """Set the row at ``key`` (see :meth:`taskcore.store.rows.RowsUnit.put_row`).

        Cost: a hash-set update per changed column and, per changed sortable column, a
        binary search and a C-level list insert and removal.
        """
        values = table.row(row)
        rows = self._row_table(table, create=True)
        self._undo.append((rows, key, rows.rows.get(key, _MISSING)))
        rows[key] = values

    def delete_row(self, table: RowTable, key: str) -> None:
        """Remove the row at ``key``, if any (see
        :meth:`taskcore.store.rows.RowsUnit.delete_row`)."""
        rows = self._row_table(table)
        old = rows.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append((rows, key, old))

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
        """One page of the matching keys in order (see
        :meth:`taskcore.store.rows.RowsUnit.select`).

        Cost: the matching rows are found from the smallest hash-index candidate set;
        a page is then either sorted out of few matches, or walked off the column's
        sorted list, which stops once the page is full.

        Raises:
            ValueError: a bad column, value, ``offset`` or ``limit``; nothing was read.
        """
        table.check_where(where)
        table.check_order(order_by)
        check_page(offset, limit)
        return self._row_table(table).select(where, order_by, descending, offset, limit)

    def count(self, table: RowTable, where: Where) -> int:
        """How many rows pass ``where`` (see :meth:`taskcore.store.rows.RowsUnit.count`).

        Raises:
            ValueError: a bad column or value; nothing was read.
        """
        table.check_where(where)
        found = self._row_table(table).matching(where)
        return len(found) if isinstance(found, Sized) else sum(1 for _ in found)

    def distinct(
        self, table: RowTable, columns: Sequence[str], where: Where
    ) -> list[tuple[Value, ...]]:
        """The distinct tuples of ``columns``, sorted (see
        :meth:`taskcore.store.rows.RowsUnit.distinct`).

        Raises:
            ValueError: a bad column or value; nothing was read.
        """
        table.check_where(where)
        table.check_columns(columns)
        return self._row_table(table).distinct(columns, where)


class _MemoryReadUnit(RefusesWrites, _MemoryUnit):
    """A read unit of a :class:`MemoryStore`: a write unit that refuses to write."""

    __slots__ = ()


class _MemoryRows:
    """One row table of a :class:`MemoryStore`: the rows, a hash index per column
    (value -> keys) and, per sortable column, the ``(value, key)`` pairs kept sorted
    (built by the first select that needs it, so a bulk load pays one sort).

    Writes maintain all of them; ``__setitem__`` and ``pop`` are what the unit's undo log
    replays, so a rolled-back unit leaves the indexes as they were.
    """

    __slots__ = ("by_value", "memo", "ordered", "rows", "table")

    def __init__(self, table: RowTable) -> None:
        self.table = table
        self.rows: dict[str, tuple[Value, ...]] = {}
        self.memo: tuple[frozenset[tuple[str, Condition]], set[str] | Iterable[str]] | None = None
        self.by_value: list[dict[Value, set[str]]] = [{} for _ in table.columns]
        names = table.column_names
        # Built by the first select that walks it, then kept in step by every write.
        self.ordered: dict[int, list[tuple[Value, str]] | None] = {
            names.index(column): None for column in table.sortable
        }

    def __setitem__(self, key: str, row: tuple[Value, ...]) -> None:
        self.memo = None
        old = self.rows.get(key)
        self.rows[key] = row
        for i, value in enumerate(row):
            if old is not None:
                if old[i] == value:
                    continue
                self._unindex(i, old[i], key)
            self.by_value[i].setdefault(value, set()).add(key)
            ordered = self.ordered.get(i)
            if ordered is not None:
                bisect.insort(ordered, (value, key))

    def pop(self, key: str, default: Any = None) -> Any:
        self.memo = None
        old = self.rows.pop(key, None)
        if old is None:
            return default
        for i, value in enumerate(old):
            self._unindex(i, value, key)
        return old

    def _unindex(self, i: int, value: Value, key: str) -> None:
        keys = self.by_value[i][value]
        keys.discard(key)
        if not keys:
            del self.by_value[i][value]
        ordered = self.ordered.get(i)
        if ordered is not None:
            del ordered[bisect.bisect_left(ordered, (value, key))]

    def _sorted(self, i: int) -> list[tuple[Value, str]]:
        """The ``(value, key)`` pairs of sortable column ``i``, sorted (built once)."""
        ordered = self.ordered[i]
        if ordered is None:
            ordered = self.ordered[i] = sorted((row[i], k) for k, row in self.rows.items())
        return ordered

    def _span(self, i: int, condition: Between) -> tuple[list[tuple[Value, str]], int, int]:
        """Where a range condition on sortable column ``i`` lies in its sorted list."""
        ordered = self._sorted(i)
        low = 0 if condition.low is None else bisect.bisect_left(ordered, (condition.low,))
        if condition.high is None:
            return ordered, low, len(ordered)
        high = bisect.bisect_right(ordered, condition.high, low, key=_value)
        return ordered, low, high

    def matching(self, where: Where) -> set[str] | Iterable[str]:
        """The keys of the rows that pass ``where`` (unordered; not to be changed).

        The last answer is kept until the next write or the end of the unit, so a page
        and its count (two calls with one filter in one unit) look once.
        """
        memo = frozenset(where.items())
        if self.memo is not None and self.memo[0] == memo:
            return self.memo[1]
        found = self._matching(where)
        self.memo = (memo, found)
        return found

    def _matching(self, where: Where) -> set[str] | Iterable[str]:
        """The keys of the rows that pass ``where`` (unordered).

        Each condition is a set of keys the indexes give at C speed: an ``Eq`` the hash
        index's set, an ``In`` the union of its values' sets, a ``Between`` on a sortable
        column a slice of its sorted list.  The smallest is the start and the others are
        intersected with it; a range on a column that is not sortable is checked row by
        row.
        """
        names = self.table.column_names
        sized: list[tuple[int, int, Condition]] = []  # (estimated size, column, condition)
        checked: list[tuple[int, Between]] = []
        for column, condition in where.items():
            i = names.index(column)
            index = self.by_value[i]
            if isinstance(condition, Eq):
                sized.append((len(index.get(condition.value, ())), i, condition))
            elif isinstance(condition, In):
                size = sum(len(index.get(v, ())) for v in condition.values)
                sized.append((size, i, condition))
            elif i in self.ordered:
                _, low, high = self._span(i, condition)
                sized.append((high - low, i, condition))
            else:
                checked.append((i, condition))
        rows = self.rows
        if not sized:
            found: set[str] | Iterable[str] = rows
        else:
            sized.sort(key=lambda s: s[0])
            found = self._keys(sized[0][1], sized[0][2])
            for size, i, condition in sized[1:]:
                if not found:
                    break
                if isinstance(condition, In) and size > 2 * len(found):
                    # Cheaper to look at the few rows than to gather the many keys.
                    values = condition.values
                    found = {k for k in found if rows[k][i] in values}
                else:
                    found = self._keys(i, condition).intersection(found)
        if not checked:
            return found
        return [
            k
            for k in found
            if all(
                (c.low is None or c.low <= rows[k][i])  # type: ignore[operator]
                and (c.high is None or rows[k][i] <= c.high)  # type: ignore[operator]
                for i, c in checked
            )
        ]

    def _keys(self, i: int, condition: Condition) -> set[str]:
        """The keys whose column ``i`` meets ``condition`` (``Between``: sortable only)."""
        index = self.by_value[i]
        if isinstance(condition, Eq):
            return index.get(condition.value, _NO_KEYS)
        if isinstance(condition, In):
            return set().union(*(index.get(v, _NO_KEYS) for v in condition.values))
        assert isinstance(condition, Between)
        ordered, low, high = self._span(i, condition)
        return {k for _, k in ordered[low:high]}

    def select(
        self, where: Where, order_by: str | None, descending: bool, offset: int, limit: int | None
    ) -> list[str]:
        """See :meth:`taskcore.store.rows.RowsUnit.select`.

        A page near the start of many matches is walked off the column's sorted list,
        stopping once it is full; otherwise (few matches, a deep page) the matches are
        sorted outright.
        """
        found = self.matching(where)
        stop = None if limit is None else offset + limit
        if order_by is None or isinstance(where.get(order_by), Eq):
            # By key alone (one value in the sort column: only the key tie-break is left).
            keys = found if isinstance(found, Sized) else list(found)
            if stop is not None and stop * 8 < len(keys):
                return heapq.nsmallest(stop, keys)[offset:]
            return sorted(keys)[offset:stop]
        column = self.table.column_names.index(order_by)
        rows = self.rows
        matched = len(found) if isinstance(found, Sized) else None
        if matched is None or stop is None or matched <= 64 or stop * len(rows) > 4 * matched**2:
            by_key = sorted(found)
            by_key.sort(key=lambda k: rows[k][column], reverse=descending)
            return by_key[offset:stop]
        wanted = found if isinstance(found, set | dict) else set(found)
        page: list[str] = []
        skip = offset
        for key in _walk(self._sorted(column), descending):
            if key in wanted:
                if skip:
                    skip -= 1
                    continue
                page.append(key)
                if len(page) == limit:
                    break
        return page

    def distinct(self, columns: Sequence[str], where: Where) -> list[tuple[Value, ...]]:
        """See :meth:`taskcore.store.rows.RowsUnit.distinct`."""
        names = self.table.column_names
        if not columns:
            return []
        pick = itemgetter(*(names.index(c) for c in columns))
        values = set(map(pick, map(self.rows.__getitem__, self.matching(where))))
        if len(columns) == 1:
            return sorted((value,) for value in values)
        return sorted(values)


def _value(pair: tuple[Value, str]) -> Value:
    return pair[0]


def _walk(ordered: list[tuple[Value, str]], descending: bool) -> Iterator[str]:
    """The keys of a sorted ``(value, key)`` list by value (descending if asked), each
    run of equal values by key ascending."""
    if not descending:
        for _, key in ordered:
            yield key
        return
    end = len(ordered)
    while end:
        value = ordered[end - 1][0]
        start = bisect.bisect_left(ordered, (value, ""), 0, end)
        for _, key in ordered[start:end]:
            yield key
        end = start
