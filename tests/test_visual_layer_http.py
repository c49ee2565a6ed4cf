"""The Visual Layer router: the four documented endpoints, Bearer auth, ``{"detail"}``
errors with the documented statuses, and golden bodies copied from the Visual Layer
documentation (tests/golden/visual_layer/README.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskcore.clock import ManualClock
from taskcore.http import Request, Response
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks

GOLDEN = Path(__file__).parent / "golden" / "visual_layer"
RACHEL, ALEX = "rachel@visual-layer.com", "alex@visual-layer.com"
DATASET = "b1a39406-123d-11f1-9353-fa39f6ed1f22"
TASK = "a1b2c3d4-5678-90ab-cdef-1234567890ab"
TOKENS = {"jwt-rachel": RACHEL, "jwt-alex": ALEX}


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


class Scenario:
    def __init__(self, store: RowsStore, clock: ManualClock, ids: list[str]) -> None:
        given = iter(ids)
        self.clock = clock
        self.service = VisualLayerTasks(store, ids=lambda: next(given))
        self.router = visual_layer_router(self.service, TOKENS)

    def call(
        self, method: str, path: str, token: str | None = "jwt-rachel", **query: str
    ) -> Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.router.handle(Request(method, path, headers, b"", query))


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    stores: list[RowsStore] = []

    def build(ids: list[str]) -> Scenario:
        clock = ManualClock(datetime(2026, 3, 1, 14, 30, tzinfo=UTC))
        store: RowsStore = (
            MemoryStore(clock=clock)
            if request.param == "memory"
            else SqliteStore(tmp_path / f"vl-{len(stores)}.db", clock=clock)
        )
        stores.append(store)
        return Scenario(store, clock, ids)

    yield build
    for store in stores:
        store.close()


def documented_task(make: Any) -> Scenario:
    """The task of the documentation's "List Tasks" response, made through the worker."""
    scenario: Scenario = make([DATASET, TASK])
    service = scenario.service
    service.add_dataset("Product Images Q1", [RACHEL])
    service.submit(DATASET, TaskType.ENRICHMENT, RACHEL)
    service.start(TASK)
    service.progress(TASK, 45)
    scenario.clock.advance(312)
    service.fail(TASK, "Model timeout after 300s")
    return scenario


def test_the_list_response_is_the_documented_one(make: Any) -> None:
    scenario = documented_task(make)
    response = scenario.call(
        "GET", "/api/v1/tasks", task_status="FAILED", start_time_from="2026-03-01T00:00:00Z"
    )
    assert (200, "application/json") == (response.status, response.headers["content-type"])
    assert golden("list_tasks.response.json") == response.json()


def test_the_filter_options_have_the_documented_shape(make: Any) -> None:
    scenario = documented_task(make)
    body = scenario.call("GET", "/api/v1/tasks/filters").json()
    example = golden("get_filter_options.response.json")
    assert list(example) == list(body)
    for key, values in body.items():
        assert isinstance(values, list)
        assert all(isinstance(v, str) for v in values), key
    assert {
        "dataset_names": ["Product Images Q1"],
        "dataset_ids": [DATASET],
        "task_types": ["ENRICHMENT"],
        "created_by": [RACHEL],
    } == body
    window = scenario.call("GET", "/api/v1/tasks/filters", start_time_to="2026-03-01T14:29:59Z")
    assert [] == window.json()["task_types"]


def test_abort_and_retry_answer_the_bare_task_object(make: Any) -> None:
    scenario: Scenario = make([DATASET, TASK])
    service = scenario.service
    service.add_dataset("Product Images Q1", [RACHEL])
    service.submit(DATASET, TaskType.DATASET_CREATION, RACHEL)
    service.start(TASK)
    aborted = scenario.call("POST", f"/api/v1/tasks/{TASK}/abort")
    assert 200 == aborted.status
    body = aborted.json()
    assert list(golden("list_tasks.response.json")["tasks"][0]) == list(body)
    assert ("ABORTED", "Dataset creation aborted") == (body["status"], body["status_message"])
    retried = scenario.call("POST", f"/api/v1/tasks/{TASK.upper()}/retry").json()
    assert ("INITIALIZING", None, TASK) == (
        retried["status"],
        retried["end_time"],
        retried["task_id"],
    )


@pytest.mark.parametrize(
    ("method", "path", "token", "query", "status", "detail"),
    [
        ("GET", "/api/v1/tasks", None, {}, 401, "Missing or malformed"),
        ("GET", "/api/v1/tasks", "nope", {}, 401, "Could not validate credentials"),
        ("GET", "/api/v1/tasks", "jwt-rachel", {"page_size": "51"}, 422, "page_size: "),
        ("GET", "/api/v1/tasks", "jwt-rachel", {"dataset_id": "x"}, 422, "dataset_id: "),
        (
            "GET",
            "/api/v1/tasks/filters",
            "jwt-rachel",
            {"start_time_to": "x"},
            422,
            "start_time_to: ",
        ),
        ("POST", "/api/v1/tasks/not-a-uuid/abort", "jwt-rachel", {}, 422, "task_id: "),
        ("POST", f"/api/v1/tasks/{TASK}/abort", "jwt-alex", {}, 404, "Task not found"),
        ("POST", f"/api/v1/tasks/{TASK}/retry", "jwt-alex", {}, 404, "Task not found"),
        ("POST", f"/api/v1/tasks/{DATASET}/retry", "jwt-rachel", {}, 404, "Task not found"),
        ("POST", f"/api/v1/tasks/{TASK}/abort", "jwt-rachel", {}, 409, "Task cannot be aborted"),
        ("POST", f"/api/v1/tasks/{TASK}/retry", "jwt-rachel", {}, 400, "Task cannot be retried"),
        ("GET", f"/api/v1/tasks/{TASK}/abort", "jwt-rachel", {}, 405, ""),
        ("GET", "/api/v1/task", "jwt-rachel", {}, 404, ""),
    ],
)
def test_refusals_are_detail_bodies_with_the_documented_status(
    make: Any,
    method: str,
    path: str,
    token: str | None,
    query: dict[str, str],
    status: int,
    detail: str,
) -> None:
    scenario = documented_task(make)  # an ENRICHMENT task: neither abortable nor retryable
    before = scenario.service.list(RACHEL)
    response = scenario.call(method, path, token, **query)
    assert status == response.status
    body = response.json()
    assert ["detail"] == list(body)
    assert body["detail"].startswith(detail)
    if status == 401:
        assert "Bearer" == response.headers["www-authenticate"]
    assert before == scenario.service.list(RACHEL)


def test_unknown_query_parameters_are_ignored(make: Any) -> None:
    scenario = documented_task(make)
    assert 1 == scenario.call("GET", "/api/v1/tasks", colour="red").json()["total"]
    assert 0 == scenario.call("GET", "/api/v1/tasks", token="jwt-alex").json()["total"]
