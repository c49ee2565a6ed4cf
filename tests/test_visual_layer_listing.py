"""Visual Layer listing from the row table: text that cannot be stored is refused up
front, a dataset the caller cannot see lists nothing, sharing a dataset shows its whole
history at once, and every change of a task moves its listing row with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskcore.clock import ManualClock
from taskcore.errors import ValidationError
from taskcore.http import Request
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.errors import InvalidParameter, VisualLayerTaskNotFound
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import TASK_ROWS, VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery

ME, OTHER = "rachel@visual-layer.com", "alex@visual-layer.com"


@pytest.fixture(params=["memory", "sqlite"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VisualLayerTasks]:
    store: RowsStore = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "v")
    with store:
        yield VisualLayerTasks(store)


@pytest.mark.parametrize("bad", ["a\ud800", "\udfff", ""])
def test_a_dataset_name_or_user_that_is_not_valid_text_is_refused(
    service: VisualLayerTasks, bad: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        service.add_dataset(bad, [ME])
    assert "name" == caught.value.field
    with pytest.raises(ValidationError) as caught:
        service.add_dataset("D", [ME, bad])
    assert "user" == caught.value.field
    dataset = service.add_dataset("D", [ME])
    with pytest.raises(ValidationError):
        service.submit(dataset.dataset_id, TaskType.REINDEX, bad)
    with pytest.raises(ValidationError):
        service.list(bad)
    assert 0 == service.list(ME).total


@pytest.mark.parametrize("name", ["dataset_name", "created_by"])
def test_a_text_filter_with_a_lone_surrogate_is_422_naming_it(name: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        TaskQuery.build(**{name: "x\ud83d"})
    assert name == caught.value.field
    router = visual_layer_router(VisualLayerTasks(), {"tok": ME})
    answer = router.handle(
        Request("GET", "/api/v1/tasks", {"Authorization": "Bearer tok"}, b"", {name: "\ud83d"})
    )
    assert 422 == answer.status
    assert answer.json()["detail"].startswith(name)


def test_a_dataset_id_filter_naming_a_dataset_the_caller_cannot_see_lists_nothing(
    service: VisualLayerTasks,
) -> None:
    hidden = service.add_dataset("Hidden", [OTHER])
    service.submit(hidden.dataset_id, TaskType.REINDEX, OTHER)
    listing = service.list(ME, TaskQuery(dataset_id=hidden.dataset_id))
    assert ((), 0) == (listing.tasks, listing.total)
    assert 1 == service.list(OTHER, TaskQuery(dataset_id=hidden.dataset_id)).total


def test_sharing_a_dataset_shows_its_whole_history_at_once(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("D", [OTHER])
    ids = {service.submit(dataset.dataset_id, TaskType.ENRICHMENT, OTHER).task.task_id}
    ids.add(service.submit(dataset.dataset_id, TaskType.REINDEX, OTHER).task.task_id)
    assert 0 == service.list(ME).total
    service.share(dataset.dataset_id, ME)
    assert ids == {s.task.task_id for s in service.list(ME).tasks}
    assert ("D",) == service.filter_options(ME).dataset_names


def test_every_transition_moves_the_task_s_listing_row(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("D", [ME])
    task_id = service.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id

    def listed(status: str) -> list[str]:
        return [s.task.task_id for s in service.list(ME, TaskQuery(task_status=status)).tasks]

    steps: list[tuple[Callable[[], object], str]] = [
        (lambda: None, "INITIALIZING"),
        (lambda: service.start(task_id), "RUNNING"),
        (lambda: service.fail(task_id, "boom"), "FAILED"),
        (lambda: service.retry(ME, task_id), "INITIALIZING"),
        (lambda: service.abort(ME, task_id), "ABORTED"),
    ]
    for step, status in steps:
        step()
        assert [task_id] == listed(status)
        with service.store.unit(readonly=True) as unit:
            assert 1 == unit.count(TASK_ROWS, {})


def retained(tmp_path: Path, kind: str) -> tuple[VisualLayerTasks, ManualClock, RowsStore]:
    clock = ManualClock()
    store: RowsStore = (
        MemoryStore(clock) if kind == "memory" else SqliteStore(tmp_path / "r", clock=clock)
    )
    return VisualLayerTasks(store, task_retention=3600), clock, store


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_with_a_retention_an_ended_task_is_deleted_once_it_is_over(
    tmp_path: Path, kind: str
) -> None:
    service, clock, store = retained(tmp_path, kind)
    with store:
        dataset = service.add_dataset("D", [ME])
        ended = service.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id
        running = service.submit(dataset.dataset_id, TaskType.REINDEX, ME).task.task_id
        service.start(running)
        service.abort(ME, ended)
        clock.advance(3599)
        assert 0 == service.prune()
        assert 2 == service.list(ME).total
        clock.advance(1)
        service.progress(running, 10)  # a transition prunes on the side
        assert [running] == [s.task.task_id for s in service.list(ME).tasks]
        with pytest.raises(VisualLayerTaskNotFound):
            service.get(ME, ended)
        with store.unit(readonly=True) as unit:
            assert 1 == unit.count(TASK_ROWS, {})
        assert () == tuple(t for t in service.filter_options(ME).task_types if t != "REINDEX")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_retried_task_is_kept_until_it_ends_again_and_that_is_over(
    tmp_path: Path, kind: str
) -> None:
    service, clock, store = retained(tmp_path, kind)
    with store:
        dataset = service.add_dataset("D", [ME])
        task_id = service.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id
        service.abort(ME, task_id)
        clock.advance(1800)
        service.retry(ME, task_id)
        clock.advance(1800)
        assert 1 == service.prune()  # the first end's entry is due, but the task is live
        service.get(ME, task_id)
        service.abort(ME, task_id)
        clock.advance(3599)
        assert 0 == service.prune()
        clock.advance(1)
        assert 1 == service.prune()
        assert 0 == service.list(ME).total


def test_without_a_retention_nothing_is_pruned(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("D", [ME])
    task_id = service.submit(dataset.dataset_id, TaskType.DATASET_CREATION, ME).task.task_id
    service.abort(ME, task_id)
    assert 0 == service.prune()
    assert 1 == service.list(ME).total


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (-1, ValueError), ("1", TypeError)])
def test_a_retention_that_is_not_a_positive_span_is_refused(bad: Any, error: type) -> None:
    with pytest.raises(error, match="task_retention"):
        VisualLayerTasks(task_retention=bad)
