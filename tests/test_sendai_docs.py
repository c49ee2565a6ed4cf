"""The Send AI guide's example runs and its generated lifecycle page is current (the
demo's Send AI part is checked in tests/test_walkthrough.py)."""

from __future__ import annotations

from pathlib import Path

from taskcore.docs import rendered_docs

ROOT = Path(__file__).resolve().parent.parent


def test_the_sendai_guide_example_runs() -> None:
    text = (ROOT / "docs" / "sendai.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/sendai.md", "exec"), namespace)
    assert "REVIEWING" == namespace["task"].status  # type: ignore[attr-defined]


def test_the_generated_sendai_lifecycle_page_is_committed_and_current() -> None:
    page = rendered_docs()["lifecycles/sendai_task.md"]
    assert page == (ROOT / "docs" / "lifecycles" / "sendai_task.md").read_text(encoding="utf-8")
    assert "`unlockable`" in page
    assert "`passes_validation`" in page
