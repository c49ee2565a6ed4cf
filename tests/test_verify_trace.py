"""``taskcore verify API --trace FILE``: traces recorded by driving ``taskcore serve``
(JSON lines, and the same as HAR 1.2) are judged whole; bad traces made by editing a
good one report their first divergence with its line; a truncated, unterminated or
unanswered trace, or a line of another API, is reported (exit 1)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskcore.cli import main
from taskcore.fixtures import parse
from taskcore.verify.exchange import HttpClient, Step
from taskcore.verify.run import _checkers
from taskcore.verify.sut import SystemUnderTest
from taskcore.verify.trace import MAX_DEPTH, check_trace, exchange_line
from verify_serve import served_process
from verify_servers import KEY, OTHER_KEY, _vl

served = served_process("trace")

SENDAI = "/v2/team_acme/project"
WORKER = "/_taskcore/worker"

SENDAI_STEPS = [
    Step("GET", f"{SENDAI}/auto/task/task_completed"),
    Step("POST", f"{WORKER}/sendai/teams/team_acme/tasks/task_completed/export", tenant="control"),
    Step("POST", f"{SENDAI}/auto/task/task_completed/unlock"),
    Step("GET", f"{SENDAI}/invoices/task/task_reviewing"),
    Step("POST", f"{SENDAI}/invoices/task/task_reviewing/complete"),
    Step("POST", f"{WORKER}/sendai/teams/team_acme/tasks/task_reviewing/advance", tenant="control"),
    Step("GET", f"{SENDAI}/invoices/task/task_reviewing"),
    Step("PUT", f"{SENDAI}/invoices/task/task_reviewing/unlock"),
    Step("GET", f"{SENDAI}/invoices/task/task_reviewing", tenant="other"),
    Step("GET", f"{SENDAI}/invoices/task/task_reviewing", tenant="none"),
]
"""A Send AI session: an exported task refused unlock (line 3), a review completed and
the pipeline run, an unlock, another team's and a keyless read."""

PAGE = "/api/v1/tasks?sort_by=dataset_id&sort_order=asc&page_size=5"
VL_STEPS = [
    Step("GET", f"{PAGE}&page=1"),
    Step("GET", f"{PAGE}&page=2"),
    Step("POST", f"/api/v1/tasks/{_vl(2)}/abort"),
    Step("POST", f"/api/v1/tasks/{_vl(1)}/abort"),
    Step("GET", f"{PAGE}&page=1"),
    Step("POST", f"/api/v1/tasks/{_vl(1)}/retry"),
    Step("POST", f"{WORKER}/visual_layer/tasks/{_vl(3)}/advance", tenant="control"),
    Step("GET", "/api/v1/tasks?sort_by=status&page_size=6&page=2"),
    Step("GET", "/api/v1/tasks?page_size=50", tenant="other"),
    Step("GET", "/api/v1/tasks/filters"),
]
"""A Visual Layer session: the whole list in two pages, abort refused in the commit
phase, an abort and a retry, a worker step, pages predicted, another user's list, the
filter options."""


def _record(url: str, fixture: Path, api: str, steps: list[Step], path: Path) -> Path:
    """Drive the server with ``steps`` after a reset; write the JSON lines trace."""
    sut = SystemUnderTest(HttpClient(url), reset_url=f"{url}/_taskcore/reset")
    sut.reset()
    model = _checkers()[api](parse(fixture), KEY, control=True)
    with path.open("w", encoding="utf-8") as file:
        for step in steps:
            file.write(exchange_line(sut.send(step, {}, model.auth_headers(step.tenant))))
    return path


@pytest.fixture(scope="module")
def sendai_trace(served: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sendai-trace")
    return _record(*served, "sendai", SENDAI_STEPS, folder / "sendai.jsonl")


@pytest.fixture(scope="module")
def vl_trace(served: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vl-trace")
    return _record(*served, "visual-layer", VL_STEPS, folder / "vl.jsonl")


def _check(api: str, trace: Path, fixture: Path) -> tuple[int, str]:
    out = io.StringIO()
    status = main(
        ["verify", api, "--trace", str(trace), "--key", KEY, "--fixtures", str(fixture)], out=out
    )
    return status, out.getvalue()


def _edited(trace: Path, tmp_path: Path, line: int, edit: Callable[[dict[str, Any]], None]) -> Path:
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    edit(records[line - 1])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    return bad


def _har(trace: Path, path: Path) -> Path:
    entries = []
    for line in trace.read_text().splitlines():
        r = json.loads(line)
        request: dict[str, Any] = {
            "method": r["method"],
            "url": "http://127.0.0.1:8000" + r["path"],
            "headers": [{"name": k, "value": v} for k, v in r["headers"].items()],
        }
        if r["body"] is not None:
            request["postData"] = {"mimeType": "application/json", "text": json.dumps(r["body"])}
        body = r["response_body"]
        entries.append({
            "startedDateTime": "2026-01-01T00:00:00Z",
            "request": request,
            "response": {
                "status": r["status"],
                "headers": [{"name": k, "value": v} for k, v in r["response_headers"].items()],
                "content": {"text": "" if body is None else json.dumps(body)},
            },
        })  # fmt: skip
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def test_a_recorded_sendai_trace_holds(sendai_trace: Path, served: tuple[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "taskcore", "verify", "sendai", "--trace", str(sendai_trace),
         "--key", KEY, "--fixtures", str(served[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr
    assert f"{len(SENDAI_STEPS)} exchange(s) judged" in done.stdout
    assert "result: every exchange held" in done.stdout


def test_a_recorded_visual_layer_trace_holds_and_its_pages_are_predicted(
    vl_trace: Path, served: tuple[str, Path]
) -> None:
    model = _checkers()["visual-layer"](parse(served[1]), KEY, control=True)
    result = check_trace(vl_trace, "visual-layer", model)
    assert 0 == result.exit_status, result.summary()
    assert len(VL_STEPS) == result.exchanges
    assert {"pages", "commit", "tenancy", "lifecycle", "filters"} <= set(model.tally)
    assert result.to_json()["model_state"]["every_task_known"]


def test_the_same_trace_as_har_holds(
    sendai_trace: Path, served: tuple[str, Path], tmp_path: Path
) -> None:
    status, out = _check("sendai", _har(sendai_trace, tmp_path / "s.har"), served[1])
    assert 0 == status, out
    assert f"{len(SENDAI_STEPS)} exchange(s) judged" in out


def test_an_exported_task_unlocked_in_a_trace_is_reported_at_its_line(
    sendai_trace: Path, served: tuple[str, Path], tmp_path: Path
) -> None:
    def unlocked(record: dict[str, Any]) -> None:
        record["status"] = 200
        record["response_body"] = {"payload": {"id": "task_completed", "status": "REVIEWING"}}

    report = tmp_path / "report.json"
    out = io.StringIO()
    status = main(
        ["verify", "sendai", "--trace", str(_edited(sendai_trace, tmp_path, 3, unlocked)),
         "--key", KEY, "--fixtures", str(served[1]), "--json", str(report)],
        out=out,
    )  # fmt: skip
    assert 1 == status
    assert "line 3: DIVERGED (locked)" in out.getvalue()
    document = json.loads(report.read_text())
    assert ("diverged", "line 3", 3) == (
        document["result"],
        document["where"],
        document["exchanges"],
    )


def test_a_page_that_repeats_a_task_is_reported_at_its_line(
    vl_trace: Path, served: tuple[str, Path], tmp_path: Path
) -> None:
    def repeated(record: dict[str, Any]) -> None:
        tasks = record["response_body"]["tasks"]
        tasks[1] = tasks[0]

    status, out = _check("visual-layer", _edited(vl_trace, tmp_path, 5, repeated), served[1])
    assert 1 == status
    assert "line 5: DIVERGED (pages)" in out


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda text: text[: len(text) - 40], "truncated"),
        (lambda text: text.rstrip("\n"), "unterminated"),
        (
            lambda text: text.replace('"status":200', '"status":null', 1),
            "line 1: GET /v2/team_acme/project/auto/task/task_completed: a request with no",
        ),
        (
            lambda text: text + '{"method":"GET","path":"/healthz","status":200}\n',
            "is not a call of the sendai API",
        ),
        (lambda text: "not json\n" + text, "line 1: cannot be judged: not JSON"),
        (lambda text: "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n" + text, "nested"),
        (lambda text: "\n" + text.replace('"as":"main"', '"as":"root"', 1), "as must be one of"),
    ],
)
def test_a_trace_that_cannot_be_consumed_whole_is_reported(
    cut: Callable[[str], str],
    message: str,
    sendai_trace: Path,
    served: tuple[str, Path],
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(cut(sendai_trace.read_text()))
    status, out = _check("sendai", bad, served[1])
    assert 1 == status
    assert message in out
    assert "result: NOT CONSUMED" in out


def test_a_har_entry_without_a_response_is_reported(
    sendai_trace: Path, served: tuple[str, Path], tmp_path: Path
) -> None:
    har = _har(sendai_trace, tmp_path / "s.har")
    document = json.loads(har.read_text())
    document["log"]["entries"][4]["response"]["status"] = 0
    har.write_text(json.dumps(document))
    status, out = _check("sendai", har, served[1])
    assert 1 == status
    assert "entry 5: POST" in out
    assert "a request with no response" in out


def test_who_made_a_call_is_told_from_its_key(
    sendai_trace: Path, served: tuple[str, Path], tmp_path: Path
) -> None:
    text = "".join(
        json.dumps({k: v for k, v in json.loads(line).items() if k != "as"}) + "\n"
        for line in sendai_trace.read_text().splitlines()
    )
    bare = tmp_path / "bare.jsonl"
    bare.write_text(text)
    model = _checkers()["sendai"](parse(served[1]), KEY, control=True)
    result = check_trace(bare, "sendai", model)
    assert 0 == result.exit_status, result.summary()
    assert model.tally["tenancy"] >= 1
    assert OTHER_KEY != KEY


def test_a_trace_needs_a_checker_and_a_readable_file(
    served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = _check("sendai", tmp_path / "missing.jsonl", served[1])
    assert 2 == status
    assert "missing.jsonl" in capsys.readouterr().err
    assert 2 == main(["verify", "sendai", "--key", KEY], out=io.StringIO())
    assert "--base-url is needed" in capsys.readouterr().err
