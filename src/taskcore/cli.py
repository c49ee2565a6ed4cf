"""The ``taskcore`` command line (an edge: it prints, the core does not).

``taskcore demo`` runs the main job; ``taskcore docs DIR`` regenerates the docs from
code; ``taskcore docs DIR --check`` exits 1 when the committed docs drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.claro.webhooks import SIGNATURE_HEADER
from taskcore.clock import ManualClock
from taskcore.docs import rendered_docs, write_docs
from taskcore.http import Request
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore

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
    return 0


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


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="taskcore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="a Claro bulk task from creation to completion")
    docs = commands.add_parser("docs", help="regenerate the docs from the code")
    docs.add_argument("root", type=Path, help="the docs folder")
    docs.add_argument("--check", action="store_true", help="exit 1 when the docs drift")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(out)
    return _docs(args.root, args.check, out)
