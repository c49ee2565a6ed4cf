"""Visual Layer edges found by probing the slice from outside: time bounds at the ends of
the calendar, ``end_time`` in whole seconds, and a token that names nobody."""

from __future__ import annotations

import datetime as dt

import pytest

from taskcore.clock import ManualClock
from taskcore.http import Request
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.errors import InvalidParameter
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery

EDGES = [
    ("start_time_to", "0001-01-01T00:00:00+01:00"),
    ("start_time_from", "9999-12-31T23:59:59-01:00"),
]


@pytest.mark.parametrize(("name", "value"), EDGES)
@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/filters"])
def test_a_time_bound_outside_the_calendar_in_utc_is_422(path: str, name: str, value: str) -> None:
    router = visual_layer_router(VisualLayerTasks(), {"tok": "a@x.example"})
    answer = router.handle(
        Request("GET", path, {"Authorization": "Bearer tok"}, b"", {name: value})
    )
    assert 422 == answer.status
    assert answer.json()["detail"].startswith(name)


@pytest.mark.parametrize(("name", "value"), EDGES)
def test_a_query_with_such_a_bound_names_it(name: str, value: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        TaskQuery.build(**{name: value})
    assert name == caught.value.field


def test_end_time_is_kept_in_whole_seconds() -> None:
    clock = ManualClock(dt.datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=dt.UTC))
    service = VisualLayerTasks(MemoryStore(clock))
    dataset = service.add_dataset("D", ["a@x.example"])
    task = service.submit(dataset.dataset_id, TaskType.DATASET_CREATION, "a@x.example").task
    ended = service.abort("a@x.example", task.task_id).task
    assert dt.datetime(2026, 1, 1, tzinfo=dt.UTC) == ended.end_time


def test_a_token_that_names_nobody_is_401() -> None:
    router = visual_layer_router(VisualLayerTasks(), {"tok": ""})
    answer = router.handle(Request("GET", "/api/v1/tasks", {"Authorization": "Bearer tok"}))
    assert (401, "Bearer") == (answer.status, answer.headers.get("www-authenticate"))
