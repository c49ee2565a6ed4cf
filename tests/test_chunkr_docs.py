"""The Chunkr guide's example runs (the demo's Chunkr part is checked in
tests/test_walkthrough.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_chunkr_guide_example_runs() -> None:
    text = (ROOT / "docs" / "chunkr.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/chunkr.md", "exec"), namespace)
    assert "Succeeded" == namespace["reverted"].status  # type: ignore[attr-defined]
