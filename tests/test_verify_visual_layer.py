"""``taskcore verify visual-layer`` against the real server (``taskcore serve`` as a
subprocess, the CLI as a subprocess): every property held, pages predicted exactly once
every task is known; and what the checker refuses before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskcore.errors import ValidationError
from taskcore.fixtures import parse
from taskcore.verify.visual_layer import VisualLayerChecker
from verify_serve import served_process
from verify_servers import KEY, OTHER_KEY

served = served_process("visual_layer")


def test_verify_visual_layer_passes_against_taskcore_serve(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, fixture_file = served
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "taskcore", "verify", "visual-layer", "--base-url", url,
         "--key", KEY, "--fixtures", str(fixture_file), "--examples", "40", "--json",
         str(report), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "control interface found" in done.stderr
    document = json.loads(report.read_text())
    verdicts = {name: p["verdict"] for name, p in document["properties"].items()}
    assert {"held"} == set(verdicts.values()), document["properties"]
    assert document["model_state"]["every_task_known"]
    assert document["coverage"]["transitions"]
    assert document["properties"]["pages"]["checks"] > 0
    assert not (tmp_path / "out").exists()


def test_a_token_not_in_the_fixtures_is_refused(served: tuple[str, Path]) -> None:
    with pytest.raises(ValidationError, match="not a Visual Layer token"):
        VisualLayerChecker(parse(served[1]), "NOT_A_TOKEN", control=True)


def test_the_other_user_is_the_other_tenant(served: tuple[str, Path]) -> None:
    checker = VisualLayerChecker(parse(served[1]), KEY, control=False)
    assert {"authorization": f"Bearer {OTHER_KEY}"} == checker.auth_headers("other")
    assert {} == checker.auth_headers("none")
    assert not checker.state()["every_task_known"]
