"""Generated docs stay in sync with the code; the CLI works as a user runs it."""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import taskcore
from taskcore.claro import CLARO_TASK
from taskcore.cli import main
from taskcore.docs import render_mermaid, rendered_docs, write_docs

ROOT = Path(__file__).resolve().parent.parent


def test_committed_docs_match_the_code() -> None:
    for relative, text in rendered_docs().items():
        path = ROOT / "docs" / relative
        assert path.exists(), f"{path} missing: run make docs"
        assert text == path.read_text(encoding="utf-8"), f"{path} is stale: run make docs"


def test_mermaid_diagram_has_every_row_and_the_guard() -> None:
    diagram = render_mermaid(CLARO_TASK)
    assert diagram.startswith("stateDiagram-v2\n    [*] --> queued")
    assert "processing --> completed: complete [all_recorded]" in diagram
    assert len(list(CLARO_TASK.rows())) + 1 + 3 == diagram.count("-->")


def test_write_docs_writes_only_what_changed(tmp_path: Path) -> None:
    assert len(rendered_docs()) == len(write_docs(tmp_path))
    assert [] == write_docs(tmp_path)


def test_docs_check_reports_drift(tmp_path: Path) -> None:
    out = io.StringIO()
    assert 1 == main(["docs", str(tmp_path), "--check"], out)
    assert "stale:" in out.getvalue()
    assert 0 == main(["docs", str(tmp_path)], io.StringIO())
    assert 0 == main(["docs", str(tmp_path), "--check"], io.StringIO())


def test_demo_runs_the_walkthrough_over_http_as_a_subprocess_and_leaves_no_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskcore", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (0, "") == (result.returncode, result.stderr), result.stdout
    text = result.stdout
    for expected in (
        "completed  [##############################]  60/60 (100%)",  # Claro, polled
        '"code": "DATASET_LOCKED"',  # the lock refuses a second task
        '"code": "TASK_NOT_CANCELLABLE"',  # the refused cancel
        "the update is reverted: Succeeded again",  # Chunkr
        "/retry\n-> 200 ",  # Visual Layer: the retry,
        "Task cannot be aborted",  # the abort refused in the commit phase,
        "GET /api/v1/tasks?task_status=FAILED&sort_by=start_time&sort_order=desc",  # the list
        "corrected: COMPLETED with invoice_total 181.00",  # Send AI
        "The server stopped cleanly.",
    ):
        assert expected in text
    found = re.search(r"taskcore serve \(process (\d+)\) is listening on (http://\S+)\n", text)
    assert found is not None, text
    with pytest.raises(ProcessLookupError):
        os.kill(int(found.group(1)), 0)  # the server process is gone
    host, port = found.group(2).removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 5):
        pass  # and nothing listens on its port


def test_the_selection_guide_example_runs() -> None:
    text = (ROOT / "docs" / "selection.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/selection.md", "exec"), namespace)
    resolution = namespace["resolution"]
    assert 1 == resolution.count  # type: ignore[attr-defined]
    assert [("row_1", "col_category")] == list(resolution.cells())  # type: ignore[attr-defined]


def test_the_claro_guide_example_runs() -> None:
    text = (ROOT / "docs" / "claro.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/claro.md", "exec"), namespace)
    assert 1 == len(namespace["service"].outbox())  # type: ignore[attr-defined]


def test_the_readme_examples_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = text.split("```python\n")[1:]
    assert 2 == len(blocks)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block.split("```", 1)[0], "README.md", "exec"), namespace)
    assert 2 == namespace["task"].total  # type: ignore[attr-defined]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_quick_start_is_exactly_make_demo_and_make_test() -> None:
    block = readme_section("Quick start").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert ["make demo", "make test"] == commands
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\ndemo: " in makefile
    assert "\ntest: " in makefile


def test_the_readme_points_only_at_files_in_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in text
    for relative in re.findall(r"`((?:docs|tests|src|bench)/[\w./-]*)`", text):
        assert (ROOT / relative).exists(), relative


def test_the_suite_collects_in_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    clone = tmp_path / "solo" / "taskcore"
    shutil.copytree(ROOT / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", clone)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert 0 == result.returncode, result.stdout + result.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m taskcore ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "taskcore", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_version_is_the_installed_distributions_version() -> None:
    assert importlib.metadata.version("taskcore") == taskcore.__version__


def test_version_option_prints_the_program_and_its_version() -> None:
    script = Path(sys.executable).with_name("taskcore")  # the console script pip installed
    from_script = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    from_module = run_cli("--version")
    assert (0, f"taskcore {taskcore.__version__}\n") == (from_script.returncode, from_script.stdout)
    assert (0, f"taskcore {taskcore.__version__}\n") == (from_module.returncode, from_module.stdout)


def test_help_is_plain_text_that_names_every_command() -> None:
    result = run_cli("--help")
    assert 0 == result.returncode
    assert result.stdout.startswith(
        "usage: taskcore [-h] [--version] {demo,docs,fixtures,serve,verify} ...\n"
    )
    for expected in ("demo", "docs", "fixtures", "serve", "verify", "--version", "Claro"):
        assert expected in result.stdout
    for internal in ("``", ":mod:", "DESIGN", "STYLE", "seed", "issue", "edge"):
        assert internal not in result.stdout


def test_demo_piped_into_a_reader_that_stops_early_ends_quietly() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "taskcore", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as demo:
        assert demo.stdout is not None
        assert demo.stderr is not None
        demo.stdout.close()  # like `taskcore demo | head -0`: the reader is gone
        error = demo.stderr.read()
        assert (0, b"") == (demo.wait(timeout=60), error)
