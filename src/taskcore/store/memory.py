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
import threading
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

from taskcore.clock import Clock, SystemClock
from taskcore.errors import StoreBusy
from taskcore.store.port import ClosesOnExit, RefusesWrites, check_scan_limit

__all__ = ["MemoryStore"]

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
        self._undo: list[tuple[dict[str, Any], str, Any]] = []
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


class _MemoryReadUnit(RefusesWrites, _MemoryUnit):
    """A read unit of a :class:`MemoryStore`: a write unit that refuses to write."""

    __slots__ = ()
