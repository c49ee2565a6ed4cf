"""What only the PostgreSQL store promises: units on different keys run at once, units on
one key are serialised (also when it is absent), deadlocks and unreachable servers are
StoreBusy, other driver errors are taskcore errors, the instant is the database's, the
schema is versioned, and text PostgreSQL cannot hold is refused."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lock_workers import hold_a_unit_until_killed
from postgres_server import wipe
from taskcore.errors import InternalError, StoreBusy
from taskcore.store import RowTable
from taskcore.store.postgres import SCHEMA_VERSION, PostgresStore, lock_id

DEADLINE = 30.0
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    wipe(postgres_dsn)
    return postgres_dsn


@pytest.fixture
def store(dsn: str) -> Iterator[PostgresStore]:
    with PostgresStore(dsn, busy_timeout=10) as made:
        yield made


def waiting_for_advisory_locks(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    assert row is not None
    return int(row[0])


def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (fails after DEADLINE seconds)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


class Holder:
    """A thread that runs ``body`` in a write unit and keeps the unit open until told."""

    def __init__(self, store: PostgresStore, body: Callable[[Any], object]) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with store.unit() as unit:
                    body(unit)
                    self.inside.set()
                    assert self.release.wait(DEADLINE)
            except BaseException as error:  # pragma: no cover - shown by the test
                self.error = error
                self.inside.set()

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.inside.wait(DEADLINE)
        assert self.error is None

    def finish(self) -> None:
        self.release.set()
        self.thread.join(DEADLINE)
        assert self.error is None


def test_units_on_different_keys_run_at_the_same_time(store: PostgresStore) -> None:
    holder = Holder(store, lambda unit: unit.put("t", "one", "holder's"))
    try:
        # The holder's unit is open; a unit on another key begins, writes and commits.
        with store.unit() as unit:
            assert unit.get("t", "two") is None
            unit.put("t", "two", "mine")
        with store.unit(readonly=True) as unit:
            assert [("two", "mine")] == list(unit.items("t"))
    finally:
        holder.finish()
    with store.unit(readonly=True) as unit:
        assert [("one", "holder's"), ("two", "mine")] == list(unit.items("t"))


@pytest.mark.parametrize("present", [True, False])
def test_units_on_one_key_are_serialised_even_when_it_is_absent(
    store: PostgresStore, dsn: str, present: bool
) -> None:
    if present:
        with store.unit() as unit:
            unit.put("counters", "c", 0)
    seen: list[Any] = []

    def increment(unit: Any) -> None:
        value = unit.get("counters", "c")
        seen.append(value)
        unit.put("counters", "c", (value or 0) + 1)

    holder = Holder(store, increment)  # has read the key and holds it
    second = threading.Thread(target=lambda: _in_unit(store, increment))
    second.start()
    try:
        until(lambda: waiting_for_advisory_locks(dsn) == 1)  # the second waits for the key
        assert 1 == len(seen)
    finally:
        holder.finish()
        second.join(DEADLINE)
    # The second read what the first committed: no lost update, no double insert.
    assert [0 if present else None, 1] == seen
    with store.unit(readonly=True) as unit:
        assert 2 == unit.get("counters", "c")


def _in_unit(store: PostgresStore, body: Callable[[Any], object]) -> None:
    with store.unit() as unit:
        body(unit)


def test_a_key_held_past_the_busy_timeout_is_store_busy_and_changes_nothing(dsn: str) -> None:
    with PostgresStore(dsn, busy_timeout=0.05) as store:
        holder = Holder(store, lambda unit: (unit.get("t", "k"), unit.put("t", "k", "holder's")))
        try:
            with pytest.raises(StoreBusy) as busy:
                _in_unit(store, lambda unit: (unit.put("t", "other", "mine"), unit.get("t", "k")))
        finally:
            holder.finish()
        assert 1 == busy.value.retry_after_seconds
        with store.unit(readonly=True) as unit:
            assert [("k", "holder's")] == list(unit.items("t"))


def test_a_deadlock_between_two_units_is_store_busy_for_one_of_them(
    store: PostgresStore, dsn: str
) -> None:
    # Writes alone wait to travel with the commit, which takes their locks in the order
    # written: the first reads (locks) a, the second commits b then a and waits on a,
    # then the first's commit wants b.
    first_has_a = threading.Event()
    outcome: list[BaseException | None] = []

    def run(body: Callable[[Any], None]) -> None:
        try:
            with store.unit() as unit:
                body(unit)
            outcome.append(None)
        except StoreBusy as error:
            outcome.append(error)

    def first(unit: Any) -> None:
        unit.get("t", "a")
        unit.put("t", "a", 1)
        first_has_a.set()
        until(lambda: waiting_for_advisory_locks(dsn) == 1)  # the second waits on a
        unit.put("t", "b", 1)

    def second(unit: Any) -> None:
        assert first_has_a.wait(DEADLINE)
        unit.put("t", "b", 2)
        unit.put("t", "a", 2)

    thread = threading.Thread(target=run, args=(first,))
    thread.start()
    try:
        run(second)
    finally:
        thread.join(DEADLINE)
    assert 1 == sum(isinstance(result, StoreBusy) for result in outcome)
    with store.unit(readonly=True) as unit:
        values = dict(unit.items("t"))
    assert values in ({"a": 1, "b": 1}, {"a": 2, "b": 2})  # one unit whole, the other not


def test_an_unreachable_server_is_store_busy(postgres_dsn: str) -> None:
    dsn = postgres_dsn.replace("dbname=postgres", "dbname=no_such_database")
    with pytest.raises(StoreBusy, match=r"cannot be reached or set up.*no_such_database"):
        PostgresStore(dsn, busy_timeout=0.2)


def test_another_driver_error_is_an_internal_error_and_rolls_the_unit_back(
    store: PostgresStore, dsn: str
) -> None:
    with store.unit() as unit:
        unit.put("t", "k", "kept")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("ALTER TABLE documents RENAME TO documents_away")
    try:
        with pytest.raises(InternalError) as error, store.unit() as unit:
            unit.get("t", "k")
        assert isinstance(error.value.__cause__, psycopg.Error)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("ALTER TABLE documents_away RENAME TO documents")
    with store.unit() as unit:  # the store is usable again
        assert "kept" == unit.get("t", "k")


def test_the_unit_instant_is_the_database_clock_read_once(store: PostgresStore, dsn: str) -> None:
    def database_now() -> Any:
        with psycopg.connect(dsn, autocommit=True) as connection:
            row = connection.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        return row[0]

    before = database_now()
    with store.unit() as unit:
        first = unit.now
        assert first is unit.now
    after = database_now()
    assert first.tzinfo == UTC
    assert before <= first <= after
    with store.unit(readonly=True) as unit:
        assert unit.now >= first


def test_the_schema_is_versioned_and_a_newer_one_is_refused(dsn: str) -> None:
    PostgresStore(dsn).close()
    PostgresStore(dsn).close()  # a second replica finds the schema in place
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute("SELECT version FROM taskcore_schema").fetchall()
        assert [(SCHEMA_VERSION,)] == rows
        connection.execute("UPDATE taskcore_schema SET version = version + 1")
    with pytest.raises(InternalError) as error:
        PostgresStore(dsn)
    assert "newer" in str(error.value.__cause__)


def test_settings_are_checked(dsn: str) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        PostgresStore(dsn, busy_timeout=-1)
    for size in (0, True, 1.5):
        with pytest.raises(ValueError, match="pool_size"):
            PostgresStore(dsn, pool_size=size)  # type: ignore[arg-type]


def test_text_postgresql_cannot_hold_is_refused_and_writes_nothing(store: PostgresStore) -> None:
    for value in ({"a": "x\x00y"}, ["\ud800"], float("nan"), {"a": float("inf")}):
        with pytest.raises(ValueError, match=r"NUL|Out of range"), store.unit() as unit:
            unit.put("t", "k", value)
    for key in ("a\x00", "\udfff"):
        with pytest.raises(ValueError, match="cannot hold NUL"), store.unit() as unit:
            unit.put("t", key, 1)
        with pytest.raises(ValueError, match="cannot hold NUL"), store.unit() as unit:
            unit.put_row(RowTable("r", {"c": int}), key, {"c": 1})
    with store.unit() as unit:
        unit.put("t", "k", {"text": "a literal \\u0000 is fine", "n": 1.5, "é": [True, None]})
        assert unit.get("t", "a\x00") is None  # nothing can be there
        unit.delete("t", "a\x00")
        unit.delete_row(RowTable("r", {"c": int}), "a\x00")
    with store.unit(readonly=True) as unit:
        assert [("k", {"text": "a literal \\u0000 is fine", "n": 1.5, "é": [True, None]})] == list(
            unit.items("t")
        )


def test_a_row_table_declared_otherwise_in_the_database_is_refused(dsn: str) -> None:
    with PostgresStore(dsn) as store, store.unit() as unit:
        unit.put_row(RowTable("r", {"c": int}, sortable=["c"]), "k", {"c": 1})
    with PostgresStore(dsn) as store:  # another replica, with a newer declaration
        with store.unit(readonly=True) as unit:
            assert ["k"] == unit.select(RowTable("r", {"c": int}), {})
        with pytest.raises(ValueError, match="has the columns"), store.unit() as unit:
            unit.put_row(RowTable("r", {"c": str}), "k", {"c": "x"})
        wider = RowTable("r", {"c": int}, sortable=["c"], indexes=[("c",)])
        with store.unit() as unit:
            unit.put_row(wider, "k2", {"c": 2})
        with store.unit() as unit:
            assert ["k2", "k"] == unit.select(wider, {}, order_by="c", descending=True)


def test_lock_ids_are_64_bit_and_tell_table_from_key() -> None:
    assert lock_id("ab", "c") != lock_id("a", "bc")
    assert -(2**63) <= lock_id("t", "\udfff") < 2**63


# Keys a PostgreSQL store can hold; bounds may be anything (NUL, surrogates).
STORABLE = st.text(st.sampled_from(["a", "b", "Z", "0", "é", "\uffff", "\U00010000"]), max_size=3)
BOUNDS = st.text(
    st.sampled_from(["a", "b", "Z", "0", "é", "\x00", "\ud800", "\uffff", "\U00010000"]),
    max_size=3,
)


@settings(max_examples=min(settings().max_examples, 40))
@given(
    committed=st.dictionaries(STORABLE, st.integers(0, 9), max_size=10),
    start=BOUNDS,
    stop=st.none() | BOUNDS,
    limit=st.none() | st.integers(0, 6),
)
def test_scan_is_the_python_sorted_filter_whatever_the_bounds(
    postgres_dsn: str,
    committed: dict[str, int],
    start: str,
    stop: str | None,
    limit: int | None,
) -> None:
    wipe(postgres_dsn)
    pairs = sorted(
        (k, v) for k, v in committed.items() if start <= k and (stop is None or k < stop)
    )
    with PostgresStore(postgres_dsn) as store:
        with store.unit() as unit:
            for key, value in committed.items():
                unit.put("t", key, value)
        with store.unit(readonly=True) as unit:
            got = list(unit.scan("t", start=start, stop=stop, limit=limit))
    assert (pairs if limit is None else pairs[:limit]) == got


def test_a_client_killed_mid_unit_loses_nothing_and_holds_no_lock(dsn: str) -> None:
    PostgresStore(dsn).close()  # the schema, before the child
    ready = SPAWN.Queue()
    child = SPAWN.Process(target=hold_a_unit_until_killed, args=(f"postgres:{dsn}", ready))
    child.start()
    assert child.pid is not None
    try:
        assert "inside" == ready.get(timeout=120)
        with PostgresStore(dsn, busy_timeout=0.05) as store, pytest.raises(StoreBusy):
            _in_unit(store, lambda unit: unit.get("t", "held"))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(120)
    ready.close()
    with PostgresStore(dsn, busy_timeout=0.05) as store:
        seen: list[Any] = []

        def free() -> bool:
            try:
                _in_unit(store, lambda unit: seen.append(unit.get("t", "held")))
            except StoreBusy:
                return False
            return True

        until(free)  # the server rolled the dead client's unit back: its lock is gone
        assert [None] == seen


def test_the_store_package_names_postgres_store_but_imports_it_on_first_use() -> None:
    import taskcore.store

    assert taskcore.store.PostgresStore is PostgresStore
    assert "PostgresStore" in taskcore.store.__all__
    with pytest.raises(AttributeError, match="no attribute 'NoSuchStore'"):
        taskcore.store.NoSuchStore  # noqa: B018


def test_the_store_package_imports_without_psycopg() -> None:
    program = """
import sys
sys.modules["psycopg"] = None  # as if psycopg were not installed
import taskcore.store
from taskcore.store import MemoryStore
with MemoryStore() as store, store.unit() as unit:
    unit.put("t", "k", 1)
assert "taskcore.store.postgres" not in sys.modules
try:
    taskcore.store.PostgresStore
except ImportError as error:
    print(error)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == done.returncode, done.stderr
    assert "PostgresStore needs psycopg 3: pip install 'taskcore[postgres]'" == done.stdout.strip()


def test_the_lock_and_act_functions_are_created_when_missing(dsn: str) -> None:
    PostgresStore(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as connection:
        # A database set up before the functions existed (or whose functions were lost).
        connection.execute("DROP FUNCTION taskcore_get_v1(bigint, text, text)")
    with PostgresStore(dsn) as store:
        with store.unit() as unit:
            unit.put("t", "k", 1)
            unit.delete("t", "gone")
        with store.unit() as unit:
            assert 1 == unit.get("t", "k")
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT proname FROM pg_proc WHERE proname LIKE 'taskcore\\_%' ORDER BY 1"
        ).fetchall()
    assert [("taskcore_delete_v1",), ("taskcore_get_v1",), ("taskcore_put_v1",)] == rows


def test_a_write_alone_is_locked_when_the_unit_next_sends_a_statement(
    store: PostgresStore, dsn: str
) -> None:
    with store.unit() as unit:
        unit.put("t", "k", "old")
    # A write waits to travel with the unit's next statement (or its commit): until
    # then nothing of it is on the server, and another unit reads and commits freely.
    holder = Holder(store, lambda unit: unit.put("t", "k", "holder's"))
    try:
        with store.unit() as unit:
            assert "old" == unit.get("t", "k")
    finally:
        holder.finish()
    # Once the unit sends anything, the key is locked to its end, as a read locks it.
    holder = Holder(store, lambda unit: (unit.put("t", "k", "again"), unit.get("t", "x")))
    waiter = threading.Thread(target=lambda: _in_unit(store, lambda unit: unit.get("t", "k")))
    waiter.start()
    try:
        until(lambda: waiting_for_advisory_locks(dsn) == 1)
    finally:
        holder.finish()
        waiter.join(DEADLINE)
    with store.unit(readonly=True) as unit:
        assert "again" == unit.get("t", "k")


def test_get_many_locks_every_key_it_reads(store: PostgresStore, dsn: str) -> None:
    holder = Holder(store, lambda unit: unit.get_many([("t", "a"), ("u", "b")]))
    waiter = threading.Thread(target=lambda: _in_unit(store, lambda unit: unit.get("u", "b")))
    waiter.start()
    try:
        until(lambda: waiting_for_advisory_locks(dsn) == 1)
    finally:
        holder.finish()
        waiter.join(DEADLINE)


def test_the_unit_instant_is_read_after_the_locks_it_waited_for(
    store: PostgresStore, dsn: str
) -> None:
    holder = Holder(store, lambda unit: (unit.get("t", "k"), unit.put("t", "k", 1)))
    instants: list[Any] = []

    def later(unit: Any) -> None:
        unit.get("t", "k")  # waits for the holder
        instants.append(unit.now)

    waiter = threading.Thread(target=lambda: _in_unit(store, later))
    waiter.start()
    try:
        until(lambda: waiting_for_advisory_locks(dsn) == 1)
        with psycopg.connect(dsn, autocommit=True) as connection:
            row = connection.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
    finally:
        holder.finish()
        waiter.join(DEADLINE)
    assert [True] == [instant >= row[0] for instant in instants]
