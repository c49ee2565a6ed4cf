"""The Chunkr task service on both stores: the documented operations, the update cycle
with its reverts, tenancy, expiry with its purge sweep, the usage limit, and refused
calls that change nothing (docs/chunkr.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from taskcore.chunkr import (
    Chunk,
    ChunkrStatus,
    ChunkrTask,
    ChunkrTaskNotFound,
    ChunkrTasks,
    Configuration,
    ConfigurationUnchanged,
    Output,
    Segment,
    TaskNotCancellable,
    TaskNotDeletable,
    TaskNotUpdatable,
    UsageLimitExceeded,
)
from taskcore.chunkr.service import FILES, OUTPUTS, TASKS
from taskcore.chunkr.wire import parse_create, parse_update
from taskcore.clock import ManualClock
from taskcore.errors import IdCollision, IllegalTransition, TaskcoreError, ValidationError
from taskcore.ids import SeededIds
from taskcore.quota import Quota, WindowQuota
from taskcore.store import MemoryStore, SqliteStore, Store

ME, OTHER = "user_me", "user_other"
S = ChunkrStatus
OUTPUT = Output([Chunk("c1", [Segment("s1", "Text", "hello world")])], page_count=1)


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_service(
    store_kind: str, clock: ManualClock, tmp_path: Path
) -> Iterator[Callable[..., ChunkrTasks]]:
    stores: list[Store] = []

    def make(**options: Any) -> ChunkrTasks:
        store: Store
        if store_kind == "memory":
            store = MemoryStore(clock=clock)
        else:
            store = SqliteStore(tmp_path / f"chunkr-{len(stores)}.db", clock=clock)
        stores.append(store)
        return ChunkrTasks(store, ids=SeededIds(3, prefix=""), **options)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def service(make_service: Callable[..., ChunkrTasks]) -> ChunkrTasks:
    return make_service()


def create(service: ChunkrTasks, user: str = ME, **config: Any) -> ChunkrTask:
    return service.create(user, parse_create({"file": "aGVsbG8=", "file_name": "a.pdf", **config}))


def succeeded(service: ChunkrTasks, clock: ManualClock, **config: Any) -> ChunkrTask:
    task = create(service, **config)
    clock.advance(1)
    service.start(task.task_id)
    clock.advance(1)
    return service.succeed(task.task_id, OUTPUT)


def snapshot(service: ChunkrTasks) -> list[tuple[str, Any]]:
    with service.store.unit(readonly=True) as unit:
        return list(unit.items(TASKS)) + list(unit.items(FILES)) + list(unit.items(OUTPUTS))


def refused(service: ChunkrTasks, error: type[TaskcoreError], call: Callable[[], object]) -> Any:
    before = snapshot(service)
    with pytest.raises(error) as raised:
        call()
    assert before == snapshot(service)
    return raised.value


# -- create and get ----------------------------------------------------------------------


def test_create_queues_the_task(service: ChunkrTasks, clock: ManualClock) -> None:
    task = create(service, ocr_strategy="All")
    assert (S.STARTING, "Task queued") == (task.status, task.message)
    assert clock.now() == task.created_at
    assert (None, None, None) == (task.started_at, task.finished_at, task.expires_at)
    assert task == service.get(ME, task.task_id)
    assert "All" == task.configuration.to_wire()["ocr_strategy"]


def test_another_users_task_is_not_found_for_every_operation(service: ChunkrTasks) -> None:
    task = create(service)
    update = parse_update({"high_resolution": True})
    for call in (
        lambda: service.get(OTHER, task.task_id),
        lambda: service.cancel(OTHER, task.task_id),
        lambda: service.update(OTHER, task.task_id, update),
        lambda: service.delete(OTHER, task.task_id),
    ):
        error = refused(service, ChunkrTaskNotFound, call)
        assert "Task not found" == str(error)
        assert 404 == error.status


def test_the_worker_picks_up_succeeds_and_sets_the_timestamps(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    task = create(service, expires_in=60)
    clock.advance(1)
    started = service.start(task.task_id)
    assert (S.PROCESSING, "Task started", clock.now()) == (
        started.status,
        started.message,
        started.started_at,
    )
    clock.advance(2)
    done = service.succeed(task.task_id, OUTPUT)
    assert (S.SUCCEEDED, "Task succeeded") == (done.status, done.message)
    assert OUTPUT == service.output(ME, task.task_id)
    assert clock.now() == done.finished_at
    assert done.finished_at is not None
    assert done.finished_at.timestamp() + 60 == done.expires_at.timestamp()  # type: ignore[union-attr]


def test_a_failed_new_task_gets_its_message_and_finish_times(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    task = create(service, expires_in=5)
    service.start(task.task_id)
    clock.advance(1)
    failed = service.fail(task.task_id, "Could not read the PDF")
    assert (S.FAILED, "Could not read the PDF") == (failed.status, failed.message)
    assert None is service.output(ME, task.task_id)
    assert clock.now() == failed.finished_at


def test_worker_events_out_of_order_are_refused(service: ChunkrTasks) -> None:
    task = create(service)
    refused(service, IllegalTransition, lambda: service.succeed(task.task_id, OUTPUT))
    refused(service, IllegalTransition, lambda: service.fail(task.task_id, "x"))
    refused(service, ValidationError, lambda: service.fail(task.task_id, ""))
    service.start(task.task_id)
    refused(service, IllegalTransition, lambda: service.start(task.task_id))


# -- cancel and delete -------------------------------------------------------------------


def test_cancel_a_new_task_then_delete_it(service: ChunkrTasks, clock: ManualClock) -> None:
    task = create(service)
    cancelled = service.cancel(ME, task.task_id)
    assert (S.CANCELLED, "Task cancelled", clock.now()) == (
        cancelled.status,
        cancelled.message,
        cancelled.finished_at,
    )
    error = refused(service, TaskNotCancellable, lambda: service.cancel(ME, task.task_id))
    assert "Task cannot be cancelled: status is Cancelled" == str(error)
    service.delete(ME, task.task_id)
    refused(service, ChunkrTaskNotFound, lambda: service.get(ME, task.task_id))
    assert [] == snapshot(service)


def test_cancel_is_refused_once_processing(service: ChunkrTasks) -> None:
    task = create(service)
    service.start(task.task_id)
    error = refused(service, TaskNotCancellable, lambda: service.cancel(ME, task.task_id))
    assert "Task cannot be cancelled: status is Processing" == str(error)


@pytest.mark.parametrize("started", [False, True])
def test_delete_is_refused_while_the_task_runs(service: ChunkrTasks, started: bool) -> None:
    task = create(service)
    if started:
        service.start(task.task_id)
    error = refused(service, TaskNotDeletable, lambda: service.delete(ME, task.task_id))
    assert str(error).startswith("Task cannot be deleted: status is ")


# -- the update cycle --------------------------------------------------------------------


def test_update_queues_a_rerun_with_the_merged_configuration(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    done = succeeded(service, clock, ocr_strategy="All", segment_processing={"Table": {}})
    update = parse_update({"segment_processing": {"Text": {"format": "Markdown"}}})
    queued = service.update(ME, done.task_id, update)
    assert (S.STARTING, "Task queued for update") == (queued.status, queued.message)
    assert done.configuration.merge(update) == queued.configuration
    assert (done.finished_at, done.expires_at) == (queued.finished_at, queued.expires_at)
    assert {"Table", "Text"} == {
        k for k, v in queued.configuration.to_wire()["segment_processing"].items() if v
    }


def test_an_update_that_changes_nothing_is_refused(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    done = succeeded(service, clock, ocr_strategy="All")
    for body in ({}, {"ocr_strategy": "All"}):
        call = partial(service.update, ME, done.task_id, parse_update(body))
        error = refused(service, ConfigurationUnchanged, call)
        assert (
            "Task cannot be updated: new configuration must be different from the current one"
            == str(error)
        )


def test_update_is_refused_unless_succeeded_or_failed(service: ChunkrTasks) -> None:
    task = create(service)
    update = parse_update({"high_resolution": True})
    error = refused(service, TaskNotUpdatable, lambda: service.update(ME, task.task_id, update))
    assert "Task cannot be updated: status is Starting" == str(error)


def test_cancelling_a_queued_update_reverts_everything(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    done = succeeded(service, clock, expires_in=600)
    service.update(ME, done.task_id, parse_update({"high_resolution": True}))
    clock.advance(1)
    reverted = service.cancel(ME, done.task_id)
    assert done == reverted


def test_a_failed_rerun_reverts_and_finishes_now(service: ChunkrTasks, clock: ManualClock) -> None:
    done = succeeded(service, clock, expires_in=600)
    service.update(ME, done.task_id, parse_update({"high_resolution": True}))
    clock.advance(5)
    service.start(done.task_id)
    clock.advance(5)
    reverted = service.fail(done.task_id, "out of memory")
    assert (done.status, done.message, done.configuration) == (
        reverted.status,
        reverted.message,
        reverted.configuration,
    )
    assert OUTPUT == service.output(ME, done.task_id)
    assert clock.now() == reverted.finished_at
    assert reverted.started_at is not None
    assert reverted.finished_at is not None
    assert reverted.started_at <= reverted.finished_at


def test_a_failed_task_can_be_rerun_and_a_failed_rerun_stays_failed(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    task = create(service)
    service.start(task.task_id)
    failed = service.fail(task.task_id, "bad scan")
    service.update(ME, task.task_id, parse_update({"high_resolution": True}))
    service.start(task.task_id)
    again = service.fail(task.task_id, "still bad")
    assert (S.FAILED, "bad scan", failed.configuration) == (
        again.status,
        again.message,
        again.configuration,
    )


def test_a_successful_rerun_keeps_the_new_configuration(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    done = succeeded(service, clock)
    queued = service.update(ME, done.task_id, parse_update({"high_resolution": True}))
    service.start(done.task_id)
    output = Output([Chunk("c2", [Segment("s2", "Title", "new")])])
    again = service.succeed(done.task_id, output)
    assert (S.SUCCEEDED, queued.configuration, None) == (
        again.status,
        again.configuration,
        again.previous,
    )
    assert output == service.output(ME, done.task_id)


# -- expiry and purge --------------------------------------------------------------------


def test_an_expired_task_is_not_found_for_every_operation(
    service: ChunkrTasks, clock: ManualClock
) -> None:
    done = succeeded(service, clock, expires_in=10)
    clock.advance(10)
    update = parse_update({"high_resolution": True})
    for call in (
        lambda: service.get(ME, done.task_id),
        lambda: service.cancel(ME, done.task_id),
        lambda: service.update(ME, done.task_id, update),
        lambda: service.delete(ME, done.task_id),
        lambda: service.start(done.task_id),
        lambda: service.succeed(done.task_id, OUTPUT),
        lambda: service.fail(done.task_id, "x"),
    ):
        refused(service, ChunkrTaskNotFound, call)


def test_the_purge_sweep_drops_expired_tasks_only(service: ChunkrTasks, clock: ManualClock) -> None:
    succeeded(service, clock, expires_in=10)
    kept = succeeded(service, clock, expires_in=1000)
    forever = succeeded(service, clock)
    clock.advance(20)
    assert 1 == service.purge()
    with service.store.unit(readonly=True) as unit:
        for table in (TASKS, OUTPUTS, FILES):
            ids = {key for key, _ in unit.items(table)}
            assert {f'["{kept.task_id}"]', f'["{forever.task_id}"]'} == ids


def test_a_stale_expiry_entry_drops_nothing(service: ChunkrTasks, clock: ManualClock) -> None:
    done = succeeded(service, clock, expires_in=10)
    service.update(ME, done.task_id, parse_update({"expires_in": 1000}))
    service.start(done.task_id)
    service.succeed(done.task_id, OUTPUT)
    clock.advance(20)
    assert 1 == service.purge()  # the first run's entry was due; it names a live task
    assert S.SUCCEEDED == service.get(ME, done.task_id).status


def test_creates_purge_expired_tasks_on_the_side(service: ChunkrTasks, clock: ManualClock) -> None:
    done = succeeded(service, clock, expires_in=1)
    clock.advance(5)
    create(service)
    with service.store.unit(readonly=True) as unit:
        assert unit.get(TASKS, f'["{done.task_id}"]') is None


def test_a_default_expiry_applies_when_the_configuration_has_none(
    make_service: Callable[..., ChunkrTasks], clock: ManualClock
) -> None:
    service = make_service(default_expires_in=30)
    done = succeeded(service, clock)
    assert done.finished_at is not None
    assert 30 == (done.expires_at - done.finished_at).total_seconds()  # type: ignore[operator]
    with pytest.raises(ValueError, match="default_expires_in"):
        make_service(default_expires_in=-1)


# -- usage limit -------------------------------------------------------------------------


def test_over_the_usage_limit_a_create_is_refused_and_counts_nothing(
    make_service: Callable[..., ChunkrTasks], clock: ManualClock
) -> None:
    quota: Quota = WindowQuota(2, 60)
    service = make_service(usage_limit=quota)
    create(service)
    create(service)
    error = refused(service, UsageLimitExceeded, lambda: create(service))
    assert ("Usage limit exceeded", 429) == (str(error), error.status)
    assert error.retry_after is not None
    create(service, user=OTHER)  # the limit is per user
    clock.advance(30)
    create(service)


def test_configuration_is_a_value(service: ChunkrTasks) -> None:
    task = create(service, expires_in=5)
    assert Configuration(expires_in=5) == service.get(ME, task.task_id).configuration


def test_a_task_read_twice_from_the_memory_store_is_decoded_once(clock: ManualClock) -> None:
    service = ChunkrTasks(MemoryStore(clock=clock))
    task = create(service)
    assert service.get(ME, task.task_id) is service.get(ME, task.task_id)
    started = service.start(task.task_id)
    assert started is service.get(ME, task.task_id)  # the written value, not a stale one


def test_an_id_factory_that_repeats_itself_creates_nothing(clock: ManualClock) -> None:
    service = ChunkrTasks(MemoryStore(clock=clock), ids=lambda: "same-id")
    create(service)
    error = refused(service, IdCollision, lambda: create(service))
    assert ("task", 8, 500) == (error.kind, error.attempts, error.status)
