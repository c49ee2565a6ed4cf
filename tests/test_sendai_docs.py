"""The Send AI guide's example runs, its generated lifecycle page is current, and
``taskcore demo`` ends with a Send AI document going through review, a refused discard,
unlock and re-completion."""

from __future__ import annotations

import io
import re
from pathlib import Path

from taskcore.cli import main
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


def test_the_demo_shows_review_a_refused_discard_unlock_and_recompletion() -> None:
    out = io.StringIO()
    assert 0 == main(["demo"], out)
    section = out.getvalue().split("== Send AI: a document through review", 1)[1]
    section = section.split("\nChunkr:", 1)[0]  # the demo's next section
    calls = re.findall(r"^\$ (\w+) \S+?(/\w+)?(?: .*)?\n-> (\d+)$", section, re.M)
    assert [
        ("GET", "", "200"),
        ("POST", "/complete", "400"),
        ("POST", "/complete", "200"),
        ("POST", "/complete", "200"),
        ("PUT", "/discard", "400"),
        ("PUT", "/unlock", "200"),
        ("POST", "/complete", "200"),
        ("POST", "/report", "201"),
    ] == calls
    assert '"status": "COMPLETED"' in section.rsplit("$ POST", 1)[1]
