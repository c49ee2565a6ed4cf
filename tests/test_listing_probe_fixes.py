"""Edges found by probing the row tables and the Visual Layer listing from outside:
NUL in text, declarations that change between runs, a busy file while a store sets it
up, retention that changes, and text the service would otherwise keep half-checked."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskcore.clock import ManualClock
from taskcore.errors import ValidationError
from taskcore.http import Request
from taskcore.keys import _encode, composite_key
from taskcore.store import Eq, In, MemoryStore, RowsStore, RowTable, SqliteStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.errors import InvalidParameter
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery

ME = "rachel@visual-layer.com"
OWNERS = RowTable("owners", {"owner": str, "n": int}, sortable=["n"])


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made: RowsStore = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s")
    with made:
        yield made


def test_text_with_nul_is_refused_in_rows_and_filters(store: RowsStore) -> None:
    with store.unit() as unit:
        unit.put_row(OWNERS, "alice-row", {"owner": "alice", "n": 1})
        with pytest.raises(ValueError, match="NUL"):
            unit.put_row(OWNERS, "mallory-row", {"owner": "alice\x00mallory", "n": 2})
    with store.unit(readonly=True) as unit:
        for where in ({"owner": In({"alice\x00mallory"})}, {"owner": Eq("alice\x00")}):
            with pytest.raises(ValueError, match="NUL"):
                unit.select(OWNERS, where)
        assert ["alice-row"] == unit.select(OWNERS, {})


def test_in_and_a_filter_must_be_collections_not_strings(store: RowsStore) -> None:
    with pytest.raises(ValueError, match="not the string"):
        In("abc")
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="maps column"):
        unit.count(OWNERS, [("owner", Eq("a"))])  # type: ignore[arg-type]


@pytest.mark.parametrize(("offset", "limit"), [(2**63, None), (0, 2**63)])
def test_an_offset_or_limit_past_64_bits_is_refused_alike(
    store: RowsStore, offset: int, limit: int | None
) -> None:
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="2\\*\\*63"):
        unit.select(OWNERS, {}, offset=offset, limit=limit)


def test_memory_a_read_or_a_rolled_back_write_does_not_fix_a_declaration() -> None:
    other = RowTable("owners", {"owner": str, "n": int}, sortable=["owner"])
    with MemoryStore() as store:
        with store.unit(readonly=True) as unit:
            assert 0 == unit.count(OWNERS, {})

        def boom() -> None:
            with store.unit() as unit:
                unit.put_row(OWNERS, "k", {"owner": "a", "n": 1})
                raise KeyError

        with pytest.raises(KeyError):
            boom()
        with store.unit() as unit:
            unit.put_row(other, "k", {"owner": "a", "n": 1})
        with store.unit(readonly=True) as unit:
            assert ["k"] == unit.select(other, {}, order_by="owner")


def test_sqlite_a_reopened_file_refuses_other_column_types(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s") as store, store.unit() as unit:
        unit.put_row(OWNERS, "k", {"owner": "a", "n": 1})
    swapped = RowTable("owners", {"owner": int, "n": str}, sortable=["n"])
    with (
        SqliteStore(tmp_path / "s") as store,
        store.unit() as unit,
        pytest.raises(ValueError, match="in the file"),
    ):
        unit.put_row(swapped, "k2", {"owner": 5, "n": "x"})


def test_sqlite_a_newly_sortable_column_gets_its_index_at_the_next_write(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s") as store, store.unit() as unit:
        unit.put_row(OWNERS, "k", {"owner": "a", "n": 1})
    more = RowTable("owners", {"owner": str, "n": int}, sortable=["n", "owner"])
    with SqliteStore(tmp_path / "s") as store:
        with store.unit(readonly=True) as unit:  # reads work before the index exists
            assert ["k"] == unit.select(more, {}, order_by="owner")
        with store.unit() as unit:
            unit.put_row(more, "k2", {"owner": "b", "n": 2})
    connection = sqlite3.connect(tmp_path / "s")
    try:
        names = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()
    assert "rows_owners__owner" in names


def test_sqlite_setting_up_a_file_another_connection_holds_waits_instead_of_failing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")  # a file in rollback-journal mode
    holder.execute("BEGIN")
    holder.execute("INSERT INTO other VALUES (1)")  # a writer holds its reserved lock
    released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        # Switching the file to WAL needs it alone and does not wait on SQLite's busy
        # handler: the store retries until its busy timeout instead of failing at once.
        with SqliteStore(path, busy_timeout=10) as store, store.unit() as unit:
            unit.put("t", "k", 1)
    finally:
        released.join()
        holder.close()


def test_a_long_key_is_not_kept_by_the_key_cache() -> None:
    before = _encode.cache_info().currsize
    composite_key("x" * 10_000)
    composite_key("a", "b" * 300)
    assert before == _encode.cache_info().currsize


# -- the Visual Layer service and router ------------------------------------------------


def test_users_given_as_one_string_are_refused() -> None:
    service = VisualLayerTasks()
    with pytest.raises(ValidationError) as caught:
        service.add_dataset("D", "alice@x.com")
    assert "users" == caught.value.field
    assert 0 == service.list("a").total


@pytest.mark.parametrize("bad", ["a\x00b", "bad \ud800 message"])
def test_a_failure_message_or_name_that_is_not_clean_text_is_refused(bad: str) -> None:
    service = VisualLayerTasks()
    with pytest.raises(ValidationError):
        service.add_dataset(bad, [ME])
    dataset = service.add_dataset("D", [ME])
    task_id = service.submit(dataset.dataset_id, TaskType.ENRICHMENT, ME).task.task_id
    service.start(task_id)
    with pytest.raises(ValidationError) as caught:
        service.fail(task_id, bad)
    assert "error_message" == caught.value.field
    assert "RUNNING" == service.get(ME, task_id).task.status


@pytest.mark.parametrize("configuration", [{"\ud800": 1}, {"k": "\udfff"}])
def test_a_configuration_with_a_lone_surrogate_is_refused(configuration: dict[str, Any]) -> None:
    service = VisualLayerTasks()
    dataset = service.add_dataset("D", [ME])
    with pytest.raises(ValidationError) as caught:
        service.submit(dataset.dataset_id, TaskType.ENRICHMENT, ME, configuration)
    assert "configuration" == caught.value.field
    assert 0 == service.list(ME).total


def test_a_query_that_is_not_a_task_query_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        VisualLayerTasks().list(ME, {"page": 1})  # type: ignore[arg-type]
    assert "query" == caught.value.field


@pytest.mark.parametrize("user", ["\ud800", "a\x00"])
def test_a_token_naming_an_unusable_user_is_401(user: str) -> None:
    router = visual_layer_router(VisualLayerTasks(), {"tok": user})
    answer = router.handle(Request("GET", "/api/v1/tasks", {"Authorization": "Bearer tok"}))
    assert (401, "Bearer") == (answer.status, answer.headers.get("www-authenticate"))


@pytest.mark.parametrize(
    "value",
    [
        "1" * 100_000,
        "2024-W11-4",
        "20240314T153000",
        "2024-03-14 15:30:00",
        "2024-03-14T15",
        "2024-03-14T15:30:00,5Z",
        "2024-03-14T15:30:00.123456789Z",
    ],
)
def test_a_time_bound_that_is_not_an_rfc_3339_time_or_a_date_is_422(value: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        TaskQuery.build(start_time_to=value)
    assert "start_time_to" == caught.value.field


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T00:00:00Z", "2026-03-01t00:00:00z", "2026-03-01", "2026-03-01T01:00:00+01:00"],
)
def test_rfc_3339_times_and_dates_are_time_bounds(value: str) -> None:
    bound = TaskQuery.build(start_time_from=value).start_time_from
    assert bound is not None
    assert "2026-03-01T00:00:00+00:00" == bound.isoformat()


@pytest.mark.parametrize("name", ["dataset_name", "created_by"])
def test_a_text_filter_with_nul_is_422(name: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        TaskQuery.build(**{name: "a\x00b"})
    assert name == caught.value.field


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_retention_set_or_raised_later_applies_to_every_ended_task(
    tmp_path: Path, kind: str
) -> None:
    clock = ManualClock()
    store: RowsStore = (
        MemoryStore(clock) if kind == "memory" else SqliteStore(tmp_path / "r", clock=clock)
    )
    with store:
        keeper = VisualLayerTasks(store)  # no retention
        short = VisualLayerTasks(store, task_retention=timedelta(days=1))
        dataset = keeper.add_dataset("D", [ME])
        kept = keeper.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id
        keeper.abort(ME, kept)
        other = short.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id
        short.abort(ME, other)
        longer = VisualLayerTasks(store, task_retention=timedelta(days=2))
        clock.advance(timedelta(days=1, seconds=1))
        assert 0 == longer.prune()
        assert 2 == longer.list(ME).total
        clock.advance(timedelta(days=1))
        assert 2 == longer.prune()
        assert 0 == longer.list(ME).total
