"""The real ``chunkr-ai`` client (0.3.7) against taskcore's Chunkr router: create, get
(chunks on and off), update, cancel back, poll through ``task_url``, a refused update,
delete (run in a subprocess: see tests/chunkr_client_run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_chunkr_ai_client_drives_the_router_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(HERE / "chunkr_client_run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=HERE,
    )
    assert 0 == result.returncode, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    task_url = seen["created"][2]
    assert ["Starting", "Task queued"] == seen["created"][:2]
    assert task_url.startswith("https://chunkr.example/api/v1/task/")
    assert ["Succeeded", "<table></table>"] == seen["succeeded"]
    assert "Html" == seen["table_format"]
    assert [0, "data:application/pdf;base64,"] == seen["without_chunks"]
    assert ["Starting", "Task queued for update", True] == seen["updated"]
    assert ["Succeeded", "Task succeeded", None] == seen["reverted"]
    unchanged = "Task cannot be updated: new configuration must be different from the current one"
    assert [400, unchanged] == seen["unchanged"]
    assert [404, "Task not found"] == seen["deleted"]
