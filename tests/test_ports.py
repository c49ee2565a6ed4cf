"""Clock, id and store ports (every store: units, read units, busy, scans, closing)."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postgres_server import wipe
from taskcore import ManualClock, SeededIds, SystemClock, UuidIds, format_instant, parse_instant
from taskcore.clock import Clock
from taskcore.errors import StoreBusy
from taskcore.ids import IdFactory
from taskcore.store import MemoryStore, SqliteStore, Store, Unit
from taskcore.store.postgres import PostgresStore


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo == UTC
    assert isinstance(SystemClock(), Clock)


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(datetime(2024, 3, 14, 15, 30))
    assert datetime(2024, 3, 14, 15, 30, tzinfo=UTC) == clock.now()
    assert datetime(2024, 3, 14, 15, 31, tzinfo=UTC) == clock.advance(60)
    assert datetime(2024, 3, 14, 15, 32, tzinfo=UTC) == clock.advance(timedelta(minutes=1))
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(datetime(2024, 1, 1, tzinfo=UTC))
    assert datetime(2024, 3, 14, 15, 32, tzinfo=UTC) == clock.now()
    clock.set(datetime(2024, 3, 14, 17, 0, tzinfo=timezone(timedelta(hours=1))))
    assert datetime(2024, 3, 14, 16, 0, tzinfo=UTC) == clock.now()


def test_instants_format_as_the_seeds_show_them() -> None:
    assert "2024-03-14T15:30:00Z" == format_instant(datetime(2024, 3, 14, 15, 30, tzinfo=UTC))
    assert "2024-03-14T15:30:00.250000Z" == format_instant(
        datetime(2024, 3, 14, 15, 30, 0, 250000, tzinfo=UTC)
    )
    instant = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)
    assert instant == parse_instant("2024-03-14T15:30:00Z")
    assert instant == parse_instant(format_instant(instant))


def test_uuid_ids_have_the_documented_shape() -> None:
    ids = UuidIds()
    first, second = ids(), ids()
    assert first != second
    assert first.startswith("task_")
    assert len(first) == 5 + 36
    assert isinstance(ids, IdFactory)


def test_seeded_ids_replay_and_never_repeat_across_threads() -> None:
    assert [SeededIds(7)() for _ in range(1)] == [SeededIds(7)()]
    ids = SeededIds(1, prefix="wh_")
    seen: list[str] = []

    def take() -> None:
        seen.extend(ids() for _ in range(500))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 2000 == len(set(seen))
    assert all(i.startswith("wh_") and i[3 + 14] == "4" for i in seen)


# --- the store port, on every store ------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Make stores of the parameter's kind (options passed on); all closed afterwards.
    The PostgreSQL stores of one test share one database, emptied when the test begins."""
    made: list[Store] = []
    dsn = ""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)

    def make(**options: Any) -> Store:
        if request.param == "memory":
            store: Store = MemoryStore(**options)
        elif request.param == "postgres":
            store = PostgresStore(dsn, **options)
        else:
            store = SqliteStore(tmp_path / f"store-{len(made)}.db", **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


def everything(store: Store, *tables: str) -> dict[str, list[tuple[str, Any]]]:
    with store.unit(readonly=True) as unit:
        return {table: list(unit.items(table)) for table in tables}


def test_a_read_unit_sees_what_was_committed(store: Store) -> None:
    with store.unit() as unit:
        unit.put("t", "a", {"n": 1})
        unit.put("t", "b", [2])
    with store.unit(readonly=True) as unit:
        assert isinstance(unit, Unit)
        assert {"n": 1} == unit.get("t", "a")
        assert [("a", {"n": 1}), ("b", [2])] == list(unit.items("t"))
        assert [("b", [2])] == list(unit.scan("t", start="b"))


def test_a_read_unit_refuses_to_write_and_changes_nothing(store: Store) -> None:
    with store.unit() as unit:
        unit.put("t", "a", 1)
    before = everything(store, "t")
    with store.unit(readonly=True) as unit:
        with pytest.raises(RuntimeError, match="read-only"):
            unit.put("t", "a", 2)
        with pytest.raises(RuntimeError, match="read-only"):
            unit.put("t", "new", 2)
        with pytest.raises(RuntimeError, match="read-only"):
            unit.delete("t", "a")
        assert 1 == unit.get("t", "a")
    with pytest.raises(RuntimeError, match="read-only"), store.unit(readonly=True) as unit:
        unit.put("t", "a", 3)
    assert before == everything(store, "t")


def test_a_read_unit_reads_its_instant_at_first_use(make_store: Callable[..., Store]) -> None:
    clock = ManualClock()
    store = make_store(clock=clock)
    with store.unit(readonly=True) as unit:
        clock.advance(3)
        first = unit.now
        clock.advance(5)
        assert clock.now() - timedelta(seconds=5) == first == unit.now


def test_read_units_do_not_nest_either(store: Store) -> None:
    with store.unit(readonly=True):
        with pytest.raises(RuntimeError, match="units do not nest"):
            store.unit().__enter__()
        with pytest.raises(RuntimeError, match="units do not nest"):
            store.unit(readonly=True).__enter__()


def test_a_unit_kept_from_its_lock_past_the_busy_timeout_is_store_busy(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(busy_timeout=0.05)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.unit() as unit:
            unit.get("t", "k")  # holds it (PostgreSQL: a write alone waits for the commit)
            unit.put("t", "k", "holder's")
            holding.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(StoreBusy) as busy, store.unit() as unit:
            unit.put("t", "k", "waiter's")  # SQLite: never reached; PostgreSQL: at commit
    finally:
        done.set()
        holder.join(30)
    assert (503, "STORE_BUSY", "Service unavailable") == (
        busy.value.status,
        busy.value.code,
        busy.value.title,
    )
    assert 1 == busy.value.retry_after_seconds == busy.value.retry_after
    assert 1 == busy.value.details["retryAfterSeconds"]
    assert {"t": [("k", "holder's")]} == everything(store, "t")
    with store.unit() as unit:  # the store is usable again
        unit.put("t", "k", "waiter's")
    assert {"t": [("k", "waiter's")]} == everything(store, "t")


def test_a_negative_busy_timeout_is_refused(make_store: Callable[..., Store]) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        make_store(busy_timeout=-1)


def test_a_store_closes_when_its_with_block_ends_and_closing_again_is_harmless(
    make_store: Callable[..., Store],
) -> None:
    with make_store() as store:
        with store.unit() as unit:
            unit.put("t", "k", 1)
        assert isinstance(store, Store)
    for readonly in (False, True):
        with pytest.raises(RuntimeError, match="closed"), store.unit(readonly=readonly):
            pass  # pragma: no cover - never reached
    store.close()
    with store:
        pass
    with pytest.raises(RuntimeError, match="closed"), store.unit():
        pass  # pragma: no cover - never reached


def test_scan_returns_the_keys_from_start_to_before_stop_ascending_at_most_limit(
    store: Store,
) -> None:
    keys = ["b", "a", "é", "Z", "a1", "10", "9", "\U0001f600", "\uffff"]
    with store.unit() as unit:
        for key in keys:
            unit.put("t", key, key * 2)
        unit.put("u", "a", "other table")
    with store.unit() as unit:
        assert [(k, k * 2) for k in sorted(keys)] == list(unit.scan("t"))
        assert ["a", "a1", "b"] == [k for k, _ in unit.scan("t", start="a", stop="b\x00")]
        assert ["a", "a1"] == [k for k, _ in unit.scan("t", start="a", stop="b")]
        assert ["a1", "b"] == [k for k, _ in unit.scan("t", start="a0", limit=2)]
        assert ["é", "\uffff", "\U0001f600"] == [k for k, _ in unit.scan("t", start="c")]
        assert [] == list(unit.scan("t", start="b", stop="a"))
        assert [] == list(unit.scan("t", limit=0))
        assert [] == list(unit.scan("nothing", start="a", limit=3))
        unit.put("t", "aa", 0)  # a unit's scan sees its own writes
        unit.delete("t", "a1")
        assert [("a", "aa"), ("aa", 0), ("b", "bb")] == list(unit.scan("t", start="a", limit=3))


@pytest.mark.parametrize("limit", [-1, 1.5, True])
def test_scan_refuses_a_limit_that_is_not_a_whole_number_from_zero(
    store: Store, limit: Any
) -> None:
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="scan limit"):
        unit.scan("t", limit=limit)


KEYS = st.text(
    st.sampled_from(["a", "b", "Z", "0", "é", "\x00", "\uffff", "\U00010000"]), max_size=3
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@given(
    committed=st.dictionaries(KEYS, st.integers(0, 9), max_size=12),
    changes=st.lists(st.tuples(KEYS, st.none() | st.integers(10, 19)), max_size=6),
    start=KEYS,
    stop=st.none() | KEYS,
    limit=st.none() | st.integers(0, 6),
)
def test_scan_is_a_sorted_filter_of_what_the_unit_sees(
    kind: str,
    committed: dict[str, int],
    changes: list[tuple[str, int | None]],
    start: str,
    stop: str | None,
    limit: int | None,
) -> None:
    def expected(model: dict[str, int]) -> list[tuple[str, int]]:
        pairs = sorted(
            (k, v) for k, v in model.items() if start <= k and (stop is None or k < stop)
        )
        return pairs if limit is None else pairs[:limit]

    with tempfile.TemporaryDirectory() as directory:
        made = MemoryStore() if kind == "memory" else SqliteStore(Path(directory) / "s.db")
        with made as store:
            with store.unit() as unit:
                for key, value in committed.items():
                    unit.put("t", key, value)
                unit.put("t0", "", "a neighbouring table")
            with store.unit(readonly=True) as unit:
                assert expected(committed) == list(
                    unit.scan("t", start=start, stop=stop, limit=limit)
                )
            model = dict(committed)
            with store.unit() as unit:
                for key, change in changes:
                    if change is None:
                        unit.delete("t", key)
                        model.pop(key, None)
                    else:
                        unit.put("t", key, change)
                        model[key] = change
                assert expected(model) == list(unit.scan("t", start=start, stop=stop, limit=limit))

            # A unit that scans, changes and then raises leaves the scan as it was.
            def change_then_fail() -> None:
                with store.unit() as unit:
                    list(unit.scan("t"))
                    for key, change in changes:
                        if change is None:
                            unit.put("t", key + "x", 0)
                        else:
                            unit.delete("t", key)
                    raise LookupError

            with pytest.raises(LookupError):
                change_then_fail()
            with store.unit(readonly=True) as unit:
                assert expected(model) == list(unit.scan("t", start=start, stop=stop, limit=limit))
