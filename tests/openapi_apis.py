"""The four APIs served in-process for the OpenAPI tests: a router on seeded data, the
headers that authenticate, and a scenario of documented requests (every success and
error status each operation has) that calls a checker for each answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sendai_setup import EDITOR, PROJECT, TEAM, make_service, upload
from taskcore.chunkr.configuration import Configuration
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import Chunk, Output, Segment
from taskcore.chunkr.wire import CreateForm
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.clock import ManualClock
from taskcore.http import Request, Response, Router
from taskcore.ids import SeededIds
from taskcore.quota import WindowQuota
from taskcore.sendai import FailingTracker
from taskcore.sendai.http import sendai_router
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks

Call = Callable[..., Response]
"""``call(method, path, body=None, *, headers=None, query=None, raw=None)``."""

CLARO_DATASET = "550e8400-e29b-41d4-a716-446655440000"
VL_USER = "rachel@visual-layer.com"


class Served:
    """One API in-process: its router on a memory store, the auth headers, and the ids
    of seeded objects by path placeholder (for generated requests to reach them)."""

    def __init__(
        self,
        api: str,
        router: Router,
        headers: dict[str, str],
        state: Any,
        ids: dict[str, list[str]] | None = None,
    ) -> None:
        self.api = api
        self.router = router
        self.headers = headers
        self.state = state
        self.ids = ids or {}

    def caller(self, check: Callable[[str, Request, Response], None]) -> Call:
        """A ``call`` that answers through the router and hands each answer to ``check``
        with the route pattern's API."""

        def call(
            method: str,
            path: str,
            body: Any = None,
            *,
            headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None,
            raw: bytes | None = None,
        ) -> Response:
            data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
            given = {"content-type": "application/json", **self.headers, **(headers or {})}
            request = Request(
                method, path, {k: v for k, v in given.items() if v}, data, query or {}
            )
            response = self.router.handle(request)
            check(self.api, request, response)
            return response

        return call


def claro() -> Served:
    clock = ManualClock(datetime(2024, 3, 14, 15, 30, tzinfo=UTC))
    service = ClaroTasks(MemoryStore(clock), ids=SeededIds(2024), quota=WindowQuota(3, 3600))
    for dataset in (CLARO_DATASET, "ds-2", "ds-3"):
        service.create_dataset("acme", Grid(["r1", "r2"], ["c1", "c2"]), dataset_id=dataset)
    router = claro_router(service, {"k": "acme"})
    ids = {"dataset_id": [CLARO_DATASET, "ds-2"]}
    return Served("claro", router, {"authorization": "Bearer k"}, (service, clock), ids)


def claro_scenario(call: Call, served: Served) -> None:
    service, clock = served.state
    base = f"/api/v2/datasets/{CLARO_DATASET}/tasks"
    hook = service.register_webhook("acme", "https://hooks.example.invalid/x", "s").webhook_id
    task = call("POST", f"{base}/bulk", {"processOnlyEmpty": True, "webhookId": hook}).json()
    call("POST", f"{base}/new-rows", {"rowCount": 100})  # 409, locked
    call("GET", f"{base}/{task['taskId']}")
    token = service.start(task["taskId"]).lease_token
    service.record(task["taskId"], token=token, succeeded=[0, 1], failed=[2])
    clock.advance(30)
    call("GET", f"{base}/{task['taskId']}")
    service.record(task["taskId"], token=token, succeeded=[3])
    service.complete(task["taskId"], token=token)
    call("GET", f"{base}/{task['taskId']}")
    call("DELETE", f"{base}/{task['taskId']}")  # 409, completed
    rows = call("POST", f"{base}/new-rows", {"rowCount": 2}, headers={"idempotency-key": "a"})
    call("POST", f"{base}/new-rows", {"rowCount": 2}, headers={"idempotency-key": "a"})
    call("GET", f"{base}/{rows.json()['taskId']}")
    call("DELETE", f"{base}/{rows.json()['taskId']}")
    failing = call("POST", "/api/v2/datasets/ds-2/tasks/new-rows", {"rowCount": 1}).json()
    service.fail(failing["taskId"], token=service.start(failing["taskId"]).lease_token)
    call("GET", f"/api/v2/datasets/ds-2/tasks/{failing['taskId']}")
    call("POST", "/api/v2/datasets/ds-3/tasks/new-rows", {"rowCount": 1})  # 429, quota
    call("POST", f"{base}/new-rows", {"rowCount": 0})  # 400
    call("POST", f"{base}/bulk", {"cellIds": ["x"], "rowIds": ["r1"]})  # 400
    call("POST", f"{base}/bulk", raw=b"{")  # 400
    call("GET", f"{base}/task_missing")  # 404
    call("POST", "/api/v2/datasets/nope/tasks/bulk", {})  # 404
    call("GET", f"{base}/{task['taskId']}", headers={"authorization": "Bearer bad"})  # 401
    call("DELETE", f"{base}/%2E%2E")  # 404


def sendai() -> Served:
    store = MemoryStore(ManualClock())
    service = make_service(store, FailingTracker(lambda issue: issue.label == "external"))
    router = sendai_router(service, {"k": EDITOR})
    tasks = upload(service, "up-seeded", 4)
    reviewing = [service.run_step(TEAM, task.id).id for task in tasks[:3]]
    ids = {"team_id": [TEAM], "project_id": [PROJECT], "task_id": [*reviewing, tasks[3].id]}
    return Served("sendai", router, {"authorization": "Bearer k"}, service, ids)


def sendai_scenario(call: Call, served: Served) -> None:
    service = served.state
    base = f"/v2/{TEAM}/project/{PROJECT}/task"
    (a, b, c) = upload(service, "up-1", 3)
    call("GET", f"{base}/{a.id}")
    call("POST", f"{base}/{a.id}/complete")  # 400, not reviewing
    reviewing = service.run_step(TEAM, a.id).id
    call("POST", f"{base}/{reviewing}/complete", {"meta": [{"name": "language", "value": "xx"}]})
    call("POST", f"{base}/{reviewing}/report", {"issues": [{"label": "l", "value": "v"}]})
    call("POST", f"{base}/{reviewing}/report", {"issues": [{"label": "external", "value": "v"}]})
    second = service.run_step(TEAM, b.id).id
    call("POST", f"{base}/{second}/complete", {"meta": [{"name": "total", "value": "42"}]})
    call("PUT", f"{base}/{second}/unlock", {})  # 400, processing
    third = service.run_step(TEAM, c.id).id
    call("POST", f"{base}/{third}/discard")
    call("PUT", f"{base}/{third}/unlock", {})
    call("PUT", f"{base}/{third}/discard")
    call("POST", f"{base}/{third}/unlock")
    call("POST", f"{base}/{c.id}/report", {"issues": []})  # 400
    call("POST", f"{base}/{c.id}/report", {"issues": [{"label": "l", "value": "v"}], "x": 1})
    call("POST", f"{base}/{c.id}/unlock", {"x": 1})  # 400
    call("GET", f"{base}/missing")  # 404
    call("GET", f"{base}/{c.id}", headers={"authorization": ""})  # 401
    call("GET", f"/v2/other/project/{PROJECT}/task/{c.id}")  # 404


CHUNKR_OUTPUT = Output(
    [Chunk("chunk-1", [Segment("seg-1", "Title", "Annual report", confidence=0.5)])],
    page_count=1,
    pdf_url="https://files.example/report.pdf",
    mime_type="application/pdf",
)


def chunkr(seeded: bool = False) -> Served:
    """Chunkr; ``seeded``: three tasks (one succeeded) and room for many creates."""
    service = ChunkrTasks(
        MemoryStore(clock=ManualClock()),
        ids=SeededIds(7, prefix=""),
        usage_limit=WindowQuota(10_000 if seeded else 3, 60),
    )
    router = chunkr_router(service, {"key": "me"}, base_url="https://chunkr.example")
    served = Served("chunkr", router, {"authorization": "key"}, service)
    if seeded:
        form = CreateForm(Configuration(), file_data="aGk=")
        ids = [service.create("me", form).task_id for _ in range(3)]
        service.start(ids[0])
        service.succeed(ids[0], CHUNKR_OUTPUT)
        served.ids = {"task_id": ids}
    return served


def chunkr_scenario(call: Call, served: Served) -> None:
    service = served.state
    base = "/api/v1/task"
    config = {
        "ocr_strategy": "Auto",
        "segment_processing": {"table": {"format": "Html", "embed_sources": ["HTML"]}},
        "chunk_processing": {"target_length": 512, "tokenizer": {"Enum": "Word"}},
        "llm_processing": {"model_id": "m", "fallback_strategy": {"Model": "n"}},
    }
    first = call("POST", f"{base}/parse", {"file": "https://x.example/a.pdf", **config}).json()
    task_id = first["task_id"]
    call("GET", f"{base}/{task_id}")
    call("PATCH", f"{base}/{task_id}/parse", {"expires_in": 60})  # 400, still starting
    service.start(task_id)
    service.succeed(task_id, CHUNKR_OUTPUT)
    call("GET", f"{base}/{task_id}")
    call("GET", f"{base}/{task_id}", query={"include_chunks": "false", "base64_urls": "true"})
    call("GET", f"{base}/{task_id}", query={"include_chunks": "maybe"})  # 400
    call("PATCH", f"{base}/{task_id}/parse", {"high_resolution": True})
    call("GET", f"{base}/{task_id}/cancel")
    call("DELETE", f"{base}/{task_id}")  # 400, cancelled? deletable either way
    other = call("POST", f"{base}/parse", {"file": "aGVsbG8=", "file_name": "a.pdf"}).json()
    call("GET", f"{base}/{other['task_id']}", query={"base64_urls": "true"})
    call("GET", f"{base}/{other['task_id']}/cancel")
    call("DELETE", f"{base}/{other['task_id']}")
    call("DELETE", f"{base}/{other['task_id']}")  # 404
    call("POST", f"{base}/parse", {"file": "!!"})  # 400
    call("POST", f"{base}/parse", {"file": "https://x.example/a.pdf"})
    call("POST", f"{base}/parse", {"file": "https://x.example/a.pdf"})  # 429
    call("POST", f"{base}/parse", {"file": "x"}, headers={"authorization": "nope"})  # 401


VL_DATASET = "b1a39406-123d-11f1-9353-fa39f6ed1f22"
VL_TASKS = [
    "a1b2c3d4-5678-90ab-cdef-1234567890ab",
    "a1b2c3d4-5678-90ab-cdef-1234567890ac",
]


def visual_layer() -> Served:
    clock = ManualClock(datetime(2026, 3, 1, 14, 30, tzinfo=UTC))
    given = iter([VL_DATASET, *VL_TASKS])
    service = VisualLayerTasks(MemoryStore(clock=clock), ids=lambda: next(given))
    service.add_dataset("Product Images Q1", [VL_USER])
    service.submit(VL_DATASET, TaskType.DATASET_CREATION, VL_USER)
    service.submit(VL_DATASET, TaskType.ENRICHMENT, VL_USER)
    service.start(VL_TASKS[1])
    service.progress(VL_TASKS[1], 45)
    service.fail(VL_TASKS[1], "Model timeout after 300s")
    router = visual_layer_router(service, {"jwt": VL_USER})
    return Served(
        "visual_layer", router, {"authorization": "Bearer jwt"}, service, {"task_id": VL_TASKS}
    )


def visual_layer_scenario(call: Call, served: Served) -> None:
    base = "/api/v1/tasks"
    call("GET", base)
    call("GET", base, query={"task_status": "FAILED", "sort_by": "status", "page_size": "5"})
    call("GET", base, query={"dataset_id": "b1a39406-0000-11f1-9353-fa39f6ed1f22"})
    call("GET", base, query={"page_size": "51"})  # 422
    call("GET", f"{base}/filters", query={"start_time_from": "2026-01-01T00:00:00Z"})
    call("GET", f"{base}/filters", query={"start_time_to": "yesterday"})  # 422
    call("POST", f"{base}/{VL_TASKS[1]}/retry")  # 400, not a dataset creation
    call("POST", f"{base}/{VL_TASKS[1]}/abort")  # 409
    call("POST", f"{base}/{VL_TASKS[0]}/abort")
    call("POST", f"{base}/{VL_TASKS[0]}/retry")
    call("POST", f"{base}/not-a-uuid/retry")  # 422
    call("POST", f"{base}/{VL_TASKS[0][:-1]}f/abort")  # 404
    call("GET", base, headers={"authorization": "Bearer nobody"})  # 401


SERVED: dict[str, tuple[Callable[[], Served], Callable[[Call, Served], None]]] = {
    "claro": (claro, claro_scenario),
    "sendai": (sendai, sendai_scenario),
    "chunkr": (chunkr, chunkr_scenario),
    "visual_layer": (visual_layer, visual_layer_scenario),
}
"""Each API's ``(build, scenario)``."""
