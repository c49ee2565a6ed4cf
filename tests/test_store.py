"""The store port's rules, on every store: units commit whole or not at all."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from postgres_server import wipe
from taskcore.clock import ManualClock
from taskcore.errors import StoreBusy
from taskcore.store import MemoryStore, SqliteStore, Store, Unit
from taskcore.store.postgres import PostgresStore

StoreFactory = Callable[[ManualClock], Store]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    made: list[Store] = []
    dsn = ""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)

    def make(clock: ManualClock) -> Store:
        if request.param == "memory":
            store: Store = MemoryStore(clock=clock)
        elif request.param == "postgres":
            store = PostgresStore(dsn, clock=clock)
        else:
            store = SqliteStore(tmp_path / f"store-{len(made)}.db", clock=clock)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store(ManualClock())


class Boom(Exception):
    pass


def snapshot(store: Store, *tables: str) -> dict[str, list[tuple[str, object]]]:
    with store.unit() as unit:
        return {table: list(unit.items(table)) for table in tables}


def test_every_store_implements_the_port(store: Store) -> None:
    assert isinstance(store, Store)
    with store.unit() as unit:
        assert isinstance(unit, Unit)


def test_a_committed_unit_is_seen_by_the_next(store: Store) -> None:
    with store.unit() as unit:
        unit.put("tasks", "t1", {"status": "queued", "n": [1, 2.5, True, None]})
    with store.unit() as unit:
        assert {"status": "queued", "n": [1, 2.5, True, None]} == unit.get("tasks", "t1")
        assert unit.get("tasks", "t2") is None
        assert unit.get("other", "t1") is None


def test_a_unit_sees_its_own_writes_before_commit(store: Store) -> None:
    with store.unit() as unit:
        unit.put("tasks", "t1", 1)
        assert 1 == unit.get("tasks", "t1")
        unit.delete("tasks", "t1")
        assert unit.get("tasks", "t1") is None
        assert [] == list(unit.items("tasks"))


def test_a_unit_that_raises_leaves_nothing_behind(store: Store) -> None:
    with store.unit() as unit:
        unit.put("tasks", "kept", "old")
        unit.put("tasks", "doomed", "old")
    before = snapshot(store, "tasks", "locks")

    def change_everything_then_fail() -> None:
        with store.unit() as unit:
            unit.put("tasks", "kept", "new")
            unit.put("tasks", "kept", "newer")
            unit.delete("tasks", "doomed")
            unit.delete("tasks", "never-was")
            unit.delete("no such table", "never-was")
            unit.put("tasks", "fresh", 1)
            unit.put("locks", "ds", [1])
            raise Boom

    with pytest.raises(Boom):
        change_everything_then_fail()
    assert before == snapshot(store, "tasks", "locks")


def test_items_are_sorted_by_key(store: Store) -> None:
    keys = ["b", "a", "é", "Z", "a1", "10", "9"]
    with store.unit() as unit:
        for key in keys:
            unit.put("t", key, key.upper())
        unit.put("u", "other table", 0)
    with store.unit() as unit:
        assert [(key, key.upper()) for key in sorted(keys)] == list(unit.items("t"))
        assert [] == list(unit.items("nothing"))


def test_the_unit_instant_is_the_store_clocks_read_once(make_store: StoreFactory) -> None:
    clock = ManualClock()
    store = make_store(clock)
    with store.unit() as unit:
        first = unit.now
        clock.advance(5)
        assert first == unit.now
    with store.unit() as unit:
        assert first + timedelta(seconds=5) == unit.now


def test_units_do_not_nest(store: Store) -> None:
    with store.unit() as unit:
        unit.put("t", "k", 1)
        with pytest.raises(RuntimeError, match="units do not nest"):
            store.unit().__enter__()
    assert {"t": [("k", 1)]} == snapshot(store, "t")


def test_a_closed_store_refuses_units(store: Store) -> None:
    store.close()
    with pytest.raises(RuntimeError, match="closed"), store.unit():
        pass  # pragma: no cover - never reached


def test_units_of_many_threads_are_serialised(store: Store) -> None:
    def add_one_hundred() -> None:
        for _ in range(100):
            with store.unit() as unit:
                unit.put("c", "n", (unit.get("c", "n") or 0) + 1)

    threads = [threading.Thread(target=add_one_hundred) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {"c": [("n", 400)]} == snapshot(store, "c")


def test_the_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "taskcore.db"
    with SqliteStore(path) as store, store.unit() as unit:
        unit.put("tasks", "t1", {"status": "completed"})
    with SqliteStore(path) as reopened, reopened.unit() as unit:
        assert [("t1", {"status": "completed"})] == list(unit.items("tasks"))


def test_the_sqlite_store_refuses_a_value_that_is_not_json(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "taskcore.db") as store:

        def put_a_bad_value() -> None:
            with store.unit() as unit:
                unit.put("t", "ok", 1)
                unit.put("t", "bad", object())

        with pytest.raises(TypeError):
            put_a_bad_value()
        assert {"t": []} == snapshot(store, "t")


def test_the_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "taskcore.db", synchronous="FULL").close()
    connection = sqlite3.connect(tmp_path / "taskcore.db")
    try:
        assert ("wal",) == connection.execute("PRAGMA journal_mode").fetchone()
    finally:
        connection.close()


def test_a_busy_sqlite_store_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "taskcore.db"
    with SqliteStore(path) as holder, SqliteStore(path, busy_timeout=0.05) as waiter:
        with holder.unit() as unit:
            unit.put("t", "k", "holder's")
            with pytest.raises(StoreBusy, match="locked"), waiter.unit():
                pass  # pragma: no cover - never reached
        assert {"t": [("k", "holder's")]} == snapshot(waiter, "t")


def test_get_many_answers_what_get_answers(store: Store) -> None:
    with store.unit() as unit:
        unit.put("t", "a", {"n": 1})
        unit.put("u", "a", [2])
        unit.put("t", "gone", 0)
    wanted = [("t", "a"), ("u", "a"), ("t", "missing"), ("t", "a"), ("t", "gone"), ("t", "a\x00")]
    with store.unit() as unit:
        unit.delete("t", "gone")  # the unit's own writes, before and after
        unit.put("t", "new", "mine")
        found = unit.get_many([*wanted, ("t", "new")])
        assert {
            ("t", "a"): {"n": 1},
            ("u", "a"): [2],
            ("t", "missing"): None,
            ("t", "gone"): None,
            ("t", "a\x00"): None,
            ("t", "new"): "mine",
        } == found
        assert {} == unit.get_many([])
        assert {"n": 1} == unit.get("t", "a")  # read again: the same answer
        unit.put("t", "a", {"n": 2})
        assert {("t", "a"): {"n": 2}} == unit.get_many(iter([("t", "a")]))
    with store.unit(readonly=True) as unit:
        assert {("t", "a"): {"n": 2}, ("t", "gone"): None} == unit.get_many(
            [("t", "a"), ("t", "gone")]
        )


def test_a_unit_sees_its_own_writes_in_every_read(store: Store) -> None:
    with store.unit() as unit:
        unit.put("t", "b", "old")
    with store.unit() as unit:
        for n in range(1_200):  # more than a PostgreSQL unit keeps waiting to be sent
            unit.put("t", f"k{n:04}", "x" * 1_000)
        unit.put("t", "b", "new")
        unit.delete("t", "k0000")
        assert [("k0001", "x" * 1_000)] == list(unit.scan("t", start="k", limit=1))
        assert 1_200 == len(list(unit.items("t")))
        assert "new" == unit.get("t", "b")
    with store.unit(readonly=True) as unit:
        assert "new" == unit.get("t", "b")
        assert 1_200 == len(list(unit.items("t")))


def test_a_unit_used_after_its_end_refuses_to_run(store: Store) -> None:
    if isinstance(store, MemoryStore):
        return  # the memory store's units hold no connection to end
    with store.unit() as unit:
        unit.put("t", "k", 1)
        assert 1 == unit.get("t", "k")
    with pytest.raises(RuntimeError, match="has ended"):
        unit.get("t", "k")
    with pytest.raises(RuntimeError, match="has ended"):
        unit.put("t", "k", 2)
