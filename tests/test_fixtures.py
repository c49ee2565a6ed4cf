"""Fixtures (docs/server.md, "Fixtures"): every section round-trips into the services on
both stores, every validation rule names its place in the file, a bad fixture (or one
that clashes with what a service holds) loads nothing, the shipped demo fixture loads and
serves through the routers, and ``taskcore fixtures check`` as a user runs it."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.service import ChunkrTasks
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.claro.task import Category
from taskcore.cli import main
from taskcore.clock import ManualClock
from taskcore.errors import DatasetNotFound, NotFound, ValidationError
from taskcore.fixtures import (
    MAX_CELLS,
    MAX_FIXTURE_BYTES,
    MAX_ITEMS,
    Fixture,
    FixtureError,
    demo_fixture,
    load,
    parse,
)
from taskcore.http import Request
from taskcore.sendai import ApiKey, SendAITasks
from taskcore.sendai.errors import InvalidTaskState
from taskcore.sendai.http import sendai_router
from taskcore.sendai.lifecycle import SendAIStatus
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.lifecycle import VisualLayerStatus
from taskcore.visual_layer.service import TASK_ROWS, VisualLayerTasks

# The installed package's file (the tests run against the installed package).
DEMO = Path(str(files("taskcore").joinpath("demo_fixture.json")))
RACHEL, ALEX = "rachel@visual-layer.com", "alex@visual-layer.com"
DS1, DS2 = "b1a39406-123d-11f1-9353-fa39f6ed1f22", "3f2b8c1e-6d4a-4e8b-9c71-2a5d0e9f4b10"
TASK = "a1b2c3d4-5678-90ab-cdef-1234567890ab"
WEBHOOK = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


@attrs.frozen
class Services:
    claro: ClaroTasks
    sendai: SendAITasks
    chunkr: ChunkrTasks
    visual_layer: VisualLayerTasks

    def load(self, source: Any) -> Any:
        return load(
            source,
            claro=self.claro,
            sendai=self.sendai,
            chunkr=self.chunkr,
            visual_layer=self.visual_layer,
        )


@pytest.fixture(params=["memory", "sqlite"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    clock = ManualClock()
    store: RowsStore = (
        MemoryStore(clock=clock)
        if request.param == "memory"
        else SqliteStore(tmp_path / "fixtures.db", clock=clock)
    )
    yield Services(
        ClaroTasks(store), SendAITasks(store), ChunkrTasks(store), VisualLayerTasks(store)
    )
    store.close()


def demo() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return loaded


def everything(store: RowsStore) -> list[tuple[str, str, Any]]:
    """Every row of every table the four services write (Visual Layer listing rows too)."""
    tables = [
        "claro.datasets", "claro.grids", "claro.webhooks", "claro.tasks", "claro.active",
        "sendai.projects", "sendai.uploads", "sendai.tasks", "sendai.processing",
        "chunkr.tasks", "chunkr.active",
        "visual_layer.datasets", "visual_layer.tasks", "visual_layer.members",
    ]  # fmt: skip
    with store.unit(readonly=True) as unit:
        listed = unit.select(TASK_ROWS, {})
        values = unit.distinct(TASK_ROWS, TASK_ROWS.column_names, {})
        rows = [("rows", "", (listed, values))] if listed else []
        return [(t, key, value) for t in tables for key, value in unit.items(t)] + rows


# -- the demo fixture -------------------------------------------------------------------


def test_the_shipped_demo_fixture_is_the_package_resource() -> None:
    assert parse(DEMO) == demo_fixture()
    assert isinstance(demo_fixture(), Fixture)


def test_the_demo_fixture_loads_every_section(services: Services) -> None:
    loaded = services.load(demo_fixture())

    assert {"YOUR_API_KEY": "acme"} == loaded.claro_keys
    assert {"YOUR_API_KEY": ApiKey("team_acme", ["task.read", "task.edit"])} == loaded.sendai_keys
    assert {"YOUR_API_KEY": "acme"} == loaded.chunkr_keys
    assert {"YOUR_JWT": RACHEL, "ALEX_JWT": ALEX} == loaded.visual_layer_tokens
    assert (("team_acme", "task_invoice_1"), ("team_acme", "task_invoice_2")) == (
        loaded.sendai_tasks
    )
    grid = services.claro.dataset("acme", "550e8400-e29b-41d4-a716-446655440000")
    assert (5, 3, 8) == (grid.row_count, grid.column_count, grid.empty_count)
    assert ("row_1", "col_category") == grid.locate("cell_1")
    review = services.sendai.task("team_acme", "task_invoice_1")
    assert (SendAIStatus.REVIEWING, "118.00") == (review.status, review.meta[0].value)
    statuses = [services.visual_layer.task(task_id).status for task_id in loaded.visual_layer_tasks]
    assert ["FAILED", "RUNNING", "RUNNING", "COMPLETED", "INITIALIZING", "ABORTED"] == statuses


def test_the_demo_fixture_serves_through_the_four_routers(services: Services) -> None:
    loaded = services.load(DEMO)
    claro = claro_router(services.claro, loaded.claro_keys)
    created = claro.handle(
        Request(
            "POST",
            "/api/v2/datasets/550e8400-e29b-41d4-a716-446655440000/tasks/bulk",
            {"Authorization": "Bearer YOUR_API_KEY", "Content-Type": "application/json"},
            json.dumps({"cellIds": ["cell_1", "cell_2"], "webhookId": WEBHOOK}).encode(),
        )
    )
    assert (201, 2) == (created.status, created.json()["targetCells"])
    sendai = sendai_router(services.sendai, loaded.sendai_keys)
    got = sendai.handle(
        Request(
            "GET",
            "/v2/team_acme/project/invoices/task/task_invoice_1",
            {"Authorization": "Bearer YOUR_API_KEY"},
        )
    )
    assert (200, "REVIEWING") == (got.status, got.json()["payload"]["status"])
    vl = visual_layer_router(services.visual_layer, loaded.visual_layer_tokens)
    for token, visible in (("YOUR_JWT", 6), ("ALEX_JWT", 3)):
        listed = vl.handle(Request("GET", "/api/v1/tasks", {"Authorization": f"Bearer {token}"}))
        assert (200, visible) == (listed.status, listed.json()["total"])
    retried = vl.handle(
        Request("POST", f"/api/v1/tasks/{TASK}/retry", {"Authorization": "Bearer YOUR_JWT"})
    )
    assert (200, "INITIALIZING") == (retried.status, retried.json()["status"])
    chunkr = chunkr_router(services.chunkr, loaded.chunkr_keys, base_url="http://127.0.0.1")
    parsed = chunkr.handle(
        Request(
            "POST",
            "/api/v1/task/parse",
            {"Authorization": "YOUR_API_KEY", "Content-Type": "application/json"},
            b'{"file": "https://example.com/report.pdf"}',
        )
    )
    assert (200, "Starting") == (parsed.status, parsed.json()["status"])


# -- round trips per section ------------------------------------------------------------


def test_claro_accounts_datasets_and_webhooks_round_trip(services: Services) -> None:
    loaded = services.load(
        {
            "claro": {
                "accounts": [
                    {
                        "id": "a",
                        "api_keys": ["k1", "k2"],
                        "datasets": [
                            {"id": "all", "rows": ["r1", "r2"], "columns": ["c"], "filled": True},
                            {
                                "id": "some",
                                "category": "map_extraction",
                                "rows": ["r1", "r2"],
                                "columns": ["c1", "c2"],
                                "filled": [["r2", "c1"]],
                                "cell_ids": {"x": ["r1", "c2"]},
                            },
                            {"id": "bare"},
                        ],
                        "webhooks": [{"id": "w", "url": "https://h.example/x", "secret": "s"}],
                    },
                    {"id": "b", "api_keys": ["k3"]},
                ]
            }
        }
    )
    assert {"k1": "a", "k2": "a", "k3": "b"} == loaded.claro_keys
    assert Grid(["r1", "r2"], ["c"], filled=True) == services.claro.dataset("a", "all")
    some = services.claro.dataset("a", "some")
    assert [True, True] == [some.is_empty("r1", "c1"), some.is_empty("r1", "c2")]
    assert [False, True] == [some.is_empty("r2", "c1"), some.is_empty("r2", "c2")]
    assert ("r1", "c2") == some.locate("x")
    assert Grid() == services.claro.dataset("a", "bare")
    task = services.claro.create_bulk("a", "some", {"webhookId": "w"})
    assert (Category.MAP_EXTRACTION, "w", 3) == (task.category, task.webhook_id, task.total)
    with pytest.raises(DatasetNotFound):
        services.claro.dataset("b", "all")


@pytest.mark.parametrize(
    ("document", "status"),
    [
        ({}, SendAIStatus.PROCESSING),
        ({"status": "REVIEWING"}, SendAIStatus.REVIEWING),
        ({"status": "FAILED", "failure_reason": "ocr_failed"}, SendAIStatus.FAILED),
        ({"status": "DISCARDED"}, SendAIStatus.DISCARDED),
        ({"status": "COMPLETED", "meta": [{"name": "total", "value": "9"}]}, "quick"),
        ({"status": "FILTERED", "meta": [{"name": "kind", "value": "spam"}]}, "quick"),
        ({"status": "REVIEWING", "meta": [{"name": "kind", "value": "x"}]}, "quick"),
    ],
)
def test_sendai_documents_reach_their_status_through_the_pipeline(
    services: Services, document: dict[str, Any], status: Any
) -> None:
    quick = status == "quick"  # a project whose step needs no review
    step = {"step_type": "EXTRACT", "required": ["total"], "review": not quick}
    if quick:
        step["filters"] = [{"name": "kind", "value": "spam"}]
    loaded = services.load(
        {
            "sendai": {
                "teams": [
                    {
                        "id": "t",
                        "api_keys": [{"key": "r", "scopes": ["tasks.view"]}, {"key": "rw"}],
                        "projects": [{"id": "p", "steps": [step]}],
                        "uploads": [
                            {
                                "id": "u",
                                "project": "p",
                                "documents": [{"id": "d1", "name": "a.pdf", **document}],
                            }
                        ],
                    }
                ]
            }
        }
    )
    expected = SendAIStatus(document["status"]) if quick else status
    task = services.sendai.task("t", "d1")
    assert expected == task.status
    assert (("t", "d1"),) == loaded.sendai_tasks
    assert ApiKey("t", ["task.read"]) == loaded.sendai_keys["r"]
    assert ApiKey("t", ["task.read", "task.edit"]) == loaded.sendai_keys["rw"]
    assert document.get("failure_reason") == task.failure_reason
    assert (task.status is SendAIStatus.PROCESSING) == (
        [task] == list(services.sendai.processing())
    )


def test_sendai_uploads_without_ids_and_fully_processed(services: Services) -> None:
    loaded = services.load(
        {
            "sendai": {
                "teams": [
                    {
                        "id": "t",
                        "projects": [{"id": "p", "steps": [{"step_type": "GROUP"}]}],
                        "uploads": [
                            {
                                "id": "u",
                                "project": "p",
                                "fully_processed": True,
                                "documents": [{"name": "a.pdf", "pages": 3, "status": "DISCARDED"}],
                            }
                        ],
                    }
                ]
            }
        }
    )
    ((team, task_id),) = loaded.sendai_tasks
    assert (3, SendAIStatus.DISCARDED) == (
        services.sendai.task(team, task_id).pages,
        services.sendai.task(team, task_id).status,
    )
    with pytest.raises(InvalidTaskState) as refused:
        services.sendai.unlock(ApiKey("t", ["task.edit"]), "p", task_id)
    assert "upload_fully_processed" == refused.value.reason


def test_chunkr_users_and_keys_round_trip(services: Services) -> None:
    loaded = services.load(
        {"chunkr": {"users": [{"id": "u1", "api_keys": ["a", "b"]}, {"id": "u2"}]}}
    )
    assert {"a": "u1", "b": "u1"} == loaded.chunkr_keys


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"status": "INITIALIZING"}, ("INITIALIZING", None, False, None)),
        ({}, ("INITIALIZING", None, False, None)),
        ({"status": "RUNNING"}, ("RUNNING", 0, False, None)),
        ({"status": "RUNNING", "progress": 40}, ("RUNNING", 40, False, None)),
        (
            {"status": "RUNNING", "progress": 97, "commit_phase": True},
            ("RUNNING", 97, True, None),
        ),
        ({"status": "COMPLETED"}, ("COMPLETED", 100, False, None)),
        ({"status": "FAILED", "error_message": "boom"}, ("FAILED", None, False, "boom")),
        (
            {"status": "FAILED", "progress": 45, "error_message": "boom"},
            ("FAILED", 45, False, "boom"),
        ),
        ({"status": "ABORTED"}, ("ABORTED", None, False, None)),
        ({"status": "ABORTED", "progress": 10}, ("ABORTED", 10, False, None)),
    ],
)
def test_visual_layer_tasks_reach_any_state(
    services: Services, spec: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    loaded = services.load(
        {
            "visual_layer": {
                "users": [{"email": RACHEL, "tokens": ["t1", "t2"]}],
                "datasets": [{"id": DS1, "name": "Images", "users": [RACHEL]}],
                "tasks": [
                    {
                        "dataset": DS1,
                        "task_type": "DATASET_CREATION",
                        "created_by": RACHEL,
                        "configuration": {"source": "s3://bucket"},
                        **spec,
                    }
                ],
            }
        }
    )
    assert {"t1": RACHEL, "t2": RACHEL} == loaded.visual_layer_tokens
    (task_id,) = loaded.visual_layer_tasks
    task = services.visual_layer.task(task_id)
    actual = (task.status.value, task.progress_percentage, task.in_commit_phase, task.error_message)
    assert expected == actual
    assert {"source": "s3://bucket"} == task.configuration
    assert (task.end_time is None) == (task.status in (VisualLayerStatus.INITIALIZING, "RUNNING"))


def test_a_summary_says_what_each_section_holds() -> None:
    assert [
        "claro: 1 account(s), 1 API key(s), 1 dataset(s), 1 webhook(s)",
        "sendai: 1 team(s), 1 API key(s), 1 project(s), 1 upload(s), 2 task(s) "
        "(1 PROCESSING, 1 REVIEWING)",
        "chunkr: 1 user(s), 1 API key(s)",
        "visual_layer: 2 user(s) with 2 token(s), 2 dataset(s), 6 task(s) "
        "(1 ABORTED, 1 COMPLETED, 1 FAILED, 1 INITIALIZING, 2 RUNNING)",
    ] == demo_fixture().summary()
    empty: dict[str, Any] = {"claro": {}, "sendai": {}, "chunkr": {}, "visual_layer": {}}
    assert [
        "claro: 0 account(s), 0 API key(s), 0 dataset(s), 0 webhook(s)",
        "sendai: 0 team(s), 0 API key(s), 0 project(s), 0 upload(s), 0 task(s)",
        "chunkr: 0 user(s), 0 API key(s)",
        "visual_layer: 0 user(s) with 0 token(s), 0 dataset(s), 0 task(s)",
    ] == parse(empty).summary()


def test_an_empty_fixture_loads_nothing_and_needs_no_service() -> None:
    assert attrs.asdict(load({})) == attrs.asdict(load(b"{}"))
    assert [] == parse({"format": 1}).summary()


# -- validation -------------------------------------------------------------------------

VL_BASE: dict[str, Any] = {
    "users": [{"email": RACHEL}],
    "datasets": [{"id": DS1, "name": "n", "users": [RACHEL]}],
}


def vl_task(**fields: Any) -> dict[str, Any]:
    task = {"dataset": DS1, "task_type": "DATASET_CREATION", "created_by": RACHEL, **fields}
    return {"visual_layer": {**VL_BASE, "tasks": [task]}}


def sendai_doc(step: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    document = {"name": "a.pdf", **fields}
    upload = {"id": "u", "project": "p", "documents": [document]}
    project = {"id": "p", "steps": [step or {"step_type": "EXTRACT"}]}
    return {"sendai": {"teams": [{"id": "t", "projects": [project], "uploads": [upload]}]}}


def claro_dataset(**fields: Any) -> dict[str, Any]:
    dataset = {"id": "d", "rows": ["r1"], "columns": ["c1"], **fields}
    return {"claro": {"accounts": [{"id": "a", "datasets": [dataset]}]}}


INVALID: list[tuple[Any, str]] = [
    (b"[]", "$: must be an object, not an array"),
    ({"format": 2}, "$.format: must be 1"),
    ({"format": True}, "$.format: must be 1"),
    ({"claro": [], "oops": 1}, "$.oops: unknown key"),
    ({"claro": {"a.b": 1}}, "$.claro['a.b']: unknown key"),
    ({"claro": {"it's\n": 1}}, "$.claro['it\\'s\\n']: unknown key"),
    (
        claro_dataset(cell_ids={"cell 1": ["r1", "c9"]}),
        "$.claro.accounts[0].datasets[0].cell_ids['cell 1'][1]: unknown column 'c9'",
    ),
    ({"claro": []}, "$.claro: must be an object, not an array"),
    ({"claro": None}, "$.claro: must be an object, not null"),
    ({"chunkr": {"users": {}}}, "$.chunkr.users: must be an array, not an object"),
    (
        {"chunkr": {"users": [{"id": True}]}},
        "$.chunkr.users[0].id: must be a string, not a boolean",
    ),
    ({"claro": {"accounts": [{}]}}, "$.claro.accounts[0].id: is required"),
    (
        {"claro": {"accounts": [{"id": 7}]}},
        "$.claro.accounts[0].id: must be a string, not a number",
    ),
    ({"claro": {"accounts": [{"id": ""}]}}, "$.claro.accounts[0].id: must be 1 to 255 characters"),
    (
        {"claro": {"accounts": [{"id": "a\n"}]}},
        "$.claro.accounts[0].id: must not hold control characters or lone surrogates",
    ),
    (
        {"claro": {"accounts": [{"id": "a"}, {"id": "a"}]}},
        "$.claro.accounts[1].id: account 'a' is already given at $.claro.accounts[0].id",
    ),
    (
        {"claro": {"accounts": [{"id": "a", "api_keys": ["k"]}, {"id": "b", "api_keys": ["k"]}]}},
        "$.claro.accounts[1].api_keys[0]: API key 'k' is already given at "
        "$.claro.accounts[0].api_keys[0]",
    ),
    (
        claro_dataset(id="a/b"),
        "$.claro.accounts[0].datasets[0].id: must not hold '/' nor be '.' or '..'",
    ),
    (
        claro_dataset(category="magic"),
        "$.claro.accounts[0].datasets[0].category: unknown category 'magic'; one of "
        "enrichment, extraction, map_extraction, ai_generation",
    ),
    (
        claro_dataset(rows=["r1", "r1"]),
        "$.claro.accounts[0].datasets[0].rows[1]: row 'r1' is already given at "
        "$.claro.accounts[0].datasets[0].rows[0]",
    ),
    (
        claro_dataset(filled="yes"),
        "$.claro.accounts[0].datasets[0].filled: must be an array, not a string",
    ),
    (
        claro_dataset(filled=[["r1"]]),
        "$.claro.accounts[0].datasets[0].filled[0]: must be [row id, column id]",
    ),
    (
        claro_dataset(filled=[["r2", "c1"]]),
        "$.claro.accounts[0].datasets[0].filled[0][0]: unknown row 'r2'",
    ),
    (
        claro_dataset(cell_ids={"x": ["r1", "c2"]}),
        "$.claro.accounts[0].datasets[0].cell_ids.x[1]: unknown column 'c2'",
    ),
    (
        claro_dataset(cell_ids=["x"]),
        "$.claro.accounts[0].datasets[0].cell_ids: must be an object, not an array",
    ),
    (
        claro_dataset(rows=["r1", "r2"], cell_ids={"x": ["r1", "c1"], "y": ["r1", "c1"]}),
        "$.claro.accounts[0].datasets[0].cell_ids: cell ('r1', 'c1') is named twice: 'x' and 'y'",
    ),
    (
        claro_dataset(rows=[f"r{i}" for i in range(1001)], columns=[f"c{i}" for i in range(1000)]),
        f"$.claro.accounts[0].datasets[0]: has 1001000 cells; at most {MAX_CELLS}",
    ),
    (
        {
            "claro": {
                "accounts": [
                    {"id": "a", "webhooks": [{"id": "w", "url": "ftp://x", "secret": "s"}]}
                ]
            }
        },
        "$.claro.accounts[0].webhooks[0].url: must be an http:// or https:// URL",
    ),
    (
        {"claro": {"accounts": [{"id": "a", "webhooks": [{"id": "w", "url": "http://x"}]}]}},
        "$.claro.accounts[0].webhooks[0].secret: is required",
    ),
    (
        {"claro": {"accounts": [{"id": "a", "api_keys": ["k"] * (MAX_ITEMS + 1)}]}},
        f"$.claro.accounts[0].api_keys: has {MAX_ITEMS + 1} items; at most {MAX_ITEMS} are allowed",
    ),
    (
        {"sendai": {"teams": [{"id": "t", "api_keys": [{"key": "k", "scopes": ["admin"]}]}]}},
        "$.sendai.teams[0].api_keys[0].scopes[0]: unknown scope 'admin'; one of task.read, "
        "task.edit, tasks.view, tasks.edit",
    ),
    (
        {"sendai": {"teams": [{"id": "t", "projects": [{"id": "p", "steps": []}]}]}},
        "$.sendai.teams[0].projects[0].steps: a project has at least one step",
    ),
    (
        sendai_doc({"step_type": "OCR"}),
        "$.sendai.teams[0].projects[0].steps[0].step_type: unknown step type 'OCR'; one of "
        "EXTRACT, CLASSIFY, SEGMENT, GROUP",
    ),
    (
        sendai_doc({"step_type": "EXTRACT", "review": "no"}),
        "$.sendai.teams[0].projects[0].steps[0].review: must be true or false, not a string",
    ),
    (
        sendai_doc(status="DONE"),
        "$.sendai.teams[0].uploads[0].documents[0].status: unknown status 'DONE'; one of "
        "PROCESSING, REVIEWING, COMPLETED, FILTERED, FAILED, DISCARDED",
    ),
    (
        sendai_doc(status="COMPLETED"),
        "$.sendai.teams[0].uploads[0].documents[0].status: the project's pipeline takes this "
        "document to REVIEWING, not COMPLETED (see its steps' review, required and filters)",
    ),
    (
        sendai_doc(meta=[{"name": "x", "value": "1"}]),
        "$.sendai.teams[0].uploads[0].documents[0].meta: is what the pipeline step extracts: "
        "not for a PROCESSING task or one that fails before its step ran",
    ),
    (
        sendai_doc(status="REVIEWING", meta=[{"name": "x", "value": 1}]),
        "$.sendai.teams[0].uploads[0].documents[0].meta[0].value: must be a string of at most 1000",
    ),
    (
        sendai_doc(failure_reason="x"),
        "$.sendai.teams[0].uploads[0].documents[0].failure_reason: only a FAILED task has one",
    ),
    (
        sendai_doc(pages=0),
        "$.sendai.teams[0].uploads[0].documents[0].pages: must be a whole number in 1..10000",
    ),
    (
        sendai_doc(id="x/y"),
        "$.sendai.teams[0].uploads[0].documents[0].id: must not hold '/' nor be '.' or '..'",
    ),
    (
        {
            "sendai": {
                "teams": [
                    {
                        "id": "t",
                        "projects": [{"id": "p", "steps": [{"step_type": "GROUP"}]}],
                        "uploads": [
                            {
                                "id": "u",
                                "project": "p",
                                "documents": [{"name": "a", "id": "1"}, {"name": "b"}],
                            }
                        ],
                    }
                ]
            }
        },
        "$.sendai.teams[0].uploads[0].documents[1].id: either every document of an upload has "
        "an id or none",
    ),
    (
        {
            "sendai": {
                "teams": [
                    {
                        "id": "t",
                        "projects": [{"id": "p", "steps": [{"step_type": "GROUP"}]}],
                        "uploads": [
                            {"id": "u", "project": "p", "documents": [{"name": "a", "id": "1"}]},
                            {"id": "v", "project": "p", "documents": [{"name": "b", "id": "1"}]},
                        ],
                    }
                ]
            }
        },
        "$.sendai.teams[0].uploads[1].documents[0].id: task '1' is already given at "
        "$.sendai.teams[0].uploads[0].documents[0].id",
    ),
    (
        {
            "sendai": {
                "teams": [{"id": "t", "uploads": [{"id": "u", "project": "q", "documents": []}]}]
            }
        },
        "$.sendai.teams[0].uploads[0].project: unknown project 'q' of this team",
    ),
    (
        {
            "sendai": {
                "teams": [
                    {
                        "id": "t",
                        "projects": [{"id": "p", "steps": [{"step_type": "GROUP"}]}],
                        "uploads": [{"id": "u", "project": "p", "documents": []}],
                    }
                ]
            }
        },
        "$.sendai.teams[0].uploads[0].documents: an upload has at least one document",
    ),
    (
        {"chunkr": {"users": [{"id": "u", "api_keys": [""]}]}},
        "$.chunkr.users[0].api_keys[0]: must be 1 to 255 characters",
    ),
    (
        {"chunkr": {"users": [{"id": "u"}, {"id": "u"}]}},
        "$.chunkr.users[1].id: user 'u' is already given at $.chunkr.users[0].id",
    ),
    (
        vl_task(status="DONE"),
        "$.visual_layer.tasks[0].status: unknown status 'DONE'; one of "
        "INITIALIZING, RUNNING, COMPLETED, FAILED, ABORTED",
    ),
    (
        {"visual_layer": {"datasets": [{"id": "not-a-uuid", "name": "n"}]}},
        "$.visual_layer.datasets[0].id: must be a lower-case hyphenated UUID, not 'not-a-uuid'",
    ),
    (
        {"visual_layer": {"datasets": [{"id": DS1.upper(), "name": "n"}]}},
        f"$.visual_layer.datasets[0].id: must be a lower-case hyphenated UUID, not '{DS1.upper()}'",
    ),
    (
        {
            "visual_layer": {
                "users": [{"email": RACHEL, "tokens": ["t"]}, {"email": ALEX, "tokens": ["t"]}]
            }
        },
        "$.visual_layer.users[1].tokens[0]: token 't' is already given at "
        "$.visual_layer.users[0].tokens[0]",
    ),
    (
        vl_task(dataset=DS2),
        f"$.visual_layer.tasks[0].dataset: unknown dataset '{DS2}' of this fixture",
    ),
    (
        vl_task(created_by=ALEX),
        f"$.visual_layer.tasks[0].created_by: '{ALEX}' is not a user of the dataset",
    ),
    (
        vl_task(task_type="CLEANUP"),
        "$.visual_layer.tasks[0].task_type: unknown task type 'CLEANUP'; one of DATASET_CREATION, "
        "MEDIA_ADDITION, REINDEX, ENRICHMENT, CUSTOM_METADATA, SNAPSHOT_RESTORE, SNAPSHOT_CLONE",
    ),
    (
        vl_task(status="COMPLETED", progress=50),
        "$.visual_layer.tasks[0].progress: a task COMPLETED has no progress to set",
    ),
    (
        vl_task(status="RUNNING", progress=101),
        "$.visual_layer.tasks[0].progress: must be a whole number in 0..100",
    ),
    (
        vl_task(status="RUNNING", progress=True),
        "$.visual_layer.tasks[0].progress: must be a whole number in 0..100",
    ),
    (
        vl_task(status="FAILED", commit_phase=True),
        "$.visual_layer.tasks[0].commit_phase: only a RUNNING task is in its commit phase",
    ),
    (
        vl_task(status="FAILED"),
        "$.visual_layer.tasks[0].error_message: is required for a FAILED task",
    ),
    (
        vl_task(error_message="x"),
        "$.visual_layer.tasks[0].error_message: only a FAILED task has one",
    ),
    (
        vl_task(status="ABORTED", task_type="REINDEX"),
        "$.visual_layer.tasks[0].status: only a DATASET_CREATION can be ABORTED",
    ),
    (
        vl_task(id=TASK.upper()),
        f"$.visual_layer.tasks[0].id: must be a lower-case hyphenated UUID, not '{TASK.upper()}'",
    ),
    (
        vl_task(configuration=[1]),
        "$.visual_layer.tasks[0].configuration: must be an object, not an array",
    ),
    (
        vl_task(configuration={"x": "y" * 70_000}),
        "$.visual_layer.tasks[0].configuration: is larger than 65536 bytes",
    ),
    (
        {"visual_layer": {**VL_BASE, "tasks": [vl_task(id=TASK)["visual_layer"]["tasks"][0]] * 2}},
        f"$.visual_layer.tasks[1].id: task '{TASK}' is already given at $.visual_layer.tasks[0].id",
    ),
]


@pytest.mark.parametrize(("fixture", "message"), INVALID)
def test_an_invalid_fixture_is_one_error_naming_its_place(fixture: Any, message: str) -> None:
    with pytest.raises(FixtureError) as raised:
        parse(fixture)
    assert message == str(raised.value)
    assert message.startswith(raised.value.path + ": ")
    assert (raised.value.path, raised.value.reason) == tuple(message.split(": ", 1))
    assert isinstance(raised.value, ValidationError | ValueError)
    assert 400 == raised.value.status


def test_a_mapping_with_values_json_has_no_form_for_is_refused() -> None:
    for value, message in [
        (float("nan"), "$.visual_layer.tasks[0].configuration.x: must be a finite number"),
        ({1, 2}, "$.visual_layer.tasks[0].configuration.x: set is not a JSON value"),
        ([float("inf")], "$.visual_layer.tasks[0].configuration.x[0]: must be a finite number"),
    ]:
        with pytest.raises(FixtureError) as raised:
            parse(vl_task(configuration={"x": value}))
        assert message == str(raised.value)
    with pytest.raises(FixtureError, match=r"^\$\.visual_layer\.tasks\[0\]\.configuration: "):
        parse(vl_task(configuration={1: "x"}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "$: not strict JSON: The fixture must be a JSON object"),
        (b"{", "$: not strict JSON: The fixture is not valid JSON"),
        (b'{"claro": {}, "claro": {}}', "$: not strict JSON: Duplicate key 'claro' in JSON object"),
        (b'{"format": NaN}', "$: not strict JSON: NaN is not a JSON number"),
        (b"[" * 65 + b"]" * 65, "$: not strict JSON: The fixture is nested deeper than 64 levels"),
        (b"\xff", "$: not strict JSON: The fixture is not valid JSON"),
    ],
)
def test_a_fixture_must_be_strict_json(data: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        with pytest.raises(FixtureError) as raised:
            parse(source)
        assert message == str(raised.value)


def test_a_mapping_nested_past_the_interpreters_limit_is_refused() -> None:
    deep: dict[str, Any] = {}
    for _ in range(sys.getrecursionlimit() + 10):
        deep = {"x": deep}
    with pytest.raises(FixtureError) as raised:
        parse(vl_task(configuration=deep))
    assert "$: nested too deeply" == str(raised.value)


def test_a_fixture_file_is_bounded_and_must_exist(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_FIXTURE_BYTES + 1))
    with pytest.raises(FixtureError) as raised:
        parse(big)
    assert f"$: the file is larger than {MAX_FIXTURE_BYTES} bytes" == str(raised.value)
    with pytest.raises(FixtureError, match=r"^\$: cannot read .*missing\.json: "):
        parse(tmp_path / "missing.json")


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indices that lead to it."""
    yield prefix
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from paths(item, (*prefix, key))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
DEMO_PLACES = list(paths(json.loads(DEMO.read_text(encoding="utf-8"))))[1:]


@given(st.sampled_from(DEMO_PLACES), json_values | st.just(DELETE := object()))
def test_any_change_to_the_demo_loads_all_of_it_or_nothing(
    place: tuple[Any, ...], new: Any
) -> None:
    fixture = demo()
    *parents, last = place
    holder = fixture
    for key in parents:
        holder = holder[key]
    if new is DELETE:
        del holder[last]
    else:
        holder[last] = new
    store = MemoryStore(clock=ManualClock())
    world = Services(
        ClaroTasks(store), SendAITasks(store), ChunkrTasks(store), VisualLayerTasks(store)
    )
    try:
        world.load(fixture)
    except FixtureError as error:
        assert error.path.startswith("$")
        assert [] == everything(store)
    else:
        assert everything(store)


# -- a bad fixture loads nothing --------------------------------------------------------


def test_a_fixture_bad_in_its_last_place_loads_nothing(services: Services) -> None:
    bad = demo()
    bad["visual_layer"]["tasks"][-1]["status"] = "DONE"
    with pytest.raises(FixtureError, match=r"^\$\.visual_layer\.tasks\[5\]\.status: unknown"):
        services.load(bad)
    assert [] == everything(services.visual_layer.store)


@pytest.mark.parametrize(
    ("clash", "message"),
    [
        ("claro", "$.claro.accounts[0].datasets[0].id: the Claro service has this dataset"),
        ("project", "$.sendai.teams[0].projects[0].id: the Send AI service has this project"),
        ("upload", "$.sendai.teams[0].uploads[0].id: the Send AI service has this upload"),
        (
            "document",
            "$.sendai.teams[0].uploads[0].documents[0].id: the Send AI service has this task",
        ),
        ("dataset", "$.visual_layer.datasets[1].id: the Visual Layer service has this dataset"),
        ("task", "$.visual_layer.tasks[5].id: the Visual Layer service has this task"),
    ],
)
def test_a_fixture_naming_what_a_service_holds_loads_nothing(
    services: Services, clash: str, message: str
) -> None:
    fixture = demo()
    first = copy.deepcopy(fixture)
    # Load only the one clashing thing first, under the fixture's id.
    only: dict[str, Any] = {}
    if clash == "claro":
        only = {"claro": first["claro"]}
    elif clash == "project":
        team = first["sendai"]["teams"][0]
        only = {"sendai": {"teams": [{"id": team["id"], "projects": team["projects"]}]}}
        fixture["sendai"]["teams"][0]["uploads"] = []
    elif clash in ("upload", "document"):
        team = first["sendai"]["teams"][0]
        fixture["sendai"]["teams"][0]["projects"][0]["id"] = "other"
        for upload in fixture["sendai"]["teams"][0]["uploads"]:
            upload["project"] = "other"
        if clash == "document":
            fixture["sendai"]["teams"][0]["uploads"][0]["id"] = "upload_2"
        only = {"sendai": {"teams": [team]}}
    elif clash == "dataset":
        only = {"visual_layer": {"datasets": [first["visual_layer"]["datasets"][1]]}}
    else:
        vl = first["visual_layer"]
        only = {"visual_layer": {"datasets": vl["datasets"][:1], "tasks": vl["tasks"][:0]}}
        task = dict(vl["tasks"][5], dataset=DS1)
        only["visual_layer"]["tasks"] = [task]
        fixture["visual_layer"]["datasets"][0]["id"] = "aaaaaaaa-1111-4222-8333-444444444444"
        for one in fixture["visual_layer"]["tasks"]:
            if one["dataset"] == DS1:
                one["dataset"] = "aaaaaaaa-1111-4222-8333-444444444444"
    services.load(only)
    before = everything(services.visual_layer.store)
    with pytest.raises(FixtureError) as raised:
        services.load(fixture)
    assert message == str(raised.value)
    assert before == everything(services.visual_layer.store)


def test_a_section_for_a_service_not_given_loads_nothing() -> None:
    claro = ClaroTasks()
    with pytest.raises(FixtureError) as raised:
        load(demo(), claro=claro)
    assert "$.chunkr: no chunkr service was given to load it into" == str(raised.value)
    with pytest.raises(NotFound):
        claro.check_dataset("acme", "550e8400-e29b-41d4-a716-446655440000")


# -- the guide --------------------------------------------------------------------------


def guide_section(heading: str) -> str:
    """One ``## `` section of docs/server.md (other sections belong to other parts)."""
    text = (Path(__file__).parents[1] / "docs" / "server.md").read_text(encoding="utf-8")
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_guide_shows_the_shipped_demo_fixture() -> None:
    block = guide_section("Fixtures").split("```json\n", 1)[1].split("```", 1)[0]
    assert DEMO.read_text(encoding="utf-8") == block


def test_the_guides_fixture_example_runs() -> None:
    example = guide_section("Fixtures").split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/server.md", "exec"), {})


# -- the command line -------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskcore", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_fixtures_check_prints_what_a_valid_file_holds() -> None:
    result = run_cli("fixtures", "check", str(DEMO))
    assert 0 == result.returncode
    assert [
        f"{DEMO}: valid fixture",
        "  claro: 1 account(s), 1 API key(s), 1 dataset(s), 1 webhook(s)",
        "  sendai: 1 team(s), 1 API key(s), 1 project(s), 1 upload(s), 2 task(s) "
        "(1 PROCESSING, 1 REVIEWING)",
        "  chunkr: 1 user(s), 1 API key(s)",
        "  visual_layer: 2 user(s) with 2 token(s), 2 dataset(s), 6 task(s) "
        "(1 ABORTED, 1 COMPLETED, 1 FAILED, 1 INITIALIZING, 2 RUNNING)",
    ] == result.stdout.splitlines()


def test_fixtures_check_in_process(tmp_path: Path) -> None:
    out = io.StringIO()
    assert 0 == main(["fixtures", "check", str(DEMO)], out=out)
    assert f"{DEMO}: valid fixture\n  claro: 1 account(s)" in out.getvalue()
    missing = tmp_path / "missing.json"
    out = io.StringIO()
    assert 2 == main(["fixtures", "check", str(missing)], out=out)
    assert out.getvalue().startswith(f"{missing}: invalid fixture: $: cannot read ")


def test_fixtures_check_names_the_error_and_exits_2(tmp_path: Path) -> None:
    bad = demo()
    bad["visual_layer"]["tasks"][3]["status"] = "DONE"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = run_cli("fixtures", "check", str(path))
    assert 2 == result.returncode
    assert (
        f"{path}: invalid fixture: $.visual_layer.tasks[3].status: unknown status 'DONE'; "
        "one of INITIALIZING, RUNNING, COMPLETED, FAILED, ABORTED\n"
    ) == result.stdout
    assert 2 == run_cli("fixtures", "check").returncode  # FILE is required (argparse)
