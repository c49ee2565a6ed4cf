"""The SQLite store under pressure: busy locks, readers beside a writer, thread churn,
forks, and range scans that walk the index."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskcore.errors import StoreBusy
from taskcore.store import SqliteStore
from taskcore.store.sqlite import _SCAN, _SCAN_TO


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "taskcore.db"


@pytest.fixture
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection to the store's file, outside the store (autocommit)."""
    SqliteStore(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    yield connection
    connection.close()


def committed(path: Path) -> list[tuple[str, str, str]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT tbl, key, value FROM documents ORDER BY 1, 2").fetchall()
    finally:
        connection.close()


def busy_error(code: int = sqlite3.SQLITE_BUSY, text: str = "database is locked") -> Exception:
    error = sqlite3.OperationalError(text)
    error.sqlite_errorcode = code
    return error


# --- busy --------------------------------------------------------------------------------


def test_a_write_unit_that_cannot_begin_is_store_busy_and_changes_nothing(
    path: Path, raw: sqlite3.Connection
) -> None:
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("INSERT INTO documents VALUES ('t', 'k', '\"other connection\"')")
    with SqliteStore(path, busy_timeout=0.05) as store:
        with pytest.raises(StoreBusy, match="database is locked") as busy, store.unit() as unit:
            unit.put("t", "mine", 1)  # pragma: no cover - never reached
        assert isinstance(busy.value.__cause__, sqlite3.OperationalError)
        raw.execute("ROLLBACK")
        assert [] == committed(path)
        with store.unit() as unit:  # the connection went back to the pool unharmed
            unit.put("t", "mine", 1)
    assert [("t", "mine", "1")] == committed(path)


def test_store_busy_advises_a_retry_after_the_busy_timeout_in_whole_seconds(path: Path) -> None:
    for timeout, seconds in [(0, 1), (0.05, 1), (1, 1), (2.5, 3), (30, 30)]:
        with SqliteStore(path, busy_timeout=timeout) as store:
            assert seconds == store.retry_after_seconds


@pytest.mark.parametrize("retry_after", [0, -3])
def test_store_busy_needs_a_retry_after_of_at_least_one_second(retry_after: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StoreBusy(retry_after_seconds=retry_after)


def test_store_busy_needs_whole_seconds() -> None:
    with pytest.raises(TypeError, match="whole number"):
        StoreBusy(retry_after_seconds=1.5)  # type: ignore[arg-type]


class Failing(sqlite3.Connection):
    """A connection whose statements starting with ``fail_on`` raise ``error``."""

    fail_on: str | None = None
    error: Exception = busy_error()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.fail_on is not None and sql.startswith(self.fail_on):
            raise self.error
        return super().execute(sql, parameters)


class FailingStore(SqliteStore):
    _factory = Failing


@pytest.mark.parametrize(
    ("fail_on", "call"),
    [
        ("SELECT value", lambda unit: unit.get("t", "z")),
        ("INSERT", lambda unit: unit.put("t", "b", 2)),
        ("DELETE", lambda unit: unit.delete("t", "a")),
        ("SELECT key, value FROM documents WHERE tbl = ? ORDER", lambda unit: unit.items("t")),
        ("SELECT key, value FROM documents WHERE tbl = ? AND", lambda unit: unit.scan("t")),
        ("COMMIT", lambda unit: None),
    ],
)
def test_any_statement_of_a_unit_or_its_commit_that_finds_the_lock_busy_is_store_busy(
    path: Path, fail_on: str, call: Any
) -> None:
    """Statements and COMMIT rarely meet a busy lock in WAL mode once the unit holds the
    write lock, so a connection whose statements fail on purpose stands in for it."""
    with FailingStore(path, busy_timeout=0.05) as store:
        with store.unit() as unit:
            unit.put("t", "a", 1)
        before = committed(path)

        def change_then_call() -> None:
            with store.unit() as unit:
                unit.put("t", "a", "changed")
                unit.put("t", "c", 3)
                call(unit)

        Failing.fail_on = fail_on
        try:
            with pytest.raises(StoreBusy):
                change_then_call()
        finally:
            Failing.fail_on = None
        assert before == committed(path)
        with store.unit() as unit:  # the unit was rolled back, its connection reusable
            unit.put("t", "d", 4)
    assert [*before, ("t", "d", "4")] == committed(path)


def test_a_read_unit_whose_first_read_finds_the_lock_busy_is_store_busy(path: Path) -> None:
    with FailingStore(path, busy_timeout=0.05) as store:
        Failing.fail_on = "SELECT 1"
        try:
            with pytest.raises(StoreBusy), store.unit(readonly=True):
                pass  # pragma: no cover - never reached
        finally:
            Failing.fail_on = None
        with store.unit(readonly=True) as unit:
            assert unit.get("t", "k") is None


@pytest.mark.parametrize(
    ("fail_on", "error"),
    [
        ("BEGIN IMMEDIATE", busy_error(sqlite3.SQLITE_IOERR, "disk I/O error")),
        ("COMMIT", busy_error(sqlite3.SQLITE_IOERR, "disk I/O error")),
        ("COMMIT", sqlite3.DatabaseError("database disk image is malformed")),
    ],
)
def test_other_sqlite_errors_stay_what_they_are_and_roll_the_unit_back(
    path: Path, fail_on: str, error: Exception
) -> None:
    with FailingStore(path) as store:

        def write() -> None:
            with store.unit() as unit:
                unit.put("t", "a", 1)

        Failing.fail_on, Failing.error = fail_on, error
        try:
            with pytest.raises(type(error), match=str(error)) as raised:
                write()
        finally:
            Failing.fail_on, Failing.error = None, busy_error()
        assert type(error) is type(raised.value)
        assert [] == committed(path)


def test_a_store_that_cannot_set_its_file_up_in_time_is_store_busy(path: Path) -> None:
    Failing.fail_on = "PRAGMA journal_mode"
    try:
        with pytest.raises(StoreBusy):
            FailingStore(path, busy_timeout=0.05)
    finally:
        Failing.fail_on = None


def test_a_read_unit_that_finds_the_file_held_exclusively_is_store_busy(path: Path) -> None:
    with SqliteStore(path, busy_timeout=0.05, max_idle_connections=0) as store:
        with store.unit() as unit:
            unit.put("t", "a", 1)
        exclusive = sqlite3.connect(path, isolation_level=None)
        try:
            exclusive.execute("PRAGMA locking_mode = EXCLUSIVE")
            exclusive.execute("BEGIN EXCLUSIVE")
            exclusive.execute("SELECT * FROM documents").fetchall()
            with pytest.raises(StoreBusy), store.unit(readonly=True) as unit:
                unit.get("t", "a")  # pragma: no cover - never reached
            with pytest.raises(StoreBusy):
                SqliteStore(path, busy_timeout=0.05)
        finally:
            exclusive.close()
        with store.unit(readonly=True) as unit:
            assert 1 == unit.get("t", "a")


# --- read units ----------------------------------------------------------------------------


def test_a_reader_completes_while_another_connection_holds_the_write_lock(
    path: Path, raw: sqlite3.Connection
) -> None:
    with SqliteStore(path, busy_timeout=0.05) as store:
        with store.unit() as unit:
            unit.put("t", "k", "committed")
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE documents SET value = '\"uncommitted\"'")
        try:
            with store.unit(readonly=True) as unit:
                assert "committed" == unit.get("t", "k")
                assert [("k", "committed")] == list(unit.scan("t"))
        finally:
            raw.execute("ROLLBACK")


def test_a_read_unit_sees_one_snapshot_and_does_not_block_a_writer(path: Path) -> None:
    with SqliteStore(path, busy_timeout=0.05) as store:
        with store.unit() as unit:
            unit.put("t", "k", "before")
        written = threading.Event()

        def write() -> None:
            with store.unit() as unit:
                unit.put("t", "k", "after")
                unit.put("t", "new", 1)
            written.set()

        with store.unit(readonly=True) as reader:
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(30)
            assert written.is_set()  # the writer committed while the reader was open
            assert "before" == reader.get("t", "k")
            assert [("k", "before")] == list(reader.items("t"))
        with store.unit(readonly=True) as reader:
            assert [("k", "after"), ("new", 1)] == list(reader.items("t"))


def test_a_unit_used_after_its_end_refuses_to_run(path: Path) -> None:
    with SqliteStore(path) as store:
        with store.unit() as unit:
            unit.put("t", "k", 1)
        with pytest.raises(RuntimeError, match="has ended"):
            unit.get("t", "k")
        with pytest.raises(RuntimeError, match="has ended"):
            unit.put("t", "k", 2)


# --- connections -----------------------------------------------------------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_threads_that_come_and_go_leave_a_bounded_number_of_connections(path: Path) -> None:
    before = open_descriptors()
    with SqliteStore(path, max_idle_connections=2) as store:

        def one_unit(index: int) -> None:
            with store.unit() as unit:
                unit.put("t", f"k{index:03}", index)

        for first in range(0, 200, 8):  # 200 short-lived threads, 8 at a time
            batch = [threading.Thread(target=one_unit, args=(i,)) for i in range(first, first + 8)]
            for thread in batch:
                thread.start()
            for thread in batch:
                thread.join(30)
        with store.unit(readonly=True) as unit:
            assert 200 == len(list(unit.items("t")))
        # Two idle connections, each with its database and WAL files, and the shared
        # -shm file; SQLite also keeps the descriptors of a connection that closed while
        # another one held a lock on the file (for reuse), at most one per thread that
        # ran at once.  A bound that does not grow with the 200 threads.
        assert open_descriptors() - before <= 3 * (2 + 8)
    assert open_descriptors() - before <= 0


def test_a_store_closed_while_a_unit_runs_lets_that_unit_finish(path: Path) -> None:
    store = SqliteStore(path)
    inside, closed = threading.Event(), threading.Event()

    def work() -> None:
        with store.unit() as unit:
            inside.set()
            closed.wait(30)
            unit.put("t", "k", "finished")

    worker = threading.Thread(target=work)
    worker.start()
    inside.wait(30)
    store.close()
    closed.set()
    worker.join(30)
    assert [("t", "k", '"finished"')] == committed(path)
    assert set() == store._open


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_uses_its_parents_connections(path: Path) -> None:
    with SqliteStore(path) as store:
        with store.unit() as unit:
            unit.put("t", "parent", 1)
        parents = set(store._open)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; coverage does not follow it
            try:
                with store.unit() as unit:
                    unit.put("t", "child", 2)
                ok = not (set(store._open) & parents) and parents <= set(store._inherited)
                os.write(write, b"ok" if ok else b"reused")
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as answer:
            assert b"ok" == answer.read()
        assert 0 == os.waitpid(pid, 0)[1]
        with store.unit() as unit:  # the parent's pool still works
            assert [("child", 2), ("parent", 1)] == list(unit.items("t"))
        assert parents == set(store._open)


def test_pool_settings_are_checked(path: Path) -> None:
    with pytest.raises(ValueError, match="max_idle_connections"):
        SqliteStore(path, max_idle_connections=-1)
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(path, synchronous="OFF")  # type: ignore[arg-type]


# --- range scans ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "parameters"), [(_SCAN, ("t", "a", 10)), (_SCAN_TO, ("t", "a", "b", 10))]
)
def test_a_range_scan_walks_the_primary_key_and_sorts_nothing(
    raw: sqlite3.Connection, sql: str, parameters: tuple[Any, ...]
) -> None:
    plan = " ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", parameters))
    assert "SEARCH documents USING PRIMARY KEY (tbl=? AND key>?" in plan
    assert "TEMP B-TREE" not in plan
