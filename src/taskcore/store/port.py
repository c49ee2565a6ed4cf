"""The store port: documents in tables, changed only inside a unit of work.

A :class:`Store` hands out :class:`Unit` objects, one transaction each.  Everything a
service does for one call (read the task, decide, write the task, take or release the
dataset's lease) happens inside one unit, so it commits whole or not at all.

The port is deliberately narrow so that a PostgreSQL store can implement it later for
several service replicas (docs/locks.md, "What they rest on"):

- one transaction per unit, committed on normal exit, rolled back on an exception;
- two kinds of unit: a *write unit* (the default) is serialised with every other write
  unit of the store, and its instant (:attr:`Unit.now`) is read while it holds the
  store's write lock; a *read unit* (``store.unit(readonly=True)``) sees one consistent
  snapshot, may not write, and on stores that can (SQLite) neither waits for nor blocks
  a write unit;
- time comes from the store (:attr:`Unit.now`), not from each caller, so every decision
  inside a unit (lease expiry above all) is judged with one instant;
- values are JSON documents addressed by ``(table, key)``, read one key at a time
  (:meth:`Unit.get`) or several at once (:meth:`Unit.get_many`); no queries beyond a sorted
  scan of one table (:meth:`Unit.items`) and a sorted, bounded range scan of its keys
  (:meth:`Unit.scan`);
- a write unit that acts on what a scan returned (pops an expiry index, claims due
  notifications) takes each record with :meth:`Unit.claim` first, which re-reads it
  under its key's lock and passes over what another unit holds or already removed: on
  a store whose write units run at the same time (PostgreSQL) two such units never both
  act on one record;
- a unit that cannot get the store's lock within the store's busy timeout raises
  :class:`~taskcore.errors.StoreBusy` and changes nothing;
- a store is a context manager: ``with SqliteStore(path) as store:`` closes it at the
  end; closing twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

__all__ = ["Store", "Unit", "check_scan_limit"]


@runtime_checkable
class Unit(Protocol):
    """One transaction on a store.  Valid only inside its ``with store.unit()`` block.

    Values are JSON-able (dicts, lists, str, int, float, bool, None).  A value returned
    by :meth:`get`, :meth:`items` or :meth:`scan` must be treated as read-only, and a
    value passed to :meth:`put` must not be changed afterwards: the in-memory store keeps
    the very object.
    """

    @property
    def now(self) -> datetime:
        """The store's instant for this unit (UTC), read at its first use and then fixed
        for the unit; every expiry in the unit is judged with it.

        In a write unit it is read while the unit holds the store's write lock, so the
        instants of write units are in the order of their commits.  A read unit holds no
        write lock: its instant is merely read at first use.
        """
        ...

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)``, or ``None`` when there is none."""
        ...

    def get_many(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The values at several ``(table, key)`` pairs, each ``None`` when there is
        none: what :meth:`get` answers for each, in one round trip on a store across a
        network (PostgreSQL), one lookup after another elsewhere.

        In a write unit each key is taken as :meth:`get` takes it, in the order given
        (a repeated pair once): list keys in the order the service's other code paths
        take them (say a dataset before its lease), so units that take overlapping keys
        wait for each other rather than deadlock.  A later :meth:`get` of one of these
        keys in the unit costs nothing on PostgreSQL.

        Raises:
            StoreBusy: a key stayed locked past the busy timeout (when the error leaves
                the unit, it rolls back).
        """
        ...

    def put(self, table: str, key: str, value: Any) -> None:
        """Set the value at ``(table, key)``; visible to others only after commit.

        Raises:
            RuntimeError: the unit is a read unit (a programming error); nothing changed.
        """
        ...

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``; deleting a missing key does nothing.

        Raises:
            RuntimeError: the unit is a read unit (a programming error); nothing changed.
        """
        ...

    def claim(self, table: str, key: str) -> Any | None:
        """Take ``(table, key)`` for this unit without waiting, and return its value as
        it is now; ``None`` when the key is absent *or another unit holds it*.

        For acting on what :meth:`scan` or :meth:`items` returned: a scan reads without
        locks, so what it found may have been taken or removed since.  A claimed key is
        the unit's to the end, like a key it read with :meth:`get`, and the value
        returned is the newest committed one; a key another unit holds is passed over
        (its holder acts on it), never waited for, so claimers never deadlock.  Stores
        that run one write unit at a time (memory, SQLite) answer as :meth:`get` does.

        Raises:
            RuntimeError: the unit is a read unit (a programming error); nothing changed.
        """
        ...

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table`` as this unit sees it, sorted by key."""
        ...

    def scan(
        self, table: str, *, start: str = "", stop: str | None = None, limit: int | None = None
    ) -> Iterator[tuple[str, Any]]:
        """The ``(key, value)`` pairs of ``table`` with ``start <= key < stop``, in
        ascending key order (code point order, as Python sorts strings), at most
        ``limit`` of them.

        Args:
            table: the table to scan.
            start: the smallest key wanted (inclusive).
            stop: the first key not wanted (exclusive); ``None`` for no upper bound.
            limit: the most pairs to return; ``None`` for all of them.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        ...


@runtime_checkable
class Store(Protocol):
    """Somewhere documents live, changed one unit of work at a time."""

    def unit(self, *, readonly: bool = False) -> AbstractContextManager[Unit]:
        """Begin a unit of work.

        The unit commits when the ``with`` block ends normally.  When the block raises,
        it rolls back and the error propagates: nothing the unit did is ever visible.
        Units do not nest (a nested unit on the same thread raises ``RuntimeError``).

        Args:
            readonly: begin a read unit: one consistent snapshot, no writes.

        Raises:
            RuntimeError: the store is closed, or this thread is already in a unit.
            StoreBusy: the store's lock stayed busy past its busy timeout, when the unit
                began, at one of its statements or at its commit; the unit was rolled
                back and nothing changed.
        """
        ...

    def close(self) -> None:
        """Release the store's resources; later units raise ``RuntimeError``.  Closing a
        closed store does nothing."""
        ...

    def __enter__(self) -> Self:
        """Return the store itself, to be closed when the ``with`` block ends."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store (see :meth:`close`)."""
        ...


def check_scan_limit(limit: int | None) -> None:
    """Refuse a :meth:`Unit.scan` limit that is not ``None`` or a whole number >= 0.

    Raises:
        ValueError: ``limit`` is negative or not an int.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"a scan limit is a whole number >= 0 or None, not {limit!r}")


class ClosesOnExit:
    """Mixin for stores: ``with Store(...) as store:`` closes the store when the block
    ends (the class provides ``close``)."""

    __slots__ = ()

    def close(self) -> None:  # pragma: no cover - every store defines its own
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Return the store itself, to be closed when the ``with`` block ends."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()


class RefusesWrites:
    """Mixin for read units: ``put`` and ``delete`` raise ``RuntimeError`` (a read unit
    never writes; nothing changed).  List it before the unit class it refines."""

    __slots__ = ()

    def put(self, table: str, key: str, value: Any) -> None:
        """Refuse: a read unit does not write.

        Raises:
            RuntimeError: always; nothing changed.
        """
        raise RuntimeError(f"a read-only unit cannot put ({table!r}, {key!r})")

    def delete(self, table: str, key: str) -> None:
        """Refuse: a read unit does not write.

        Raises:
            RuntimeError: always; nothing changed.
        """
        raise RuntimeError(f"a read-only unit cannot delete ({table!r}, {key!r})")

    def claim(self, table: str, key: str) -> Any | None:
        """Refuse: a read unit takes nothing.

        Raises:
            RuntimeError: always; nothing changed.
        """
        raise RuntimeError(f"a read-only unit cannot claim ({table!r}, {key!r})")

    def put_row(self, table: Any, key: str, row: Any) -> None:
        """Refuse: a read unit does not write rows.

        Raises:
            RuntimeError: always; nothing changed.
        """
        raise RuntimeError(f"a read-only unit cannot put a row of {table.name!r}")

    def delete_row(self, table: Any, key: str) -> None:
        """Refuse: a read unit does not delete rows.

        Raises:
            RuntimeError: always; nothing changed.
        """
        raise RuntimeError(f"a read-only unit cannot delete a row of {table.name!r}")
