"""The store port: documents in tables, changed only inside a unit of work.

A :class:`Store` hands out :class:`Unit` objects, one transaction each.  Everything a
service does for one call (read the task, decide, write the task, take or release the
dataset's lease) happens inside one unit, so it commits whole or not at all.

The port is deliberately narrow so that a PostgreSQL store can implement it later for
several service replicas (DESIGN.md, "Architecture"):

- one transaction per unit, committed on normal exit, rolled back on an exception;
- time comes from the store (:attr:`Unit.now`), not from each caller, so every decision
  inside a unit (lease expiry above all) is judged with one instant that is read while
  the unit holds the store's write lock;
- values are JSON documents addressed by ``(table, key)``; no queries beyond a sorted
  scan of one table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["Store", "Unit"]


@runtime_checkable
class Unit(Protocol):
    """One transaction on a store.  Valid only inside its ``with store.unit()`` block.

    Values are JSON-able (dicts, lists, str, int, float, bool, None).  A value returned
    by :meth:`get` or :meth:`items` must be treated as read-only, and a value passed to
    :meth:`put` must not be changed afterwards: the in-memory store keeps the very object.
    """

    @property
    def now(self) -> datetime:
        """The store's instant for this unit (UTC), read at most once, while the unit
        holds the store's write lock; every expiry in the unit is judged with it."""
        ...

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)``, or ``None`` when there is none."""
        ...

    def put(self, table: str, key: str, value: Any) -> None:
        """Set the value at ``(table, key)``; visible to others only after commit."""
        ...

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``; deleting a missing key does nothing."""
        ...

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table`` as this unit sees it, sorted by key."""
        ...


@runtime_checkable
class Store(Protocol):
    """Somewhere documents live, changed one unit of work at a time."""

    def unit(self) -> AbstractContextManager[Unit]:
        """Begin a unit of work.

        The unit commits when the ``with`` block ends normally.  When the block raises,
        it rolls back and the error propagates: nothing the unit did is ever visible.
        Units do not nest (a nested unit on the same thread raises ``RuntimeError``).
        """
        ...

    def close(self) -> None:
        """Release the store's resources; the store may not be used afterwards."""
        ...
