"""The PostgreSQL store: documents and row tables in one database, shared by replicas.

Built on psycopg 3 and its connection pool (the optional extra ``taskcore[postgres]``;
PostgreSQL's documentation: "Transaction Isolation", "Advisory Locks"):

- one ``documents(tbl, key, value)`` table, ``value`` a JSONB document, its primary key
  ``(tbl, key)`` (text ``COLLATE "C"``, so keys sort in code point order as Python sorts
  strings) the index behind every lookup and range scan; row tables are real tables
  ``rows_<name>`` with the indexes their declaration asks for; a ``taskcore_schema``
  table records the schema's version, and the store creates or migrates the schema when
  it opens;
- **no global lock**: a write unit is a ``READ COMMITTED`` transaction, and its first
  touch of a key takes a transaction-level advisory lock on that key
  (``pg_advisory_xact_lock`` of a 64-bit hash of the table and key), held until the
  unit ends: a read when it is sent, a write (which answers nothing, so waits to travel
  with the unit's next statement or its ``COMMIT``) when it reaches the server, before
  anything the unit sends after it.  That is as safe as locking at the write: the write
  is invisible to others until the commit, and no lock is released before it.  Two
  units that touch one key are serialised (also when the key does not exist yet: the
  lock, not a row, closes the check-then-insert race), units on different keys run at
  the same time.  Each statement of a ``READ COMMITTED`` transaction reads the newest
  committed data, so the read that follows the lock sees what the unit before it
  committed;
- a read unit is a ``REPEATABLE READ READ ONLY`` transaction: one snapshot, no locks;
- a lock that stays busy for ``busy_timeout`` seconds (``lock_timeout``), a deadlock
  between two units, a pool with no free connection in that time, or a server that
  cannot be reached raise :class:`~taskcore.errors.StoreBusy` (503, retry later) after
  the unit was rolled back; any other database error rolls the unit back and raises
  :class:`~taskcore.errors.InternalError` chained to the driver's error, never a raw
  psycopg exception;
- the unit's instant (:attr:`Unit.now <taskcore.store.Unit.now>`) is by default the
  database server's ``clock_timestamp()``, read by the unit's last round trip before its
  first use, after that trip's locks: every replica on every machine then judges lease
  expiry by one clock, whatever their own clocks say;
- a unit costs round trips, not statements: its statements travel in one message (the
  simple query protocol), the ``BEGIN`` with the first, writes with the next, the
  clock with each until it is used, several keys with :meth:`get_many`; and a key the
  unit has read or written is answered from the unit's own copy (no other unit can
  change a key this one holds).

What a key lock does not cover by itself: :meth:`items`, :meth:`scan` and the row
queries read without locks.  A write unit that acts on what they returned takes each
record with :meth:`claim` (a try-lock, then a fresh read) or re-reads it with
:meth:`get` before it acts, as taskcore's services do.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from taskcore.clock import Clock
from taskcore.errors import InternalError, StoreBusy
from taskcore.store.port import ClosesOnExit, RefusesWrites, check_scan_limit
from taskcore.store.rows import Between, Eq, In, RowTable, Value, Where, check_page
from taskcore.text import is_storable

__all__ = ["PostgresStore"]

SCHEMA_VERSION = 1
"""The version of the schema this module creates (the ``taskcore_schema`` table)."""

_SETUP_LOCK = 0x7461736B636F7265  # "taskcore": serialises schema set-up across replicas
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS taskcore_schema (version integer NOT NULL)",
    'CREATE TABLE IF NOT EXISTS documents (tbl text COLLATE "C" NOT NULL, '
    'key text COLLATE "C" NOT NULL, value jsonb NOT NULL, PRIMARY KEY (tbl, key))',
)
# Lock a key, then act on it, in one round trip: each statement of a VOLATILE function
# takes a fresh snapshot in READ COMMITTED, so what follows the lock sees the newest
# commit (one SQL statement would read its snapshot from before the wait).  The suffix
# is the functions' own version: a changed body gets a new name, so replicas of two
# taskcore versions can share a database while they are upgraded one by one.
_FUNCTIONS = {
    "taskcore_get_v1(bigint,text,text)": (
        "CREATE FUNCTION taskcore_get_v1(lock bigint, t text, k text) RETURNS jsonb "
        "LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_advisory_xact_lock(lock); "
        "RETURN (SELECT value FROM documents WHERE tbl = t AND key = k); END $$"
    ),
    "taskcore_put_v1(bigint,text,text,jsonb)": (
        "CREATE FUNCTION taskcore_put_v1(lock bigint, t text, k text, v jsonb) RETURNS void "
        "LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_advisory_xact_lock(lock); "
        "INSERT INTO documents (tbl, key, value) VALUES (t, k, v) "
        "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value; END $$"
    ),
    "taskcore_delete_v1(bigint,text,text)": (
        "CREATE FUNCTION taskcore_delete_v1(lock bigint, t text, k text) RETURNS void "
        "LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_advisory_xact_lock(lock); "
        "DELETE FROM documents WHERE tbl = t AND key = k; END $$"
    ),
}
_TUPLES = psycopg.pq.ExecStatus.TUPLES_OK
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_PENDING_BYTES = 1 << 20
"""Writes wait to travel with a unit's next statement until they hold this much SQL."""
_UNKNOWN: Any = object()
"""Marks a key a unit has not read or written yet."""
_SQL_TYPES = {str: 'text COLLATE "C"', int: "bigint"}
_PG_TYPES = {str: "text", int: "bigint"}
_CASTS = {str: "text", int: "bigint"}
_BUSY = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.OperationalError,
)


def lock_id(table: str, key: str) -> int:
    """The advisory lock of ``(table, key)``: a signed 64-bit hash (BLAKE2b).  Two keys
    that share one only wait for each other needlessly; nothing else goes wrong."""
    digest = hashlib.blake2b(f"{table}\x00{key}".encode(errors="surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class PostgresStore(ClosesOnExit):
    """A :class:`~taskcore.store.RowsStore` in a PostgreSQL database (thread-safe;
    several processes and machines may share the database).  A context manager.

    Args:
        dsn: a libpq connection string or URI, say ``"postgresql://app@db/taskcore"``.
        clock: where :attr:`Unit.now <taskcore.store.Unit.now>` comes from; ``None`` (the
            default) reads the database server's ``clock_timestamp()``.
        busy_timeout: seconds a unit waits for a lock (or for a free connection) before
            it raises :class:`~taskcore.errors.StoreBusy`, whose ``retry_after_seconds``
            is this timeout rounded up to whole seconds, at least 1.
        pool_size: the most connections the store opens at once (units in flight at
            once, across its threads).

    Raises:
        ValueError: a negative ``busy_timeout`` or a ``pool_size`` below 1.
        StoreBusy: the server could not be reached, or its schema set-up waited past
            ``busy_timeout``; nothing was opened.
        InternalError: the database refused the schema (another program's tables of the
            same names, a newer schema version).
    """

    def __init__(
        self,
        dsn: str,
        clock: Clock | None = None,
        *,
        busy_timeout: float = 30.0,
        pool_size: int = 8,
    ) -> None:
        if busy_timeout < 0:
            raise ValueError("busy_timeout must be >= 0 seconds")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError("pool_size must be a whole number >= 1")
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.pool_size = pool_size
        self.retry_after_seconds: int = max(1, math.ceil(busy_timeout))
        # PostgreSQL reads lock_timeout = 0 as "wait for ever": 1 ms is the shortest wait.
        self._lock_timeout_ms = max(1, round(busy_timeout * 1000))
        self._guard = threading.Lock()
        self._in_unit: set[int] = set()
        self._row_tables: dict[str, RowTable] = {}
        self._closed = False
        try:
            # One connection of its own sets the schema up, so a bad DSN or a server
            # that is down shows at once with the driver's reason.
            with psycopg.connect(
                dsn, autocommit=True, connect_timeout=max(1, math.ceil(busy_timeout))
            ) as connection:
                self._configure(connection)
                self._set_up(connection)
        except psycopg.OperationalError as error:
            raise StoreBusy(
                f"The database cannot be reached or set up: {error}".strip(),
                retry_after_seconds=self.retry_after_seconds,
            ) from error
        except psycopg.Error as error:
            raise InternalError() from error
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            timeout=max(busy_timeout, 0.001),
            open=True,
        )

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        """Set a new connection up: UTC instants and the store's lock timeout."""
        connection.execute("SET TIME ZONE 'UTC'")
        connection.execute("SET standard_conforming_strings = on")
        connection.execute(f"SET lock_timeout = {self._lock_timeout_ms}")

    def _set_up(self, connection: psycopg.Connection[Any]) -> None:
        """Create the schema, or check its version, in one transaction."""
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            for statement in _SCHEMA:
                connection.execute(statement)
            for signature, create in _FUNCTIONS.items():
                found = connection.execute("SELECT to_regprocedure(%s)", (signature,))
                if (found.fetchone() or (None,))[0] is None:
                    connection.execute(create)
            row = connection.execute("SELECT max(version) FROM taskcore_schema").fetchone()
            version = None if row is None else row[0]
            if version is None:
                connection.execute(
                    "INSERT INTO taskcore_schema (version) VALUES (%s)", (SCHEMA_VERSION,)
                )
            elif version > SCHEMA_VERSION:
                raise InternalError() from RuntimeError(
                    f"the database's taskcore schema is version {version}, newer than "
                    f"{SCHEMA_VERSION}: upgrade taskcore"
                )

    def _raise(self, error: BaseException) -> NoReturn:
        """Raise ``error`` as a taskcore error: busy or unreachable is ``StoreBusy``,
        any other driver error ``InternalError`` (chained); others stay themselves."""
        if isinstance(error, (*_BUSY, PoolTimeout)):
            raise StoreBusy(
                f"The database is busy or unreachable ({type(error).__name__}): "
                f"retry later (lock timeout {self.busy_timeout:g} seconds)",
                retry_after_seconds=self.retry_after_seconds,
            ) from error
        if isinstance(error, psycopg.Error):
            raise InternalError() from error
        raise error

    # --- units ------------------------------------------------------------------------

    @contextmanager
    def unit(self, *, readonly: bool = False) -> Iterator[_PostgresUnit]:
        """Begin a unit of work: a ``READ COMMITTED`` transaction whose keys are locked
        as it touches them, or for a read unit a ``REPEATABLE READ READ ONLY`` one (see
        the module's docstring).

        Raises:
            RuntimeError: the store is closed, or this thread is already inside one of
                its units; no unit was begun.
            StoreBusy: a lock or a connection stayed busy for ``busy_timeout`` seconds,
                two units deadlocked, or the server could not be reached; the unit was
                rolled back and nothing changed.
            InternalError: any other database error; the unit was rolled back.
        """
        me = threading.get_ident()
        with self._guard:
            if self._closed:
                raise RuntimeError("the store is closed")
            if me in self._in_unit:
                raise RuntimeError("units do not nest: this thread is already in a unit")
            self._in_unit.add(me)
        unit: _PostgresUnit | None = None
        try:
            try:
                connection = self._pool.getconn()
            except BaseException as error:
                self._raise(error)
            try:
                cursor = psycopg.ClientCursor(connection)
                try:
                    if readonly:
                        unit = _PostgresReadUnit(cursor, self, _BEGIN_READ)
                    else:
                        unit = _PostgresUnit(cursor, self, _BEGIN_WRITE)
                    yield unit
                    unit._commit()
                except BaseException as error:
                    _roll_back(connection)
                    self._raise(error)
                for table in unit._created:
                    self._row_tables[table.name] = table
            finally:
                if unit is not None:
                    unit._cursor = _ENDED
                    unit._values = {}
                cursor.close()
                self._pool.putconn(connection)
        finally:
            with self._guard:
                self._in_unit.discard(me)

    def close(self) -> None:
        """Close the pool's connections; later units raise ``RuntimeError``.  Closing
        again does nothing."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
        self._pool.close()


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    """Roll ``connection``'s transaction back, if it is in one (a broken connection is
    left to the pool, which discards it)."""
    if connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    with suppress(psycopg.Error):  # a broken connection: the pool drops it
        connection.execute("ROLLBACK")


class _Ended:
    """Stands in for the cursor of a unit that has ended."""

    def execute(self, query: Any, params: Any = None, /, **options: Any) -> NoReturn:
        raise RuntimeError("this unit of work has ended; begin a new one")

    def mogrify(self, query: Any, params: Any = None, /) -> NoReturn:
        raise RuntimeError("this unit of work has ended; begin a new one")


_ENDED: Any = _Ended()


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""A ``\\u0000`` escape in JSON text (not a literal backslash followed by ``u0000``)."""


def _dumps(value: Any) -> str:
    """``value`` as JSON text for a JSONB column.

    Raises:
        TypeError: not JSON-able.
        ValueError: NaN or an infinity, or text holding NUL or a lone surrogate (which
            PostgreSQL text cannot hold).
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    if not is_storable(text) or _NUL_ESCAPE.search(text):
        raise ValueError("PostgreSQL cannot store text holding NUL or a lone surrogate")
    return text


def _bound(text: str, operator: str, past_nul: str) -> tuple[str, str]:
    """A scan bound PostgreSQL can compare with, and its operator, that selects the same
    stored keys as ``key <operator> text`` (stored keys hold no NUL and no surrogate).

    From the first NUL on, ``text`` is cut (``p + NUL + ...`` lies between ``p`` and every
    longer stored key that starts with ``p``, so the operator becomes ``past_nul``); from
    the first lone surrogate on, it is replaced by U+E000, the first code point after the
    surrogates, with the same operator.
    """
    for at, char in enumerate(text):
        if char == "\x00":
            return text[:at], past_nul
        if "\ud800" <= char <= "\udfff":
            return text[:at] + "\ue000", operator
    return text, operator


def _check_key(what: str, text: str) -> None:
    """Refuse a key or bound PostgreSQL text cannot hold.

    Raises:
        ValueError: ``text`` holds NUL or a lone surrogate.
    """
    if not is_storable(text):
        raise ValueError(f"a PostgreSQL store's {what} cannot hold NUL or a lone surrogate")


class _PostgresUnit:
    """One write transaction (``READ COMMITTED``, keys locked on use) of a
    :class:`PostgresStore`.

    Round trips are what a unit costs (see the module's docstring): the ``BEGIN`` waits
    to travel with the unit's first statement, a write (which answers nothing) waits to
    travel with the next statement or the ``COMMIT``, and a key the unit has read or
    written is answered from the unit's own copy afterwards.
    """

    __slots__ = (
        "_begin",
        "_clock",
        "_created",
        "_cursor",
        "_locked",
        "_now",
        "_pending",
        "_pending_size",
        "_store",
        "_values",
    )

    def __init__(self, cursor: psycopg.ClientCursor[Any], store: PostgresStore, begin: str) -> None:
        self._cursor = cursor
        self._store = store
        self._begin: str | None = begin
        self._pending: list[str] = []
        self._pending_size = 0
        self._values: dict[tuple[str, str], Any] = {}
        self._now: datetime | None = None
        self._clock: datetime | None = None
        self._locked: set[int] = set()
        self._created: list[RowTable] = []

    @property
    def now(self) -> datetime:
        """The unit's instant (UTC): the store's clock, or else the database server's
        ``clock_timestamp()``, read on first use and then fixed for the unit."""
        now = self._now
        if now is None:
            clock = self._store.clock
            if clock is not None:
                now = clock.now()
            elif self._clock is not None:
                now = self._clock  # read by the unit's last statement, after its locks
            else:
                now = self._server_clock()
            self._now = now
        return now

    def _server_clock(self) -> datetime:
        """Read the server's clock in a trip of its own (with the ``BEGIN``, when the
        unit has sent nothing yet)."""
        self._run([])
        clock = self._clock
        assert clock is not None
        return clock

    def _statement(self, query: Any, parameters: Any = None) -> str:
        """``query`` with ``parameters`` bound, as SQL text: text and whole numbers as
        literals of our own (the hot path: a quote doubled inside quotes, which
        ``standard_conforming_strings``, set on every connection, reads verbatim),
        anything else by psycopg's client-side binding, which quotes every value."""
        if self._cursor is _ENDED:
            _ENDED.execute(query)  # raises: the unit has ended
        if type(query) is str and type(parameters) is tuple:
            literals = []
            for value in parameters:
                kind = type(value)
                if kind is int:
                    literals.append(str(value))
                elif kind is str and is_storable(value):
                    literals.append("'" + value.replace("'", "''") + "'")
                else:
                    break
            else:
                return query % tuple(literals)
        try:
            return self._cursor.mogrify(query, parameters)
        except psycopg.Error as error:  # pragma: no cover - our queries and values bind
            self._store._raise(error)

    def _run(self, statements: list[str], *, last: bool = False) -> list[list[Any]]:
        """Send the unit's ``BEGIN`` (if it has not travelled yet), its waiting writes
        and ``statements`` in one message, one round trip; return the rows each of
        ``statements`` answered (an empty list for a statement that returns none).
        ``last``: the unit's ``COMMIT`` is among them (no clock to read after it).

        A driver error becomes a taskcore error (:meth:`PostgresStore._raise`); the
        server ran nothing after the failed statement, and the unit rolls back when the
        error leaves it.
        """
        sent = [] if self._begin is None else [self._begin]
        sent += self._pending
        self._begin = None
        self._pending = []
        self._pending_size = 0
        # Until the unit's instant is fixed, each trip reads the server's clock after
        # its other statements (after their locks): the instant first used is then the
        # one read last, as if read at that use, with no trip of its own.
        clock = not last and self._now is None and self._store.clock is None
        cursor = self._cursor
        results: list[list[Any]] = []
        try:
            cursor.execute(
                ";\n".join(sent + statements + (["SELECT clock_timestamp()"] if clock else [])),
                prepare=False,
            )
            while True:
                result = cursor.pgresult
                returned = result is not None and result.status == _TUPLES
                results.append(cursor.fetchall() if returned else [])
                if not cursor.nextset():
                    break
        except psycopg.Error as error:
            self._store._raise(error)
        if clock:
            self._clock = results.pop()[0][0].astimezone(UTC)
        return results[len(sent) :]

    def _execute(self, query: Any, parameters: Any = None) -> list[Any]:
        """Run one statement of the unit (after what waits to be sent); return its rows."""
        return self._run([self._statement(query, parameters)])[0]

    def _send_later(self, query: Any, parameters: Any = None) -> None:
        """Queue a statement that answers nothing (a write) to travel with the unit's
        next one; once the queue holds ``_PENDING_BYTES`` of text, send it now."""
        statement = self._statement(query, parameters)
        self._pending.append(statement)
        self._pending_size += len(statement)
        if self._pending_size >= _PENDING_BYTES:
            self._run([])

    def _commit(self) -> None:
        """Commit: the waiting writes and ``COMMIT`` in one round trip; nothing at all
        when the unit never sent a statement."""
        if self._begin is None or self._pending:
            self._run(["COMMIT"], last=True)

    def _lock(self, table: str, key: str) -> None:
        """Hold ``(table, key)``'s advisory lock until the unit ends (write units)."""
        number = self._to_lock(table, key)
        if number is not None:
            self._execute("SELECT pg_advisory_xact_lock(%s)", (number,))
            self._locked.add(number)

    def _to_lock(self, table: str, key: str) -> int | None:
        """The advisory lock of ``(table, key)`` when this unit has yet to take it;
        ``None`` when it holds it already (a read unit never locks)."""
        number = lock_id(table, key)
        return None if number in self._locked else number

    def get(self, table: str, key: str) -> Any | None:
        """Return the value at ``(table, key)``, or ``None``; in a write unit the key is
        locked first (until the unit ends): one statement either way.

        Raises:
            StoreBusy: the key stayed locked past the busy timeout (when the error leaves
                the unit, it rolls back).
        """
        if not is_storable(key):
            return None  # no such key can be stored
        known = self._values.get((table, key), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        return self.get_many([(table, key)])[table, key]

    def get_many(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The values at the ``(table, key)`` pairs (``None`` for a missing one), read
        in one round trip; in a write unit each key is locked first, in the order given
        (see :meth:`taskcore.store.Unit.get_many`).

        Raises:
            StoreBusy: a key stayed locked past the busy timeout (when the error leaves
                the unit, it rolls back).
        """
        found: dict[tuple[str, str], Any] = {}
        wanted: list[tuple[int | None, str, str]] = []
        for table, key in items:
            known = self._values.get((table, key), _UNKNOWN)
            if known is not _UNKNOWN or not is_storable(key):
                found[table, key] = None if known is _UNKNOWN else known
            elif (table, key) not in found:
                found[table, key] = None
                number = self._to_lock(table, key)
                wanted.append((number, table, key))
        if not wanted:
            return found
        statements = []
        for number, table, key in wanted:
            if number is None or number in self._locked:
                query = "SELECT value FROM documents WHERE tbl = %s AND key = %s"
                statements.append(self._statement(query, (table, key)))
            else:
                query = "SELECT taskcore_get_v1(%s, %s, %s)"
                statements.append(self._statement(query, (number, table, key)))
                self._locked.add(number)
        for rows, (_, table, key) in zip(self._run(statements), wanted, strict=True):
            found[table, key] = self._values[table, key] = rows[0][0] if rows else None
        return found

    def claim(self, table: str, key: str) -> Any | None:
        """Take ``(table, key)``'s lock without waiting (``pg_try_advisory_xact_lock``)
        and return the key's newest committed value; ``None`` when the key is absent or
        another unit holds its lock (see :meth:`taskcore.store.Unit.claim`).

        Raises:
            StoreBusy: the server could not be reached (when the error leaves the unit,
                it rolls back).
        """
        if not is_storable(key):
            return None  # no such key can be stored
        known = self._values.get((table, key), _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # the unit holds the key already
        number = lock_id(table, key)
        read = self._statement(
            "SELECT value FROM documents WHERE tbl = %s AND key = %s", (table, key)
        )
        if number in self._locked:
            rows = self._run([read])[0]
        else:
            # The try-lock and the read (a statement of its own, so its snapshot follows
            # the lock; its answer is dropped when the lock was not taken): one trip.
            try_lock = self._statement("SELECT pg_try_advisory_xact_lock(%s)", (number,))
            taken, rows = self._run([try_lock, read])
            if not taken[0][0]:
                return None  # another unit holds it: its holder acts on it
            self._locked.add(number)
        value = rows[0][0] if rows else None
        self._values[table, key] = value
        return value

    def put(self, table: str, key: str, value: Any) -> None:
        """Set the value at ``(table, key)``, the key locked first, in one statement
        that travels with the unit's next one (or its ``COMMIT``).

        Raises:
            TypeError: ``value`` is not JSON-able; nothing was written.
            ValueError: ``value`` holds NaN, an infinity or text with NUL; nothing was
                written.
            StoreBusy: a key stayed locked past the busy timeout, when the unit's waiting
                writes reached ``_PENDING_BYTES`` and were sent here; otherwise such a wait
                fails the statement the write travels with, or the commit (either way the
                unit rolls back when the error leaves it).
        """
        _check_key("keys", key)
        text = _dumps(value)
        number = self._to_lock(table, key)
        if number is None:
            self._send_later(
                "INSERT INTO documents (tbl, key, value) VALUES (%s, %s, %s::jsonb) "
                "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                (table, key, text),
            )
        else:
            query = "SELECT taskcore_put_v1(%s, %s, %s, %s::jsonb)"
            self._send_later(query, (number, table, key, text))
            self._locked.add(number)
        self._values[table, key] = value

    def delete(self, table: str, key: str) -> None:
        """Remove ``(table, key)``, if present, the key locked first, in one statement
        that travels with the unit's next one (or its ``COMMIT``).

        Raises:
            StoreBusy: a key stayed locked past the busy timeout, when the unit's waiting
                writes reached ``_PENDING_BYTES`` and were sent here; otherwise such a wait
                fails the statement the write travels with, or the commit (either way the
                unit rolls back when the error leaves it).
        """
        if not is_storable(key):
            return  # no such key can be stored
        number = self._to_lock(table, key)
        if number is None:
            query = "DELETE FROM documents WHERE tbl = %s AND key = %s"
            self._send_later(query, (table, key))
        else:
            self._send_later("SELECT taskcore_delete_v1(%s, %s, %s)", (number, table, key))
            self._locked.add(number)
        self._values[table, key] = None

    def items(self, table: str) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` of ``table``, sorted by key (code point order)."""
        rows = self._execute(
            "SELECT key, value FROM documents WHERE tbl = %s ORDER BY key", (table,)
        )
        return iter([(key, value) for key, value in rows])

    def scan(
        self, table: str, *, start: str = "", stop: str | None = None, limit: int | None = None
    ) -> Iterator[tuple[str, Any]]:
        """The pairs with ``start <= key < stop``, ascending, at most ``limit`` (see
        :meth:`taskcore.store.Unit.scan`): one walk of the primary key from ``start``.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        check_scan_limit(limit)
        low, low_op = _bound(start, ">=", ">")
        query = "SELECT key, value FROM documents WHERE tbl = %s AND key " + low_op + " %s"
        parameters: list[Any] = [table, low]
        if stop is not None:
            high, high_op = _bound(stop, "<", "<=")
            query += " AND key " + high_op + " %s"
            parameters.append(high)
        rows = self._execute(query + " ORDER BY key LIMIT %s", (*parameters, limit))
        return iter([(key, value) for key, value in rows])

    # -- row tables (taskcore.store.rows) --------------------------------------------

    def _row_table(self, table: RowTable, *, create: bool) -> bool:
        """Make sure ``rows_<name>`` exists (creating it and its indexes when
        ``create``); whether it does.

        Raises:
            ValueError: the database's table was declared with other columns.
        """
        known = self._store._row_tables.get(table.name)
        if known is not None:
            if known != table:
                raise ValueError(f"row table {table.name!r} was declared otherwise before")
            return True
        if table in self._created:
            return True
        name = f"rows_{table.name}"
        if create:  # one unit at a time creates (or checks) a row table
            self._lock("taskcore.row_tables", table.name)
        found = self._execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            (name,),
        )
        columns = [(str(column), str(kind)) for column, kind in found]
        wanted = [("key", "text"), *((c, _PG_TYPES[kind]) for c, kind in table.columns)]
        if columns:
            if columns != wanted:
                raise ValueError(
                    f"row table {table.name!r} has the columns {columns[1:]} in the "
                    f"database, not {wanted[1:]}"
                )
            if not create:
                return True
        elif not create:
            return False
        else:
            spec = sql.SQL(", ").join(
                sql.SQL("{} {} NOT NULL").format(sql.Identifier(c), sql.SQL(_SQL_TYPES[kind]))
                for c, kind in table.columns
            )
            self._execute(
                sql.SQL('CREATE TABLE {} (key text COLLATE "C" NOT NULL PRIMARY KEY, {})').format(
                    sql.Identifier(name), spec
                )
            )
        present = {
            str(index)
            for (index,) in self._execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s", (name,)
            )
        }
        for indexed in [(c,) for c in table.sortable] + list(table.indexes):
            index = f"{name}__{'__'.join(indexed)}"[:63]
            if index in present:  # no CREATE INDEX: it would wait for every writer
                continue
            listed = sql.SQL(", ").join(sql.Identifier(c) for c in indexed)
            self._execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, key)").format(
                    sql.Identifier(index), sql.Identifier(name), listed
                )
            )
        self._created.append(table)
        return True

    def put_row(self, table: RowTable, key: str, row: Mapping[str, Value]) -> None:
        """Set the row at ``key`` (see :meth:`taskcore.store.rows.RowsUnit.put_row`): one
        upsert into ``rows_<name>``; the first write creates the table and its indexes.

        Raises:
            ValueError: a bad row; nothing was written.
            StoreBusy: a lock stayed busy past the busy timeout.
        """
        values = table.row(row)
        _check_key("keys", key)
        self._row_table(table, create=True)
        names = [sql.Identifier(c) for c in table.column_names]
        self._send_later(
            sql.SQL(
                "INSERT INTO {} (key, {}) VALUES (%s, {}) ON CONFLICT (key) DO UPDATE SET {}"
            ).format(
                sql.Identifier(f"rows_{table.name}"),
                sql.SQL(", ").join(names),
                sql.SQL(", ").join(
                    sql.SQL("%s::{}").format(sql.SQL(_CASTS[kind])) for _, kind in table.columns
                ),
                sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(n) for n in names),
            ),
            (key, *values),
        )

    def delete_row(self, table: RowTable, key: str) -> None:
        """Remove the row at ``key``, if any."""
        if is_storable(key) and self._row_table(table, create=False):
            self._send_later(
                sql.SQL("DELETE FROM {} WHERE key = %s").format(
                    sql.Identifier(f"rows_{table.name}")
                ),
                (key,),
            )

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
        :meth:`taskcore.store.rows.RowsUnit.select`): ``ORDER BY column, key``,
        ``LIMIT``/``OFFSET``, one statement.

        Raises:
            ValueError: a bad column, value, ``offset`` or ``limit``; nothing was read.
        """
        table.check_where(where)
        table.check_order(order_by)
        check_page(offset, limit)
        if not self._row_table(table, create=False):
            return []
        clause, parameters = _where_sql(table, where)
        order: sql.Composable
        if order_by is None:
            order = sql.SQL("key")
        else:
            order = sql.SQL("{}{}, key").format(
                sql.Identifier(order_by), sql.SQL(" DESC" if descending else "")
            )
        rows = self._execute(
            sql.SQL("SELECT key FROM {}{} ORDER BY {} LIMIT %s OFFSET %s").format(
                sql.Identifier(f"rows_{table.name}"), clause, order
            ),
            (*parameters, limit, offset),
        )
        return [str(key) for (key,) in rows]

    def count(self, table: RowTable, where: Where) -> int:
        """How many rows pass ``where``: one ``count(*)``.

        Raises:
            ValueError: a bad column or value; nothing was read.
        """
        table.check_where(where)
        if not self._row_table(table, create=False):
            return 0
        clause, parameters = _where_sql(table, where)
        (row,) = self._execute(
            sql.SQL("SELECT count(*) FROM {}{}").format(
                sql.Identifier(f"rows_{table.name}"), clause
            ),
            parameters,
        )
        return int(row[0])

    def distinct(
        self, table: RowTable, columns: Sequence[str], where: Where
    ) -> list[tuple[Value, ...]]:
        """The distinct tuples of ``columns``, sorted: one ``SELECT DISTINCT``.

        Raises:
            ValueError: a bad column or value; nothing was read.
        """
        table.check_where(where)
        table.check_columns(columns)
        if not columns or not self._row_table(table, create=False):
            return []
        clause, parameters = _where_sql(table, where)
        listed = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        rows = self._execute(
            sql.SQL("SELECT DISTINCT {0} FROM {1}{2} ORDER BY {0}").format(
                listed, sql.Identifier(f"rows_{table.name}"), clause
            ),
            parameters,
        )
        return [tuple(row) for row in rows]


def _where_sql(table: RowTable, where: Where) -> tuple[sql.Composable, list[Any]]:
    """``where`` as a ``WHERE`` clause (empty when there is no condition) and its
    parameters, each cast to its column's type so the column's index serves; a set of
    values is one array parameter (``= ANY(%s)``)."""
    kinds = dict(table.columns)
    parts: list[sql.Composable] = []
    parameters: list[Any] = []
    for column, condition in where.items():
        quoted = sql.Identifier(column)
        cast = sql.SQL(_CASTS[kinds[column]])
        if isinstance(condition, Eq):
            parts.append(sql.SQL("{} = %s::{}").format(quoted, cast))
            parameters.append(condition.value)
        elif isinstance(condition, In):
            parts.append(sql.SQL("{} = ANY(%s::{}[])").format(quoted, cast))
            parameters.append(list(condition.values))
        else:
            assert isinstance(condition, Between)
            if condition.low is not None:
                parts.append(sql.SQL("{} >= %s::{}").format(quoted, cast))
                parameters.append(condition.low)
            if condition.high is not None:
                parts.append(sql.SQL("{} <= %s::{}").format(quoted, cast))
                parameters.append(condition.high)
    if not parts:
        return sql.SQL(""), parameters
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), parameters


class _PostgresReadUnit(RefusesWrites, _PostgresUnit):
    """One read transaction (``REPEATABLE READ READ ONLY``) of a :class:`PostgresStore`;
    it takes no locks."""

    __slots__ = ()

    def _to_lock(self, table: str, key: str) -> int | None:
        """A read unit locks nothing: its snapshot is its consistency."""
        return None
