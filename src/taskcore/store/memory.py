"""The in-memory store: documents in dicts, one lock serialising units.

Thread-safe.  A unit holds the store's lock from begin to commit or rollback, so units
are serialised and nobody sees a unit's writes before it commits; each write notes what
it replaced, and a unit that raises puts all of it back, so it leaves nothing behind.
Values are kept as the very objects put (no copy, no JSON round trip): that is what
makes it fast, and why the port asks callers to treat values as read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from taskcore.clock import Clock, SystemClock

__all__ = ["MemoryStore"]

_MISSING: Final = object()
"""Undo-log marker: the key had no value before the unit wrote it."""


class MemoryStore:
    """A :class:`~taskcore.store.Store` in process memory (mutable, thread-safe).

    Args:
        clock: where :attr:`Unit.now <taskcore.store.Unit.now>` comes from.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = SystemClock() if clock is None else clock
        self._tables: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False
        # Units are serialised by the lock, so one unit object serves them all: it is
        # (re)initialised in __enter__, after the lock is taken, and cleared in __exit__.
        self._unit = _MemoryUnit(self)

    def unit(self) -> _MemoryUnit:
        """Begin a unit of work (see :meth:`taskcore.store.Store.unit`).

        Raises:
            RuntimeError: the store is closed, or this thread is already inside one of
                its units; no unit was begun.
        """
        if self._owner == threading.get_ident():
            # Without this check the thread would wait on its own lock forever.
            raise RuntimeError("units do not nest: this thread is already in a unit")
        return self._unit

    def close(self) -> None:
        """Drop every document; later units raise ``RuntimeError``."""
        with self._lock:
            self._closed = True
            self._tables = {}


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

    def __enter__(self) -> _MemoryUnit:
        store = self._store
        store._lock.acquire()
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
        self._undo.append((rows, key, rows.get(key, _MISSING)))
        rows[key] = value

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``, if present (undone if the unit raises)."""
        rows = self._store._tables.get(table)
        if rows is not None:
            old = rows.pop(key, _MISSING)
            if old is not _MISSING:
                self._undo.append((rows, key, old))

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table`` as this unit sees it, sorted by key."""
        return iter(sorted(self._store._tables.get(table, {}).items()))
