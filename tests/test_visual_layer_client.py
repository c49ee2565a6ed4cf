"""The Visual Layer documentation's Python example (tests/golden/visual_layer/
python_example.py.txt, verbatim) runs against the router: its ``requests`` calls are
answered in-process by a small ``requests``-compatible transport, same URLs, parameters
and headers; it lists the failed tasks and retries the failed dataset creation."""

from __future__ import annotations

import contextlib
import io
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from taskcore.clock import ManualClock
from taskcore.http import Request, Response, Router
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery

EXAMPLE = Path(__file__).parent / "golden" / "visual_layer" / "python_example.py.txt"
BASE = "https://app.visual-layer.com"
ME = "rachel@visual-layer.com"


class FakeResponse:
    """The part of ``requests.Response`` the example uses."""

    def __init__(self, response: Response) -> None:
        self._response = response
        self.status_code = response.status

    def json(self) -> Any:
        return self._response.json()

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self._response.json()}")


def fake_requests(router: Router, seen: list[tuple[str, str, dict[str, str]]]) -> types.ModuleType:
    """A ``requests`` module whose ``get`` and ``post`` ask ``router``."""

    def call(method: str, url: str, headers: Any = None, params: Any = None) -> FakeResponse:
        assert url.startswith(BASE + "/")
        path = urlsplit(url).path
        query = {k: str(v) for k, v in (params or {}).items()}
        seen.append((method, path, query))
        return FakeResponse(router.handle(Request(method, path, dict(headers or {}), b"", query)))

    module = types.ModuleType("requests")
    module.get = lambda url, **kw: call("GET", url, **kw)  # type: ignore[attr-defined]
    module.post = lambda url, **kw: call("POST", url, **kw)  # type: ignore[attr-defined]
    return module


def test_the_documented_python_example_runs_against_the_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = ManualClock(datetime(2026, 2, 25, 9, 0, tzinfo=UTC))
    service = VisualLayerTasks(MemoryStore(clock=clock))
    dataset = service.add_dataset("Product Images Q1", [ME]).dataset_id
    creation = service.submit(dataset, TaskType.DATASET_CREATION, ME).task.task_id
    service.start(creation)
    service.fail(creation, "Upload bucket unreachable")
    clock.advance(3600)
    enrichment = service.submit(dataset, TaskType.ENRICHMENT, ME).task.task_id
    service.start(enrichment)
    service.fail(enrichment, "Model timeout after 300s")
    router = visual_layer_router(service, {"<your-jwt-token>": ME})
    seen: list[tuple[str, str, dict[str, str]]] = []
    monkeypatch.setitem(sys.modules, "requests", fake_requests(router, seen))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE), "exec"), {})
    assert [
        "Found 2 failed tasks",
        "  ENRICHMENT on Product Images Q1: Model timeout after 300s",
        "  DATASET_CREATION on Product Images Q1: Upload bucket unreachable",
        f"    Retried task {creation}",
    ] == out.getvalue().splitlines()
    assert (
        "GET",
        "/api/v1/tasks",
        {
            "task_status": "FAILED",
            "start_time_from": "2026-02-24T00:00:00Z",
            "sort_by": "start_time",
            "sort_order": "desc",
        },
    ) == seen[0]
    assert ("POST", f"/api/v1/tasks/{creation}/retry", {}) == seen[1]
    assert "INITIALIZING" == service.get(ME, creation).task.status
    assert 1 == service.list(ME, TaskQuery(task_status="FAILED")).total
