"""The Visual Layer router never raises: any method, path, body, query and headers get a
response; refusals are ``{"detail"}`` JSON, never a 500 (the router property test
pattern of tests/test_router_hardening.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from taskcore.clock import ManualClock
from taskcore.http import Request, Response
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import LIST_PARAMETERS, visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks

SERVICE = VisualLayerTasks(MemoryStore(clock=ManualClock()), ids=SeededIds(13, prefix=""))
ROUTER = visual_layer_router(SERVICE, {"JWT": "me@x.com"})
DATASET = SERVICE.add_dataset("d", ["me@x.com"]).dataset_id
RUNNING = SERVICE.start(SERVICE.submit(DATASET, TaskType.DATASET_CREATION, "me@x.com").task.task_id)
FAILED = SERVICE.submit(DATASET, TaskType.DATASET_CREATION, "me@x.com")
SERVICE.fail(FAILED.task.task_id, "boom")

segments = st.one_of(
    st.sampled_from([RUNNING.task.task_id, FAILED.task.task_id, DATASET, "filters", "abort",
                     "retry", "", ".", "..", "%00", "%ff", "%2F", "\ud800", "a\n", "%"]),
    st.text(max_size=6),
)  # fmt: skip
paths = st.one_of(
    st.lists(segments, max_size=3).map(lambda parts: "/api/v1/tasks/" + "/".join(parts)),
    st.builds(lambda s, tail: f"/api/v1/tasks/{s}{tail}", segments,
              st.sampled_from(["", "/abort", "/retry", "\n", "/", "//", "%0A"])),
    st.sampled_from(["/api/v1/tasks", "/api/v1/tasks/filters"]),
    st.text(max_size=40),
)  # fmt: skip
values = st.one_of(
    st.sampled_from(["FAILED", "REINDEX", "asc", "desc", "start_time", "5", "50", "0", "1e3",
                     "2026-03-01T00:00:00Z", "2026-03-01", DATASET, "", "\ud800", "٣", "9" * 40]),
    st.text(max_size=8),
)  # fmt: skip
queries = st.dictionaries(st.sampled_from([*LIST_PARAMETERS, "other"]), values, max_size=4)
header_values = st.one_of(
    st.text(max_size=12), st.sampled_from(["Bearer JWT", "bearer JWT", "JWT", "Bearer", "\ud800"])
)


@given(
    method=st.one_of(st.sampled_from(["GET", "POST", "PUT", "get", ""]), st.text(max_size=5)),
    path=paths,
    body=st.binary(max_size=20),
    authorization=st.one_of(st.just("Bearer JWT"), st.none(), header_values),
    query=queries,
)
def test_the_visual_layer_router_always_answers_with_json(
    method: str, path: str, body: bytes, authorization: str | None, query: dict[str, str]
) -> None:
    headers: dict[str, Any] = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = ROUTER.handle(Request(method, path, headers, body, query))
    assert isinstance(response, Response)
    assert 200 <= response.status < 500
    assert "application/json" == response.headers["content-type"]
    answer = json.loads(response.body.decode("utf-8"))
    if response.status >= 400:
        assert ["detail"] == list(answer)
        assert isinstance(answer["detail"], str)
