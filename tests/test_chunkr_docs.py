"""The Chunkr guide's example runs, and `taskcore demo` shows a parse task updated, its
update cancelled back to the previous state, then deleted."""

from __future__ import annotations

import io
from pathlib import Path

from taskcore.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_the_chunkr_guide_example_runs() -> None:
    text = (ROOT / "docs" / "chunkr.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/chunkr.md", "exec"), namespace)
    assert "Succeeded" == namespace["reverted"].status  # type: ignore[attr-defined]


def test_the_demo_cancels_an_update_back_and_deletes_the_task() -> None:
    out = io.StringIO()
    assert 0 == main(["demo"], out)
    chunkr = out.getvalue().split("\nChunkr: ", 1)[1]
    chunkr = chunkr.split("\n== Visual Layer", 1)[0]  # the demo's next section
    assert "message 'Task queued for update'" in chunkr
    assert "-> 400\nTask cannot be deleted: status is Starting" in chunkr
    after_cancel = chunkr.split("Task cancelled\n", 1)[1]
    assert "status 'Succeeded', message 'Task succeeded'" in after_cancel
    assert '"ocr_strategy": "Auto"' in after_cancel
    assert chunkr.endswith("Task deleted\n\n$ GET " + chunkr.rsplit("$ GET ", 1)[1])
    assert chunkr.rstrip().endswith("-> 404\nTask not found")
