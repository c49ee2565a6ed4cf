"""The vendors' own clients against taskcore over a real socket on 127.0.0.1: the
``chunkr-ai`` client (tests/chunkr_server_run.py, in a subprocess) and the Visual Layer
document's Python example on ``requests``, with only its base URL and token changed."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from server_helpers import running
from taskcore.clock import ManualClock
from taskcore.server import build_services
from taskcore.store import MemoryStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.task import TaskQuery

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "golden" / "visual_layer" / "python_example.py.txt"
ME = "rachel@visual-layer.com"


def test_the_chunkr_ai_client_creates_polls_updates_cancels_and_deletes() -> None:
    result = subprocess.run(
        [sys.executable, str(HERE / "chunkr_server_run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=HERE,
    )
    assert 0 == result.returncode, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert ["Starting", "Task queued"] == seen["created"][:2]
    assert seen["created"][2].startswith(seen["url"] + "/api/v1/task/")
    assert ["Succeeded", "Annual report"] == seen["polled"]
    assert ["Starting", "Task queued for update"] == seen["updated"]
    assert ["Succeeded", None] == seen["reverted"]
    assert 400 == seen["unchanged"]
    assert [404, "Task not found"] == seen["deleted"]


def test_the_visual_layer_python_example_runs_against_the_server() -> None:
    clock = ManualClock(datetime(2026, 2, 25, 9, 0, tzinfo=UTC))
    services = build_services(MemoryStore(clock=clock))
    vl = services.visual_layer
    dataset = vl.add_dataset("Product Images Q1", [ME]).dataset_id
    creation = vl.submit(dataset, TaskType.DATASET_CREATION, ME).task.task_id
    vl.start(creation)
    vl.fail(creation, "Upload bucket unreachable")
    clock.advance(3600)
    enrichment = vl.submit(dataset, TaskType.ENRICHMENT, ME).task.task_id
    vl.start(enrichment)
    vl.fail(enrichment, "Model timeout after 300s")
    services.keys.visual_layer["local-token"] = ME
    source = EXAMPLE.read_text(encoding="utf-8")
    with running(services) as (url, _):
        changed = source.replace('"https://app.visual-layer.com"', repr(url)).replace(
            '"<your-jwt-token>"', '"local-token"'
        )
        assert 2 == sum(
            a != b for a, b in zip(source.splitlines(), changed.splitlines(), strict=True)
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(changed, str(EXAMPLE), "exec"), {})
        assert [
            "Found 2 failed tasks",
            "  ENRICHMENT on Product Images Q1: Model timeout after 300s",
            "  DATASET_CREATION on Product Images Q1: Upload bucket unreachable",
            f"    Retried task {creation}",
        ] == out.getvalue().splitlines()
        assert "INITIALIZING" == vl.get(ME, creation).task.status
        assert 1 == vl.list(ME, TaskQuery(task_status="FAILED")).total
