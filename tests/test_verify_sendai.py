"""``taskcore verify sendai`` against the real server (``taskcore serve`` as a
subprocess, the CLI as a subprocess): every property held, with the worker side and
another team; and what the checker refuses before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskcore.errors import ValidationError
from taskcore.fixtures import parse
from taskcore.verify.sendai import SendAIChecker
from verify_serve import served_process
from verify_servers import KEY, OTHER_KEY

served = served_process("sendai")


def test_verify_sendai_passes_against_taskcore_serve(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, fixture_file = served
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "taskcore", "verify", "sendai", "--base-url", url, "--key", KEY,
         "--fixtures", str(fixture_file), "--examples", "40", "--json", str(report),
         "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "control interface found" in done.stderr
    document = json.loads(report.read_text())
    verdicts = {name: p["verdict"] for name, p in document["properties"].items()}
    assert {"held"} == set(verdicts.values()), document["properties"]
    transitions = document["coverage"]["transitions"]
    assert {"REVIEWING -> PROCESSING", "COMPLETED -> exported"} <= set(transitions)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["NOT_A_KEY", "READ_ONLY"])
def test_a_key_that_cannot_edit_is_refused(key: str) -> None:
    fixture = parse(
        {
            "sendai": {
                "teams": [{"id": "t", "api_keys": [{"key": "READ_ONLY", "scopes": ["task.read"]}]}]
            }
        }
    )
    with pytest.raises(ValidationError, match=r"task\.read and task\.edit"):
        SendAIChecker(fixture, key, control=True)


def test_the_other_team_is_the_other_tenant(served: tuple[str, Path]) -> None:
    checker = SendAIChecker(parse(served[1]), KEY, control=False)
    assert {"authorization": f"Bearer {OTHER_KEY}"} == checker.auth_headers("other")
    assert {} == checker.auth_headers("none")
    assert "team_acme" == checker.state()["team"]
