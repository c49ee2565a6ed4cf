"""The SQLite store: documents in one table of one database file, shared by processes.

Built on the standard library's :mod:`sqlite3`:

- one ``documents(tbl, key, value)`` table, ``value`` a JSON text;
- WAL journal, so readers never block the writer;
- each unit is one ``BEGIN IMMEDIATE`` transaction: it takes the database's write lock
  when it begins, so units of every thread and every process on the file are serialised
  and the unit's instant (:attr:`Unit.now <taskcore.store.Unit.now>`) is read while no
  other unit can commit;
- a unit that cannot get the write lock waits up to ``busy_timeout`` seconds, then
  raises :class:`sqlite3.OperationalError` ("database is locked") and nothing changed;
- one connection per thread (and per process: a forked child opens its own).

Durability: ``synchronous=NORMAL`` by default, which in WAL mode survives any process
crash but may lose the last commits on a power cut or OS crash; pass
``synchronous="FULL"`` to pay an fsync per commit instead (docs/locks.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from taskcore.clock import Clock, SystemClock

__all__ = ["SqliteStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents ("
    "tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (tbl, key)) WITHOUT ROWID"
)


class SqliteStore:
    """A :class:`~taskcore.store.Store` in a SQLite file (mutable, thread- and
    process-safe).

    Args:
        path: the database file, created when missing.
        clock: where :attr:`Unit.now <taskcore.store.Unit.now>` comes from.  Processes
            sharing a file must share a clock too (docs/locks.md, "What is not promised").
        busy_timeout: seconds a unit waits for the write lock before giving up.
        synchronous: SQLite's ``synchronous`` setting, ``"NORMAL"`` or ``"FULL"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        busy_timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.clock: Clock = SystemClock() if clock is None else clock
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        # Open (and so create) the file and its schema now, so errors show at once.
        self._connection()

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        if getattr(self._local, "pid", None) == pid:
            connection: sqlite3.Connection = self._local.connection
            return connection
        with self._guard:
            if self._closed:  # pragma: no cover - close() racing a thread's first unit
                raise RuntimeError("the store is closed")
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT / ROLLBACK ourselves.
            # check_same_thread=False only so that close() may close every thread's
            # connection; each connection is still used by its own thread alone.
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connections.append(connection)
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        connection.execute(_SCHEMA)
        self._local.pid = pid
        self._local.connection = connection
        self._local.in_unit = False
        return connection

    @contextmanager
    def unit(self) -> Iterator[_SqliteUnit]:
        """Begin a unit of work: one ``BEGIN IMMEDIATE`` transaction.

        Raises:
            RuntimeError: the store is closed, or this thread is already inside one of
                its units; no unit was begun.
            sqlite3.OperationalError: the write lock stayed busy for ``busy_timeout``
                seconds; nothing changed.
        """
        if self._closed:
            raise RuntimeError("the store is closed")
        connection = self._connection()
        if self._local.in_unit:
            raise RuntimeError("units do not nest: this thread is already in a unit")
        connection.execute("BEGIN IMMEDIATE")
        self._local.in_unit = True
        try:
            yield _SqliteUnit(connection, self.clock)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            try:
                connection.execute("COMMIT")
            except BaseException:  # pragma: no cover - a failing COMMIT (disk full, I/O)
                connection.execute("ROLLBACK")
                raise
        finally:
            self._local.in_unit = False

    def close(self) -> None:
        """Close every thread's connection; later units raise ``RuntimeError``."""
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


class _SqliteUnit:
    """One ``BEGIN IMMEDIATE`` transaction of a :class:`SqliteStore`."""

    __slots__ = ("_clock", "_connection", "_now")

    def __init__(self, connection: sqlite3.Connection, clock: Clock) -> None:
        self._connection = connection
        self._clock = clock
        self._now: datetime | None = None

    @property
    def now(self) -> datetime:
        """The store clock's instant, read on first use (the write lock is already held)
        and then fixed for the unit."""
        now = self._now
        if now is None:
            now = self._now = self._clock.now()
        return now

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)``, or ``None``."""
        row = self._connection.execute(
            "SELECT value FROM documents WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, table: str, key: str, value: Any) -> None:
        """Set the value at ``(table, key)``.

        Raises:
            TypeError: ``value`` is not JSON-able; the unit's other writes stand until
                the unit ends (the error, left uncaught, rolls the whole unit back).
        """
        self._connection.execute(
            "INSERT INTO documents (tbl, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
            (table, key, json.dumps(value, separators=(",", ":"))),
        )

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``, if present."""
        self._connection.execute("DELETE FROM documents WHERE tbl = ? AND key = ?", (table, key))

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table``, sorted by key (SQLite's binary collation
        on UTF-8 is code point order, as Python sorts strings)."""
        rows = self._connection.execute(
            "SELECT key, value FROM documents WHERE tbl = ? ORDER BY key", (table,)
        ).fetchall()
        return iter([(key, json.loads(value)) for key, value in rows])
