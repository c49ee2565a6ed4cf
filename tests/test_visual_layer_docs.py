"""The Visual Layer guide's example runs, its generated lifecycle page is current, and
``taskcore demo`` ends with a failed dataset creation retried, an abort refused in the
commit phase and a filtered, sorted list."""

from __future__ import annotations

import io
import re
from pathlib import Path

from taskcore.cli import main
from taskcore.docs import rendered_docs

ROOT = Path(__file__).resolve().parent.parent


def test_the_visual_layer_guide_example_runs() -> None:
    text = (ROOT / "docs" / "visual-layer.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/visual-layer.md", "exec"), namespace)
    assert "INITIALIZING" == namespace["retried"].status  # type: ignore[attr-defined]


def test_the_generated_visual_layer_lifecycle_page_is_committed_and_current() -> None:
    page = rendered_docs()["lifecycles/visual_layer_task.md"]
    path = ROOT / "docs" / "lifecycles" / "visual_layer_task.md"
    assert page == path.read_text(encoding="utf-8")
    assert "`dataset_creation_outside_commit_phase`" in page


def test_the_demo_retries_refuses_an_abort_and_lists() -> None:
    out = io.StringIO()
    assert 0 == main(["demo"], out)
    section = out.getvalue().split("== Visual Layer: dataset tasks", 1)[1]
    calls = re.findall(r"^\$ (\w+) \S+?(/\w+|\?\S+)\n-> (\d+)$", section, re.M)
    assert [
        ("POST", "/retry", "200"),
        ("POST", "/abort", "409"),
        ("GET", "?task_status=FAILED&sort_by=start_time&sort_order=desc&page_size=5", "200"),
    ] == calls
    assert '"total": 2' in section
