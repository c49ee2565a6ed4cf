"""The SQLite store: documents in one table of one database file, shared by processes.

Built on the standard library's :mod:`sqlite3`:

- one ``documents(tbl, key, value)`` table, ``value`` a JSON text, its primary key
  ``(tbl, key)`` the index behind every lookup and every range scan;
- WAL journal, so a reader neither waits for a writer nor blocks one;
- each write unit is one ``BEGIN IMMEDIATE`` transaction: it takes the database's write
  lock when it begins, so write units of every thread and every process on the file are
  serialised and the unit's instant (:attr:`Unit.now <taskcore.store.Unit.now>`) is read
  while no other write unit can commit;
- each read unit (``store.unit(readonly=True)``) is a deferred transaction that reads at
  once, so it holds one snapshot of the database from its start to its end and takes no
  write lock;
- a unit that cannot get a lock waits up to ``busy_timeout`` seconds, then raises
  :class:`~taskcore.errors.StoreBusy` (whether at ``BEGIN``, at a statement or at
  ``COMMIT``); the unit is rolled back and nothing changed.  Other SQLite errors (a full
  disk, a corrupt file) propagate as :class:`sqlite3.Error` after the same rollback;
- connections come from a small pool: a unit checks one out and returns it when it ends,
  and at most ``max_idle_connections`` idle ones are kept open, so threads that come and
  go do not pile up connections and file descriptors.  The pool belongs to one process:
  a forked child starts with an empty pool and never uses (or closes) its parent's
  connections.  Do not fork inside a unit.

Durability: ``synchronous=NORMAL`` by default, which in WAL mode survives any process
crash but may lose the last commits on a power cut or OS crash; pass
``synchronous="FULL"`` to pay an fsync per commit instead (docs/locks.md).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from taskcore.clock import Clock, SystemClock
from taskcore.errors import StoreBusy
from taskcore.store.port import ClosesOnExit, RefusesWrites, check_scan_limit
from taskcore.store.rows import Between, Eq, In, RowTable, Value, Where, check_page

__all__ = ["SqliteStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents ("
    "tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (tbl, key)) WITHOUT ROWID"
)
_FIRST_READ = "SELECT 1 FROM documents LIMIT 1"
"""What a read unit runs right after ``BEGIN``: it starts the read transaction, and so
fixes the unit's snapshot, at once."""
_SCAN = "SELECT key, value FROM documents WHERE tbl = ? AND key >= ? ORDER BY key LIMIT ?"
_SCAN_TO = (
    "SELECT key, value FROM documents WHERE tbl = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"
)
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_SQL_TYPES = {str: "TEXT", int: "INTEGER"}

_STORES: weakref.WeakSet[SqliteStore] = weakref.WeakSet()
"""Every open store of this process, so that a forked child can empty their pools."""


def _forget_parent_connections() -> None:  # pragma: no cover - coverage stays in the parent
    """In a freshly forked child (one thread): give every store an empty pool.

    The parent's connections are kept referenced, never used and never closed: closing
    one would run SQLite's close (unlock, maybe checkpoint) on the parent's file state.
    """
    for store in list(_STORES):
        store._inherited.extend(store._open)
        store._start_pool()


os.register_at_fork(after_in_child=_forget_parent_connections)


class SqliteStore(ClosesOnExit):
    """A :class:`~taskcore.store.Store` in a SQLite file (mutable, thread- and
    process-safe).  A context manager: ``with SqliteStore(path) as store:`` closes it at
    the end.

    Args:
        path: the database file, created when missing.
        clock: where :attr:`Unit.now <taskcore.store.Unit.now>` comes from.  Processes
            sharing a file must share a clock too (docs/locks.md, "What is not promised").
        busy_timeout: seconds a unit waits for a lock before it raises
            :class:`~taskcore.errors.StoreBusy`.  Its ``retry_after_seconds`` is this
            timeout rounded up to whole seconds, at least 1: the lock was busy for that
            long, so a retry any sooner would likely meet it again.
        synchronous: SQLite's ``synchronous`` setting, ``"NORMAL"`` or ``"FULL"``.
        max_idle_connections: connections kept open between units (0 opens one per
            unit).  As many connections as threads in a unit at once are open at most.

    Raises:
        ValueError: a negative ``busy_timeout`` or ``max_idle_connections``, or an
            unknown ``synchronous``.
        StoreBusy: another connection held the database exclusively for
            ``busy_timeout`` seconds while the store set it up.
    """

    _factory: type[sqlite3.Connection] = sqlite3.Connection
    """The connection class (a subclass lets tests make statements fail on purpose)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        busy_timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        max_idle_connections: int = 4,
    ) -> None:
        if busy_timeout < 0:
            raise ValueError("busy_timeout must be >= 0 seconds")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        if max_idle_connections < 0:
            raise ValueError("max_idle_connections must be >= 0")
        self.path: Path = Path(path)
        self.clock: Clock = SystemClock() if clock is None else clock
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.max_idle_connections = max_idle_connections
        self.retry_after_seconds: int = max(1, math.ceil(busy_timeout))
        self._closed = False
        # Row tables known to exist in the file (created by a committed unit, or seen).
        self._row_tables: dict[str, RowTable] = {}
        self._inherited: list[sqlite3.Connection] = []
        self._start_pool()
        _STORES.add(self)
        # Create the file, its WAL mode (a property of the file, kept from now on) and its
        # schema now, so that errors show at once.
        connection = self._connect()
        deadline = time.monotonic() + busy_timeout
        pause = 0.001
        while True:
            try:
                # Switching to WAL does not wait on SQLite's busy handler: another
                # connection setting the file up at the same instant makes it fail at
                # once, so it is retried here until the busy timeout is spent.
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute(_SCHEMA)
                break
            except sqlite3.OperationalError as error:
                busy = (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES
                if busy and time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.1)
                    continue
                self._discard(connection)
                self._busy(error)
                raise  # pragma: no cover - a file that is not a database, a read-only disk
        self._give_back(connection, reusable=True)

    # --- the pool ---------------------------------------------------------------------

    def _start_pool(self) -> None:
        """Begin with an empty pool: at construction, and in a forked child, where the
        parent's connections (and the guard, perhaps held at the fork) are left alone."""
        self._guard = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open: set[sqlite3.Connection] = set()
        self._in_unit: set[int] = set()

    def _connect(self) -> sqlite3.Connection:
        """Open a connection for the pool (counted in ``_open``), set up for units.

        Raises:
            StoreBusy: another connection held the file exclusively for ``busy_timeout``.
        """
        # isolation_level=None: we issue BEGIN / COMMIT / ROLLBACK ourselves.
        # check_same_thread=False: a pooled connection serves one thread at a time, but
        # not always the same one.
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            factory=self._factory,
        )
        with self._guard:
            self._open.add(connection)
        try:
            # Even this pragma reads the schema, so it needs a shared lock.
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        except sqlite3.OperationalError as error:
            self._discard(connection)
            self._busy(error)
            raise  # pragma: no cover - the file went away or stopped being a database
        return connection

    def _check_out(self) -> sqlite3.Connection:
        """Take an idle connection (or open one) for this thread's unit.

        Raises:
            RuntimeError: the store is closed, or this thread is already in a unit.
            StoreBusy: a new connection could not be set up in ``busy_timeout``.
        """
        me = threading.get_ident()
        with self._guard:
            if self._closed:
                raise RuntimeError("the store is closed")
            if me in self._in_unit:
                raise RuntimeError("units do not nest: this thread is already in a unit")
            self._in_unit.add(me)
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            try:
                connection = self._connect()
            except BaseException:
                with self._guard:
                    self._in_unit.discard(me)
                raise
        return connection

    def _give_back(self, connection: sqlite3.Connection, *, reusable: bool) -> None:
        """End this thread's unit: keep ``connection`` idle if there is room, else close."""
        with self._guard:
            self._in_unit.discard(threading.get_ident())
            keep = (
                reusable
                and not self._closed
                and connection in self._open
                and len(self._idle) < self.max_idle_connections
            )
            if keep:
                self._idle.append(connection)
        if not keep:
            self._discard(connection)

    def _discard(self, connection: sqlite3.Connection) -> None:
        """Close ``connection`` and forget it."""
        with self._guard:
            self._open.discard(connection)
        connection.close()

    def _busy(self, error: sqlite3.OperationalError) -> None:
        """Raise :class:`StoreBusy` from ``error`` when it says a lock stayed busy."""
        if (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES:
            raise StoreBusy(
                f"The database is busy ({error}): another unit held its lock for "
                f"{self.busy_timeout:g} seconds",
                retry_after_seconds=self.retry_after_seconds,
            ) from error

    # --- units ------------------------------------------------------------------------

    @contextmanager
    def unit(self, *, readonly: bool = False) -> Iterator[_SqliteUnit]:
        """Begin a unit of work: ``BEGIN IMMEDIATE``, or for a read unit ``BEGIN`` and a
        first read (see the module's docstring).

        Args:
            readonly: begin a read unit: one snapshot, no write lock, no writes.

        Raises:
            RuntimeError: the store is closed, or this thread is already inside one of
                its units; no unit was begun.
            StoreBusy: a lock stayed busy for ``busy_timeout`` seconds when the unit
                began, at one of its statements or at its commit; the unit was rolled
                back and nothing changed.
        """
        connection = self._check_out()
        reusable = True
        unit: _SqliteUnit | None = None
        try:
            try:
                if readonly:
                    connection.execute("BEGIN")
                    connection.execute(_FIRST_READ).fetchone()
                    unit = _SqliteReadUnit(connection, self)
                else:
                    connection.execute("BEGIN IMMEDIATE")
                    unit = _SqliteUnit(connection, self)
            except sqlite3.OperationalError as error:
                reusable = _rolled_back(connection)
                self._busy(error)
                raise
            try:
                yield unit
            except BaseException:
                reusable = _rolled_back(connection)
                raise
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                reusable = _rolled_back(connection)
                if isinstance(error, sqlite3.OperationalError):
                    self._busy(error)
                raise
            for table in unit._created:
                self._row_tables[table.name] = table
        finally:
            if unit is not None:
                unit._connection = _ENDED
                unit._values = {}
            self._give_back(connection, reusable=reusable)

    def close(self) -> None:
        """Close the idle connections now, and each connection in use when its unit
        ends; later units raise ``RuntimeError``.  Closing again does nothing."""
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)
        _STORES.discard(self)


def _rolled_back(connection: sqlite3.Connection) -> bool:
    """Roll back ``connection``'s transaction, if any; whether it may be used again."""
    if not connection.in_transaction:
        return True
    try:
        connection.execute("ROLLBACK")
    except sqlite3.Error:  # pragma: no cover - the connection is broken: close it
        return False
    return True


class _Ended:
    """Stands in for the connection of a unit that has ended."""

    def execute(self, sql: str, parameters: Any = (), /) -> NoReturn:
        raise RuntimeError("this unit of work has ended; begin a new one")


_ENDED: Any = _Ended()


_UNKNOWN: Any = object()
"""Marks a key a unit has not read or written yet."""


class _SqliteUnit:
    """One write transaction (``BEGIN IMMEDIATE``) of a :class:`SqliteStore`.

    A key it has read or written is answered from the unit's own copy afterwards: a
    write unit holds the database's write lock, and a read unit reads one snapshot, so
    nothing else can change what it read.
    """

    __slots__ = ("_connection", "_created", "_now", "_store", "_values")

    def __init__(self, connection: sqlite3.Connection, store: SqliteStore) -> None:
        self._connection = connection
        self._store = store
        self._now: datetime | None = None
        self._created: list[RowTable] = []  # row tables this unit created
        self._values: dict[tuple[str, str], Any] = {}

    @property
    def now(self) -> datetime:
        """The store clock's instant, read on first use and then fixed for the unit (in
        a write unit the write lock is already held then)."""
        now = self._now
        if now is None:
            now = self._now = self._store.clock.now()
        return now

    def _execute(self, sql: str, parameters: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._connection.execute(sql, parameters)
        except sqlite3.OperationalError as error:
            self._store._busy(error)
            raise

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)``, or ``None``.

        Raises:
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        known = self._values.get((table, key), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        row = self._execute(
            "SELECT value FROM documents WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        value = self._values[table, key] = None if row is None else json.loads(row[0])
        return value

    def get_many(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The values at the ``(table, key)`` pairs, ``None`` for a missing one (see
        :meth:`taskcore.store.Unit.get_many`): here, one :meth:`get` after another.

        Raises:
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        return {(table, key): self.get(table, key) for table, key in items}

    def claim(self, table: str, key: str) -> Any | None:
        """The value at ``(table, key)``, or ``None`` (see
        :meth:`taskcore.store.Unit.claim`): write units run one at a time here, so no
        other unit can hold the key and this is :meth:`get`."""
        return self.get(table, key)

    def put(self, table: str, key: str, value: Any) -> None:
        """Set the value at ``(table, key)``.

        Raises:
            TypeError: ``value`` is not JSON-able; the unit's other writes stand until
                the unit ends (the error, left uncaught, rolls the whole unit back).
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        self._execute(
            "INSERT INTO documents (tbl, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
            (table, key, json.dumps(value, separators=(",", ":"))),
        )
        self._values[table, key] = value

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``, if present.

        Raises:
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        self._execute("DELETE FROM documents WHERE tbl = ? AND key = ?", (table, key))
        self._values[table, key] = None

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table``, sorted by key (SQLite's binary collation
        on UTF-8 is code point order, as Python sorts strings).

        Raises:
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        rows = self._execute(
            "SELECT key, value FROM documents WHERE tbl = ? ORDER BY key", (table,)
        ).fetchall()
        return iter([(key, json.loads(value)) for key, value in rows])

    def scan(
        self, table: str, *, start: str = "", stop: str | None = None, limit: int | None = None
    ) -> Iterator[tuple[str, Any]]:
        """The pairs with ``start <= key < stop``, ascending, at most ``limit`` (see
        :meth:`taskcore.store.Unit.scan`).

        One query that walks the primary key index from ``start``: its cost grows with
        the pairs returned, and with the table's size only as an index lookup does
        (logarithmically).

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        check_scan_limit(limit)
        most = -1 if limit is None else limit  # SQLite: a negative LIMIT is no limit
        if stop is None:
            rows = self._execute(_SCAN, (table, start, most)).fetchall()
        else:
            rows = self._execute(_SCAN_TO, (table, start, stop, most)).fetchall()
        return iter([(key, json.loads(value)) for key, value in rows])

    # -- row tables (taskcore.store.rows) --------------------------------------------

    def _row_table(self, table: RowTable, *, create: bool) -> bool:
        """Make sure ``rows_<name>`` exists (creating it and its indexes when
        ``create``); whether it does.

        Raises:
            ValueError: the file's table was declared with other columns.
        """
        known = self._store._row_tables.get(table.name)
        if known is not None:
            if known != table:
                raise ValueError(f"row table {table.name!r} was declared otherwise before")
            return True
        if table in self._created:  # created by this unit, not committed yet
            return True
        name = f"rows_{table.name}"
        found = self._execute(f'PRAGMA table_info("{name}")', ()).fetchall()
        columns = [(row[1], row[2]) for row in found]
        wanted = [("key", "TEXT"), *((c, _SQL_TYPES[kind]) for c, kind in table.columns)]
        if columns:
            if columns != wanted:
                raise ValueError(
                    f"row table {table.name!r} has the columns {columns[1:]} in the file, "
                    f"not {wanted[1:]}"
                )
            if not create:
                # Known to exist; its indexes are checked by the first write unit.
                return True
        elif not create:
            return False
        else:
            spec = ", ".join(f'"{c}" {sql} NOT NULL' for c, sql in wanted[1:])
            self._execute(
                f'CREATE TABLE "{name}" (key TEXT NOT NULL PRIMARY KEY, {spec}) WITHOUT ROWID', ()
            )
        # Every declared index, so a table written by an older declaration gains the
        # indexes a newer one adds.
        for indexed in [(c,) for c in table.sortable] + list(table.indexes):
            index = f"{name}__{'__'.join(indexed)}"
            listed = ", ".join(f'"{c}"' for c in indexed)
            self._execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{name}" ({listed}, key)', ())
        self._created.append(table)
        return True

    def put_row(self, table: RowTable, key: str, row: Mapping[str, Value]) -> None:
        """Set the row at ``key`` (see :meth:`taskcore.store.rows.RowsUnit.put_row`): one
        upsert into ``rows_<name>``; the first write creates the table and its indexes.

        Raises:
            ValueError: a bad row; nothing was written.
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        values = table.row(row)
        self._row_table(table, create=True)
        names = table.column_names
        listed = ", ".join(f'"{c}"' for c in names)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in names)
        marks = ", ".join("?" for _ in names)
        self._execute(
            f'INSERT INTO "rows_{table.name}" (key, {listed}) VALUES (?, {marks}) '
            f"ON CONFLICT (key) DO UPDATE SET {updates}",
            (key, *values),
        )

    def delete_row(self, table: RowTable, key: str) -> None:
        """Remove the row at ``key``, if any.

        Raises:
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        if self._row_table(table, create=False):
            self._execute(f'DELETE FROM "rows_{table.name}" WHERE key = ?', (key,))

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
        :meth:`taskcore.store.rows.RowsUnit.select`): one query, ``ORDER BY column,
        key`` over the column's index, ``LIMIT``/``OFFSET``.

        Raises:
            ValueError: a bad column, value, ``offset`` or ``limit``; nothing was read.
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        table.check_where(where)
        table.check_order(order_by)
        check_page(offset, limit)
        if not self._row_table(table, create=False):
            return []
        clause, parameters = _where_sql(where)
        order = "key" if order_by is None else f'"{order_by}"{" DESC" if descending else ""}, key'
        rows = self._execute(
            f'SELECT key FROM "rows_{table.name}"{clause} ORDER BY {order} LIMIT ? OFFSET ?',
            (*parameters, -1 if limit is None else limit, offset),
        ).fetchall()
        return [key for (key,) in rows]

    def count(self, table: RowTable, where: Where) -> int:
        """How many rows pass ``where``: one ``count(*)`` query.

        Raises:
            ValueError: a bad column or value; nothing was read.
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        table.check_where(where)
        if not self._row_table(table, create=False):
            return 0
        clause, parameters = _where_sql(where)
        (found,) = self._execute(
            f'SELECT count(*) FROM "rows_{table.name}"{clause}', tuple(parameters)
        ).fetchone()
        return int(found)

    def distinct(
        self, table: RowTable, columns: Sequence[str], where: Where
    ) -> list[tuple[Value, ...]]:
        """The distinct tuples of ``columns``, sorted: one ``SELECT DISTINCT`` query.

        Raises:
            ValueError: a bad column or value; nothing was read.
            StoreBusy: a lock stayed busy; the unit rolls back when the error leaves it.
        """
        table.check_where(where)
        table.check_columns(columns)
        if not columns or not self._row_table(table, create=False):
            return []
        clause, parameters = _where_sql(where)
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = self._execute(
            f'SELECT DISTINCT {listed} FROM "rows_{table.name}"{clause} ORDER BY {listed}',
            tuple(parameters),
        ).fetchall()
        return [tuple(row) for row in rows]


def _where_sql(where: Where) -> tuple[str, list[Value]]:
    """``where`` as a ``WHERE`` clause (empty when there is no condition) and its
    parameters; a set of values is one JSON parameter (``IN (SELECT value FROM
    json_each(?))``), so no set is too large for SQLite's parameter limit."""
    parts: list[str] = []
    parameters: list[Value] = []
    for column, condition in where.items():
        quoted = f'"{column}"'
        if isinstance(condition, Eq):
            parts.append(f"{quoted} = ?")
            parameters.append(condition.value)
        elif isinstance(condition, In):
            parts.append(f"{quoted} IN (SELECT value FROM json_each(?))")
            parameters.append(json.dumps(list(condition.values)))
        else:
            assert isinstance(condition, Between)
            if condition.low is not None:
                parts.append(f"{quoted} >= ?")
                parameters.append(condition.low)
            if condition.high is not None:
                parts.append(f"{quoted} <= ?")
                parameters.append(condition.high)
    return (" WHERE " + " AND ".join(parts) if parts else ""), parameters


class _SqliteReadUnit(RefusesWrites, _SqliteUnit):
    """One read transaction (``BEGIN`` and a first read) of a :class:`SqliteStore`."""

    __slots__ = ()
