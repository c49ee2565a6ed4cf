"""The Visual Layer guide's example runs and its generated lifecycle page is current (the
demo's Visual Layer part is checked in tests/test_walkthrough.py)."""

from __future__ import annotations

from pathlib import Path

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
