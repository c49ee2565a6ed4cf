"""The Claro API over sans-IO HTTP: golden responses from the Claro API reference (Tasks),
the router's errors, and Hypothesis-generated bad requests that must never raise nor change
state."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskcore import CATALOGUE, ManualClock, SeededIds
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.http import Request, Response, Router
from taskcore.store import MemoryStore

GOLDEN = Path(__file__).resolve().parent / "golden"
KEY = "YOUR_API_KEY"
OTHER_KEY = "OTHER_KEY"


def golden_examples() -> dict[str, Any]:
    """The JSON examples of the Claro API reference (Tasks), keyed ``"<section>: <example>"``.

    They are the files in ``tests/golden/``, one per example; the table in its README.md
    names the section and example each was copied from, and must list every file.
    """
    index = (GOLDEN / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(.+?\.json)` \| (.+?) \| (.+?) \|$", index, re.M)
    listed, on_disk = sorted(row[0] for row in rows), sorted(p.name for p in GOLDEN.glob("*.json"))
    assert on_disk == listed, "tests/golden/README.md must list every golden file once"
    return {
        f"{section}: {example}": json.loads((GOLDEN / name).read_text(encoding="utf-8"))
        for name, section, example in rows
    }


EXAMPLES = golden_examples()


def shape(value: Any) -> Any:
    """Keys (in order) and value types, recursively: what golden data pins down."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    return type(value).__name__


class Api:
    """A service with one account's dataset and webhook, behind the router."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.service = ClaroTasks(MemoryStore(self.clock), ids=SeededIds(1))
        grid = Grid([f"row_{i}" for i in range(1, 6)], ["col_name", "col_category", "col_x"])
        grid.set_filled("row_1", "col_name", True)
        self.dataset = self.service.create_dataset("acc", grid, dataset_id="ds_1")
        self.service.create_dataset("other", Grid(["r"], ["c"]), dataset_id="ds_other")
        self.webhook = self.service.register_webhook("acc", "https://hooks.invalid/", "s")
        self.router: Router = claro_router(self.service, {KEY: "acc", OTHER_KEY: "other"})

    def call(self, method: str, path: str, body: Any = None, key: str = KEY) -> Response:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return self.router.handle(Request(method, path, headers, raw))

    def tasks(self, suffix: str = "") -> str:
        return f"/api/v2/datasets/{self.dataset}/tasks{suffix}"


@pytest.fixture
def api() -> Api:
    return Api()


def test_create_new_rows_matches_the_reference(api: Api) -> None:
    response = api.call("POST", api.tasks("/new-rows"),
                        {"rowCount": 100, "webhookId": api.webhook.webhook_id})  # fmt: skip
    assert 201 == response.status
    assert shape(EXAMPLES["Create New Rows Task: Success Response"]) == shape(response.json())
    assert "5-10 minutes" == response.json()["estimatedDuration"]


def test_dataset_locked_matches_the_reference(api: Api) -> None:
    first = api.call("POST", api.tasks("/new-rows"), {"rowCount": 100}).json()
    response = api.call("POST", api.tasks("/bulk"), {})
    assert 409 == response.status
    assert shape(EXAMPLES["Create New Rows Task: Dataset Locked Error"]) == shape(response.json())
    assert first["taskId"] == response.json()["details"]["activeTaskId"]


@pytest.mark.parametrize(
    "body",
    [
        {"processOnlyEmpty": True, "webhookId": "WEBHOOK"},
        {"cellIds": ["row_1:col_x", "row_2:col_x"], "webhookId": "WEBHOOK"},
        {"rowIds": ["row_1", "row_2"], "columnIds": ["col_name", "col_category"],
         "processOnlyEmpty": True, "webhookId": "WEBHOOK"},
    ],
    ids=["all-empty", "cells", "intersection"],
)  # fmt: skip
def test_create_bulk_matches_the_reference(api: Api, body: dict[str, Any]) -> None:
    body = {**body, "webhookId": api.webhook.webhook_id}
    response = api.call("POST", api.tasks("/bulk"), body)
    assert 201 == response.status
    assert shape(EXAMPLES["Create Bulk Processing Task: Success Response"]) == shape(
        response.json()
    )


def test_bulk_targets_follow_the_selection(api: Api) -> None:
    counts = {}
    for name, body in {
        "all": {},
        "cells": {"cellIds": ["row_1:col_x", "row_2:col_x"]},
        "intersection": {"rowIds": ["row_1", "row_2"], "columnIds": ["col_name", "col_category"]},
    }.items():
        created = api.call("POST", api.tasks("/bulk"), body).json()
        counts[name] = created["targetCells"]
        api.call("DELETE", api.tasks(f"/{created['taskId']}"))
    assert {"all": 14, "cells": 2, "intersection": 3} == counts


def test_invalid_selection_matches_the_reference(api: Api) -> None:
    response = api.call(
        "POST", api.tasks("/bulk"), {"cellIds": ["row_1:col_x"], "rowIds": ["row_1"]}
    )
    assert 400 == response.status
    assert EXAMPLES["Create Bulk Processing Task: Invalid Selection Error"] == response.json()


def test_status_in_progress_and_completed_match_the_reference(api: Api) -> None:
    created = api.call("POST", api.tasks("/bulk"), {"webhookId": api.webhook.webhook_id}).json()
    task_id = created["taskId"]
    api.clock.advance(60)
    token = api.service.start(task_id).lease_token
    api.clock.advance(60)
    api.service.record(task_id, token=token, succeeded=range(7))
    response = api.call("GET", api.tasks(f"/{task_id}"))
    assert 200 == response.status
    assert shape(EXAMPLES["Get Task Status: Success Response - In Progress"]) == shape(
        response.json()
    )
    assert {"completed": 7, "total": 14, "percentage": 50} == response.json()["progress"]
    assert "2024-03-14T15:33:00Z" == response.json()["estimatedCompletion"]

    assert 409 == api.call("POST", api.tasks("/new-rows"), {"rowCount": 1}).status
    api.service.record(task_id, token=token, succeeded=range(7, 13), failed=[13])
    api.service.complete(task_id, token=token)
    assert 201 == api.call("POST", api.tasks("/new-rows"), {"rowCount": 1}).status


def test_completed_new_rows_task_and_webhook_match_the_reference(api: Api) -> None:
    from taskcore.claro.service import RowOutcome

    created = api.call("POST", api.tasks("/new-rows"),
                       {"rowCount": 100, "webhookId": api.webhook.webhook_id}).json()  # fmt: skip
    task_id = created["taskId"]
    api.clock.advance(60)
    token = api.service.start(task_id).lease_token
    failing: frozenset[str] = frozenset({"col_x"})
    api.service.record_rows(
        task_id,
        [RowOutcome(i, failing if i < 15 else frozenset()) for i in range(100)],
        token=token,
    )
    api.clock.advance(420)
    api.service.complete(task_id, token=token)
    response = api.call("GET", api.tasks(f"/{task_id}"))
    assert shape(EXAMPLES["Get Task Status: Success Response - Completed"]) == shape(
        response.json()
    )
    assert {"processedCells": 300, "successfulCells": 285, "failedCells": 15,
            "newRowsCreated": 100} == response.json()["results"]  # fmt: skip
    (record,) = api.service.outbox()
    assert shape(EXAMPLES["Webhook Notifications: payload"]) == shape(record.payload())
    assert response.json()["completedAt"] == record.payload()["completedAt"]


def test_task_not_found_matches_the_reference(api: Api) -> None:
    response = api.call("GET", api.tasks("/task_invalid-id"))
    assert 404 == response.status
    assert EXAMPLES["Get Task Status: Task Not Found Error"] == response.json()


def test_cancel_and_cannot_cancel_match_the_reference(api: Api) -> None:
    task_id = api.call("POST", api.tasks("/new-rows"), {"rowCount": 5}).json()["taskId"]
    api.clock.advance(300)
    response = api.call("DELETE", api.tasks(f"/{task_id}"))
    assert 200 == response.status
    assert shape(EXAMPLES["Cancel Task: Success Response"]) == shape(response.json())
    assert "2024-03-14T15:35:00Z" == response.json()["cancelledAt"]
    again = api.call("DELETE", api.tasks(f"/{task_id}"))
    assert 409 == again.status
    assert {"error": "Cannot cancel task", "code": "TASK_NOT_CANCELLABLE",
            "details": {"message": "Task is already cancelled", "currentStatus": "cancelled"}} == (
        again.json()
    )  # fmt: skip
    assert shape(EXAMPLES["Cancel Task: Cannot Cancel Error"]) == shape(again.json())


def test_missing_or_unknown_key_is_401(api: Api) -> None:
    assert 401 == api.call("GET", api.tasks("/x"), key="nope").status
    response = api.router.handle(Request("GET", api.tasks("/x")))
    assert 401 == response.status
    assert "UNAUTHORIZED" == response.json()["code"]


def test_another_accounts_dataset_is_not_found(api: Api) -> None:
    response = api.call("POST", api.tasks("/new-rows"), {"rowCount": 1}, key=OTHER_KEY)
    assert 404 == response.status
    assert {"datasetId": "ds_1"} == response.json()["details"]


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert 404 == api.call("GET", "/api/v2/nothing").status
    response = api.call("PUT", api.tasks("/bulk"))
    assert 405 == response.status
    assert "POST" in response.headers["allow"]


def test_idempotency_key_replays_the_same_task(api: Api) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "k1"}
    body = json.dumps({"rowCount": 3}).encode()
    first = api.router.handle(Request("POST", api.tasks("/new-rows"), headers, body))
    second = api.router.handle(Request("POST", api.tasks("/new-rows"), headers, body))
    assert first.json() == second.json()
    other = api.router.handle(Request("POST", api.tasks("/new-rows"), headers, b'{"rowCount": 4}'))
    assert 409 == other.status
    assert "IDEMPOTENCY_CONFLICT" == other.json()["code"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rowCount": 0}, "rowCount"),
        ({"rowCount": 10001}, "rowCount"),
        ({"rowCount": "100"}, "rowCount"),
        ({"rowCount": True}, "rowCount"),
        ({}, "rowCount"),
        ({"rowCount": 5, "extra": 1}, "extra"),
        ({"rowCount": 5, "webhookId": 7}, "webhookId"),
    ],
)
def test_bad_new_rows_bodies_are_validation_errors(api: Api, body: Any, field: str) -> None:
    response = api.call("POST", api.tasks("/new-rows"), body)
    assert 400 == response.status
    assert ("VALIDATION_ERROR", field) == (
        response.json()["code"],
        response.json()["details"]["field"],
    )


def test_invalid_json_is_a_validation_error_after_the_dataset_check(api: Api) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    bad = api.router.handle(Request("POST", api.tasks("/bulk"), headers, b"{nope"))
    assert (400, "VALIDATION_ERROR") == (bad.status, bad.json()["code"])
    missing = api.router.handle(Request("POST", "/api/v2/datasets/ds_9/tasks/bulk", headers, b"{"))
    assert (404, "DATASET_NOT_FOUND") == (missing.status, missing.json()["code"])


def snapshot(api: Api) -> Any:
    service = api.service
    with service.store.unit() as unit:
        tables = {t: list(unit.items(t)) for t in ("claro.tasks", "claro.datasets", "claro.outbox")}
    return tables, service.dataset("acc", "ds_1").dump()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20000) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["row_1", "col_x", "row_1:col_x", "cell_1"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "rowCount": json_values, "webhookId": json_values, "cellIds": json_values,
        "rowIds": json_values, "columnIds": json_values, "processOnlyEmpty": json_values,
        "junk": json_values,
    }),
)  # fmt: skip
paths = st.one_of(
    st.sampled_from(["new-rows", "bulk", "task_x", "", "new-rows/extra"]).map(
        lambda s: f"/api/v2/datasets/ds_1/tasks/{s}"
    ),
    st.text(alphabet="/abcdt_-%.1", max_size=30),
    st.sampled_from(["/api/v2/datasets/ds_other/tasks/bulk", "/api/v2/datasets//tasks/bulk"]),
)


@settings(max_examples=150)
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=paths,
    body=bodies,
    raw=st.one_of(st.none(), st.binary(max_size=20)),
)
def test_bad_requests_answer_with_an_error_and_change_nothing(
    method: str, path: str, body: Any, raw: bytes | None
) -> None:
    api = Api()
    holder = api.call("POST", api.tasks("/new-rows"), {"rowCount": 2}).json()["taskId"]
    before = snapshot(api)
    payload = raw if raw is not None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {KEY}"}
    response = api.router.handle(Request(method, path, headers, payload))
    if response.status >= 400:
        error = response.json()
        assert {"error", "code", "details"} == set(error)
        assert error["code"] in CATALOGUE
        assert CATALOGUE[error["code"]].status == response.status
        assert before == snapshot(api)
    assert holder.startswith("task_")
