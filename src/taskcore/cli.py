"""The ``taskcore`` command line; the only module that prints.

``taskcore demo`` walks a Claro bulk task, a Send AI document and a Chunkr parse task
through their HTTP APIs; ``taskcore docs DIR`` regenerates the docs from code;
``taskcore docs DIR --check`` exits 1 when the committed docs drift; ``taskcore
--version`` prints the version.  The text ``--help`` shows is in :func:`_parser`, not
in this docstring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from taskcore import __version__
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import Chunk, Output, Segment
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.claro.webhooks import SIGNATURE_HEADER
from taskcore.clock import ManualClock
from taskcore.docs import rendered_docs, write_docs
from taskcore.fixtures import FixtureError
from taskcore.fixtures import parse as parse_fixture
from taskcore.http import Request
from taskcore.ids import SeededIds
from taskcore.sendai import ApiKey, Document, SendAITasks, Step
from taskcore.sendai.http import sendai_router
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks

__all__ = ["main"]


def _demo(out: TextIO) -> int:
    """A bulk task over a real grid through the HTTP API, from creation to completion."""
    clock = ManualClock()
    service = ClaroTasks(MemoryStore(clock), ids=SeededIds(2024))
    rows, columns = [f"row_{i}" for i in range(1, 201)], ["col_name", "col_category", "col_url"]
    grid = Grid(rows, columns, filled=True)
    for i, row in enumerate(rows):  # every third row lacks a category, every fifth a URL
        if i % 3 == 0:
            grid.set_filled(row, "col_category", False)
        if i % 5 == 0:
            grid.set_filled(row, "col_url", False)
    dataset = service.create_dataset(
        "acme", grid, dataset_id="550e8400-e29b-41d4-a716-446655440000"
    )
    webhook = service.register_webhook("acme", "https://hooks.example.invalid/claro", "s3cret")
    api = claro_router(service, {"YOUR_API_KEY": "acme"})
    base = f"/api/v2/datasets/{dataset}/tasks"
    auth = {"Authorization": "Bearer YOUR_API_KEY", "Content-Type": "application/json"}

    def call(method: str, path: str, body: object = None) -> dict[str, object]:
        raw = b"" if body is None else json.dumps(body).encode()
        response = api.handle(Request(method, path, auth, raw))
        shown = f" {json.dumps(body)}" if body is not None else ""
        out.write(f"\n$ {method} {path}{shown}\n-> {response.status}\n")
        out.write(json.dumps(response.json(), indent=2) + "\n")
        payload: dict[str, object] = response.json()
        return payload

    out.write(f"A dataset of {grid.row_count} rows x {grid.column_count} columns, "
              f"{grid.empty_count} empty cells.\n")  # fmt: skip
    created = call(
        "POST", f"{base}/bulk", {"processOnlyEmpty": True, "webhookId": webhook.webhook_id}
    )
    task_id = str(created["taskId"])
    call("POST", f"{base}/new-rows", {"rowCount": 100})  # refused: the dataset is locked

    clock.advance(60)
    token = service.start(task_id).lease_token  # every later write carries it
    targets = list(service.targets(task_id))
    out.write(f"\nA worker starts the task and records its {len(targets)} target cells:\n")
    for first in range(0, len(targets), 25):
        batch = range(first, min(first + 25, len(targets)))
        clock.advance(20)
        task = service.record(
            task_id,
            token=token,
            succeeded=[i for i in batch if i % 17],
            failed=[i for i in batch if not i % 17],
        )
        out.write(f"  progress {task.progress.completed:>3}/{task.progress.total}"
                  f" ({task.progress.percentage:>3}%)\n")  # fmt: skip
        if first == 50:
            call("GET", f"{base}/{task_id}")
    clock.advance(5)
    service.complete(task_id, token=token)
    call("GET", f"{base}/{task_id}")
    (record,) = service.outbox()
    out.write(f"\nWebhook notification for {record.url} ({SIGNATURE_HEADER}: "
              f"{record.signature[:20]}...):\n")  # fmt: skip
    out.write(json.dumps(record.payload(), indent=2) + "\n")
    call("DELETE", f"{base}/{task_id}")  # refused: the task is already completed
    out.write(
        f"\nEmpty cells left in the dataset: {service.dataset('acme', dataset).empty_count}\n"
    )
    _demo_sendai(out)
    _demo_chunkr(out)
    _demo_visual_layer(out)
    return 0


def _demo_sendai(out: TextIO) -> None:
    """A Send AI document through review over the HTTP API: a refused discard, unlock,
    correction and re-completion."""
    clock = ManualClock()
    service = SendAITasks(MemoryStore(clock), ids=SeededIds(2025))
    service.create_project(
        "team_acme", "invoices", [Step("EXTRACT", ["invoice_total"]), Step("CLASSIFY")]
    )
    (task,) = service.upload("team_acme", "invoices", "upload_1", [Document("invoice.pdf", 2)])
    api = sendai_router(service, {"YOUR_API_KEY": ApiKey("team_acme", {"task.read", "task.edit"})})
    path = f"/v2/team_acme/project/invoices/task/{task.id}"
    auth = {"Authorization": "Bearer YOUR_API_KEY"}

    def call(method: str, suffix: str = "", body: object = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        response = api.handle(Request(method, path + suffix, auth, raw))
        shown = f" {json.dumps(body)}" if body is not None else ""
        out.write(f"\n$ {method} {path}{suffix}{shown}\n-> {response.status}\n")
        out.write(json.dumps(response.json(), indent=2) + "\n")

    out.write("\n== Send AI: a document through review\n")
    out.write("\nThe pipeline brings the upload's document into EXTRACT and stops it for review.\n")
    service.run_step("team_acme", task.id)
    call("GET")
    call("POST", "/complete")  # refused: validation needs invoice_total
    call("POST", "/complete", {"meta": [{"name": "invoice_total", "value": "118.00"}]})
    clock.advance(30)
    service.run_step("team_acme", task.id)
    call("POST", "/complete")
    clock.advance(30)
    service.run_step("team_acme", task.id)
    out.write("\nThe pipeline completes it after the last step (CLASSIFY).\n")
    call("PUT", "/discard")  # refused: only a task in REVIEWING can be discarded
    clock.advance(60)
    call("PUT", "/unlock")
    call("POST", "/complete", {"meta": [{"name": "invoice_total", "value": "181.00"}]})
    service.run_step("team_acme", task.id)
    call("POST", "/report", {"issues": [{"label": "ocr", "value": "digits swapped"}]})


def _demo_chunkr(out: TextIO) -> None:
    """A Chunkr parse task through its HTTP API: parsed, updated, the update cancelled
    back to the previous state, then deleted."""
    clock = ManualClock()
    service = ChunkrTasks(MemoryStore(clock), ids=SeededIds(2024, prefix=""))
    api = chunkr_router(service, {"YOUR_API_KEY": "acme"}, base_url="https://api.chunkr.ai")
    auth = {"Authorization": "YOUR_API_KEY", "Content-Type": "application/json"}

    def call(method: str, path: str, body: object = None) -> object:
        raw = b"" if body is None else json.dumps(body).encode()
        response = api.handle(Request(method, path, auth, raw))
        shown = f" {json.dumps(body)}" if body is not None else ""
        out.write(f"\n$ {method} {path}{shown}\n-> {response.status}\n")
        if response.headers.get("content-type") != "application/json":
            out.write(response.body.decode("utf-8") + "\n")
            return None
        task = response.json()
        shown_config = {k: v for k, v in task["configuration"].items() if v is not None}
        out.write(f"status {task['status']!r}, message {task['message']!r}, "
                  f"configuration {json.dumps(shown_config)}\n")  # fmt: skip
        return task

    out.write("\nChunkr: a parse task, updated, the update cancelled, then deleted.\n")
    created = call(
        "POST",
        "/api/v1/task/parse",
        {
            "file": "https://example.com/report.pdf",
            "file_name": "report.pdf",
            "ocr_strategy": "Auto",
        },
    )
    assert isinstance(created, dict)
    url = f"/api/v1/task/{created['task_id']}"
    clock.advance(1)
    service.start(created["task_id"])
    clock.advance(4)
    segment = Segment("seg-1", "Title", "Annual report 2024")
    service.succeed(created["task_id"], Output([Chunk("chunk-1", [segment])], page_count=1))
    call("GET", url)
    call("PATCH", url + "/parse", {"ocr_strategy": "All", "high_resolution": True})
    call("DELETE", url)  # refused: a queued update is Starting
    call("GET", url + "/cancel")  # the update is cancelled: back to Succeeded
    call("GET", url)
    call("DELETE", url)
    call("GET", url)


def _demo_visual_layer(out: TextIO) -> None:
    """Visual Layer dataset tasks through the Task Manager API: a failed dataset
    creation retried, an abort refused in the commit phase, a filtered, sorted list."""
    clock = ManualClock()
    service = VisualLayerTasks(MemoryStore(clock), ids=SeededIds(2026, prefix=""))
    api = visual_layer_router(service, {"YOUR_JWT": "rachel@visual-layer.com"})
    auth = {"Authorization": "Bearer YOUR_JWT"}
    me = "rachel@visual-layer.com"

    def call(method: str, path: str, **query: str) -> None:
        response = api.handle(Request(method, path, auth, b"", query))
        shown = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        out.write(f"\n$ {method} {path}{shown}\n-> {response.status}\n")
        out.write(json.dumps(response.json(), indent=2) + "\n")

    out.write("\n== Visual Layer: dataset tasks\n")
    out.write("\nA dataset creation fails at 45%; the user retries it.\n")
    images = service.add_dataset("Product Images Q1", [me]).dataset_id
    creation = service.submit(images, TaskType.DATASET_CREATION, me).task.task_id
    service.start(creation)
    service.progress(creation, 45)
    clock.advance(300)
    service.fail(creation, "Model timeout after 300s")
    call("POST", f"/api/v1/tasks/{creation}/retry")
    out.write("\nThe retried creation reaches its commit phase: abort is refused.\n")
    service.start(creation)
    service.enter_commit_phase(creation)
    call("POST", f"/api/v1/tasks/{creation}/abort")
    clock.advance(60)
    service.complete(creation)
    training = service.add_dataset("Training Set v2", [me]).dataset_id
    for dataset, kind in [(images, TaskType.ENRICHMENT), (training, TaskType.REINDEX)]:
        clock.advance(60)
        task_id = service.submit(dataset, kind, me).task.task_id
        service.start(task_id)
        service.fail(task_id, f"{kind.value.title()} worker lost")
    out.write("\nFailed tasks, newest first, five to a page:\n")
    call("GET", "/api/v1/tasks", task_status="FAILED", sort_by="start_time",
         sort_order="desc", page_size="5")  # fmt: skip


def _docs(root: Path, check: bool, out: TextIO) -> int:
    if check:
        stale = [
            relative
            for relative, text in rendered_docs().items()
            if not (root / relative).exists()
            or (root / relative).read_text(encoding="utf-8") != text
        ]
        for relative in stale:
            out.write(f"stale: {root / relative} (run `make docs`)\n")
        return 1 if stale else 0
    for path in write_docs(root):
        out.write(f"wrote {path}\n")
    return 0


def _fixtures_check(path: Path, out: TextIO) -> int:
    """Validate a fixture file: print what it holds (0) or the error (2)."""
    try:
        fixture = parse_fixture(path)
    except FixtureError as error:
        out.write(f"{path}: invalid fixture: {error}\n")
        return 2
    out.write(f"{path}: valid fixture\n")
    for line in fixture.summary():
        out.write(f"  {line}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The argument parser; its texts are what ``taskcore --help`` shows a user."""
    parser = argparse.ArgumentParser(
        prog="taskcore",
        description="taskcore, the reference implementation of task API lifecycles. "
        "Implemented: Claro dataset tasks (lifecycle, cell selections, dataset locks, "
        "service and HTTP router) and Send AI document tasks (review pipeline, unlock, "
        "complete, discard, report).",
        epilog="Documentation: https://github.com/taskcore/taskcore/tree/main/docs",
    )
    parser.add_argument("--version", action="version", version=f"taskcore {__version__}")
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="{demo,docs,fixtures,serve}"
    )
    commands.add_parser(
        "demo",
        help="run a Claro bulk task and a Send AI review through the HTTP API",
        description="Run a Claro bulk task over a 200-row dataset through the HTTP API, "
        "from creation to completion, then a Send AI document through review, unlock "
        "and re-completion, printing each request and response.",
    )
    docs = commands.add_parser(
        "docs",
        help="regenerate the lifecycle and error pages from the code",
        description="Write the generated lifecycle and error pages under ROOT.",
    )
    docs.add_argument("root", type=Path, metavar="ROOT", help="the docs folder, e.g. docs")
    docs.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a page is stale"
    )
    fixtures = commands.add_parser(
        "fixtures",
        help="work with fixture files (docs/server.md, Fixtures)",
        description="Work with fixture files: JSON that fills the four services.",
    )
    fixture_commands = fixtures.add_subparsers(
        title="fixture commands", dest="fixtures_command", required=True, metavar="{check}"
    )
    check = fixture_commands.add_parser(
        "check",
        help="validate a fixture file and print what it holds",
        description="Validate FILE; print what it holds, or the first error with its place "
        "in the file (a JSONPath) and exit 2.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the fixture file")
    _serve_parser(commands)
    return parser


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the four APIs over HTTP (needs taskcore[server])",
        description="Serve the Claro, Send AI, Chunkr and Visual Layer APIs over HTTP on "
        "uvicorn until SIGTERM or Ctrl-C; print the URL once listening; one JSON access "
        "line per request on standard error (docs/server.md).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    serve.add_argument(
        "--store", default="memory", metavar="memory|sqlite:PATH", help="where tasks are kept"
    )
    serve.add_argument(
        "--keys", metavar="FILE", help="JSON file of API keys per API (else $TASKCORE_KEYS)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="seed demo data and accept the demo keys"
    )
    serve.add_argument("--fixtures", metavar="FILE", help="load a fixtures file first")
    serve.add_argument(
        "--worker",
        type=float,
        metavar="SECONDS",
        help="run the simulated worker, one step of every active task each SECONDS",
    )
    serve.add_argument("--worker-seed", type=int, default=0, help="the worker's random seed")
    serve.add_argument(
        "--worker-failure-rate",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0..1) of Claro cells and of other tasks the worker fails",
    )
    serve.add_argument(
        "--worker-control",
        action="store_true",
        help="mount the worker's control routes under /_taskcore/worker (for tests)",
    )
    serve.add_argument(
        "--no-webhooks", action="store_true", help="do not deliver Claro webhook notifications"
    )


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from taskcore import server  # imported here: only `serve` needs the server modules

    return server.main(
        host=args.host,
        port=args.port,
        store=args.store,
        keys=args.keys,
        demo=args.demo,
        fixtures=args.fixtures,
        out=out,
        err=sys.stderr,
        worker=args.worker,
        worker_seed=args.worker_seed,
        worker_failure_rate=args.worker_failure_rate,
        worker_control=args.worker_control,
        webhooks=not args.no_webhooks,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when None.
        out: where to print; standard output when None.

    Returns:
        The exit status: 0, or 1 when ``docs --check`` finds stale pages, or 2 when
        ``fixtures check`` finds the file invalid.

    Raises:
        SystemExit: for ``--help`` and ``--version`` (status 0) and for bad arguments
            (status 2), as argparse does; nothing is written then.
    """
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args, out)
        if args.command == "fixtures":
            status = _fixtures_check(args.file, out)
        else:
            status = _demo(out) if args.command == "demo" else _docs(args.root, args.check, out)
        out.flush()  # inside the try: a reader that left makes this fail too
        return status
    except BrokenPipeError:
        # The reader went away (``taskcore demo | head``): not an error.  Point standard
        # output at /dev/null so the interpreter's final flush does not fail again.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
