"""Every request example of the four APIs' documents (tests/golden/requests/), sent over a
real socket to taskcore's handler under uvicorn, gets the documented status and shape."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_helpers import call, running
from taskcore.chunkr import Chunk, Output, Segment
from taskcore.chunkr.wire import parse_create
from taskcore.claro.grid import CellTable, Grid
from taskcore.sendai import ApiKey, Document, MetaField, Step
from taskcore.server import Services
from taskcore.visual_layer import TaskType

GOLDEN = Path(__file__).resolve().parent / "golden"
REQUESTS = GOLDEN / "requests"
RESPONSES = {
    "claro": GOLDEN,
    "sendai": GOLDEN / "sendai",
    "chunkr": GOLDEN / "chunkr",
    "visual_layer": GOLDEN / "visual_layer",
}
ME = "rachel@visual-layer.com"
NUMBERS = itertools.count()
PROJECTS: set[int] = set()


def examples(api: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((REQUESTS / f"{api}.json").read_text("utf-8"))
    return loaded


def ids(api: str) -> list[str]:
    return [f"{e['section']}: {e['example']}" for e in examples(api)]


def same_shape(
    golden: Any,
    answer: Any,
    where: str = "$",
    *,
    optional: frozenset[str] = frozenset(),
    nullable: bool = False,
) -> None:
    """Every key of ``golden`` but the top-level ``optional`` ones is in ``answer`` with
    the same JSON type, recursively (a golden ``null`` stands for any type, and so does
    an answer's ``null`` when ``nullable``; list items are compared with the golden's
    first)."""
    if golden is None or (nullable and answer is None):
        return
    if isinstance(golden, dict):
        assert isinstance(answer, dict), where
        golden = {k: v for k, v in golden.items() if k in answer or k not in optional}
        missing = sorted(set(golden) - set(answer))
        assert [] == missing, f"{where}: keys missing"
        for key, value in golden.items():
            same_shape(value, answer[key], f"{where}.{key}", nullable=nullable)
    elif isinstance(golden, list):
        assert isinstance(answer, list), where
        if golden and answer:
            same_shape(golden[0], answer[0], f"{where}[0]", nullable=nullable)
    elif isinstance(golden, bool):
        assert isinstance(answer, bool), where
    elif isinstance(golden, int | float):
        assert isinstance(answer, int | float), where
        assert not isinstance(answer, bool), where
    else:
        assert isinstance(answer, type(golden)), where


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Services]]:
    with running() as (url, services):
        keys = services.keys
        keys.claro["YOUR_API_KEY"] = "acme"
        keys.sendai["YOUR_API_KEY"] = ApiKey("team_acme", frozenset({"task.read", "task.edit"}))
        keys.chunkr["YOUR_API_KEY"] = "acme"
        keys.visual_layer["<jwt>"] = ME
        yield url, services


def send(url: str, example: dict[str, Any], path: str) -> Any:
    body = None if example["body"] is None else json.dumps(example["body"]).encode()
    return call(url, example["method"], path, headers=example["headers"], body=body)


def claro_dataset(services: Services, number: int) -> str:
    rows = [f"row_{i}" for i in range(1, 6)]
    columns = ["col_name", "col_product_name", "col_category"]
    named = {"cell_1": ("row_1", "col_name"), "cell_2": ("row_2", "col_category")}
    grid = Grid(rows, columns, codec=CellTable(named))
    return services.claro.create_dataset("acme", grid, dataset_id=f"ds_{number}")


@pytest.mark.parametrize("example", examples("claro"), ids=ids("claro"))
def test_claro_examples(server: tuple[str, Services], example: dict[str, Any]) -> None:
    url, services = server
    claro = services.claro
    dataset = claro_dataset(services, next(NUMBERS))
    webhook = claro.register_webhook("acme", "https://hooks.example.invalid/", "s3cret").webhook_id
    path = example["path"].replace("$DATASET_ID", dataset)
    if "$TASK_ID" in path:
        task = claro.create_bulk("acme", dataset, {"rowIds": ["row_1"]})
        claro.start(task.task_id)
        path = path.replace("$TASK_ID", task.task_id)
    if example["body"] and "webhookId" in example["body"]:
        example = {**example, "body": {**example["body"], "webhookId": webhook}}
    answer = send(url, example, path)
    assert example["status"] == answer.status, answer.text
    assert "application/json" == answer.headers["content-type"]
    golden = json.loads((RESPONSES["claro"] / example["response"]).read_text("utf-8"))
    optional = frozenset() if "webhookId" in (example["body"] or {}) else frozenset({"webhookId"})
    same_shape(golden, answer.json(), optional=optional)


def sendai_task(services: Services, state: str) -> str:
    """A new task of team_acme's project ``invoices`` in ``state`` (REVIEWING, COMPLETED)."""
    sendai = services.sendai
    if id(services) not in PROJECTS:
        sendai.create_project("team_acme", "invoices", [Step("EXTRACT", ["invoice_total"])])
        PROJECTS.add(id(services))
    (task,) = sendai.upload("team_acme", "invoices", f"up_{next(NUMBERS)}", [Document("a.pdf", 1)])
    task = sendai.run_step("team_acme", task.id)
    if state == "COMPLETED":
        key = ApiKey("team_acme", frozenset({"task.edit"}))
        sendai.complete(key, "invoices", task.id, [MetaField("invoice_total", "1.00")])
        task = sendai.run_step("team_acme", task.id)
    assert state == task.status
    return task.id


@pytest.mark.parametrize("example", examples("sendai"), ids=ids("sendai"))
def test_sendai_examples(server: tuple[str, Services], example: dict[str, Any]) -> None:
    url, services = server
    task_id = sendai_task(services, example["state"])
    path = example["path"].format(team_id="team_acme", project_id="invoices", task_id=task_id)
    answer = send(url, example, path)
    assert example["status"] == answer.status, answer.text
    golden = json.loads((RESPONSES["sendai"] / example["response"]).read_text("utf-8"))
    same_shape(golden, answer.json())


def chunkr_task(services: Services, state: str) -> str:
    chunkr = services.chunkr
    task = chunkr.create("acme", parse_create({"file": "https://example.com/a.pdf"}))
    if state == "Succeeded":
        chunkr.start(task.task_id)
        segment = Segment("s1", "Title", "Annual report")
        chunkr.succeed(task.task_id, Output([Chunk("c1", [segment])], page_count=1))
    return task.task_id


@pytest.mark.parametrize("example", examples("chunkr"), ids=ids("chunkr"))
def test_chunkr_examples(server: tuple[str, Services], example: dict[str, Any]) -> None:
    url, services = server
    path = example["path"]
    if example["state"] is not None:
        path = path.format(task_id=chunkr_task(services, example["state"]))
    answer = send(url, example, path)
    assert example["status"] == answer.status, answer.text
    if "text" in example:
        assert example["text"] == answer.text
        return
    golden = json.loads((RESPONSES["chunkr"] / example["response"]).read_text("utf-8"))
    same_shape(golden, answer.json(), nullable=True)  # the configuration's unset fields
    assert answer.json()["task_url"].startswith(url + "/api/v1/task/")


def vl_task(services: Services, state: str) -> str:
    vl = services.visual_layer
    dataset = vl.add_dataset(f"Dataset {next(NUMBERS)}", [ME]).dataset_id
    task_id = vl.submit(dataset, TaskType.DATASET_CREATION, ME).task.task_id
    vl.start(task_id)
    if state == "FAILED":
        vl.fail(task_id, "Upload bucket unreachable")
    return task_id


@pytest.mark.parametrize("example", examples("visual_layer"), ids=ids("visual_layer"))
def test_visual_layer_examples(server: tuple[str, Services], example: dict[str, Any]) -> None:
    url, services = server
    path = example["path"]
    if example["state"] is not None:
        path = path.replace("<task_id>", vl_task(services, example["state"]))
    answer = send(url, example, path)
    assert example["status"] == answer.status, answer.text
    if "status_field" in example:
        assert example["status_field"] == answer.json()["status"]
        return
    golden = json.loads((RESPONSES["visual_layer"] / example["response"]).read_text("utf-8"))
    same_shape(golden, answer.json())
    if example["state"] == "FAILED":
        assert answer.json()["total"] >= 1
