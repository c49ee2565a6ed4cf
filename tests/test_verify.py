"""``taskcore verify`` against the real server: ``taskcore serve`` as a subprocess (the
CLI as a subprocess too), and the same server in a thread for the in-process runs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from taskcore.cli import main
from taskcore.fixtures import parse
from taskcore.verify.run import Options, verify
from taskcore.verify.scenario import load_scenario
from verify_servers import DATASET, KEY, START_TIMEOUT, serving, write_fixture

EXAMPLES = "30"


@pytest.fixture(scope="module")
def fixture_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("verify"))


@pytest.fixture(scope="module")
def served(fixture_file: Path) -> Iterator[str]:
    """``taskcore serve --fixtures F --worker-control --verify-control``; its URL.  Its
    access log goes to a file: a pipe nobody reads would fill and stop the server."""
    with (fixture_file.parent / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskcore", "serve", "--port", "0", "--fixtures",
             str(fixture_file), "--worker-control", "--verify-control", "--no-webhooks"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )  # fmt: skip
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            assert line.startswith("http://127.0.0.1:"), line
            yield line.strip()
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=START_TIMEOUT)
            assert 0 == process.returncode


@pytest.fixture(scope="module")
def in_thread(fixture_file: Path) -> Iterator[str]:
    with serving(fixture_file) as url:
        yield url


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.mark.parametrize("api", ["claro", "chunkr"])
def test_verify_passes_against_taskcore_serve(
    api: str, served: str, fixture_file: Path, tmp_path: Path
) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "taskcore", "verify", api, "--base-url", served, "--key", KEY,
         "--fixtures", str(fixture_file), "--examples", EXAMPLES, "--junit", str(junit),
         "--json", str(report), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "control interface found" in done.stderr
    document = json.loads(report.read_text())
    verdicts = {name: p["verdict"] for name, p in document["properties"].items()}
    assert {"held"} == set(verdicts.values()), document["properties"]
    assert document["coverage"]["transitions"]
    assert document["model_state"]
    suite = ElementTree.parse(junit).getroot()
    names = {case.get("name") for case in suite.iter("testcase")}
    assert set(verdicts) <= names
    assert "0" == suite.get("failures")
    assert not (tmp_path / "out").exists()  # no counterexample written


def test_two_runs_against_one_server_give_the_same_result(
    in_thread: str, fixture_file: Path, tmp_path: Path
) -> None:
    options = Options("claro", in_thread, KEY, parse(fixture_file), examples=15, out=tmp_path)
    first, second = verify(options), verify(options)
    assert 0 == first.exit_status == second.exit_status
    assert (first.sequences, first.steps) == (second.sequences, second.steps)
    assert [p.checks for p in first.properties] == [p.checks for p in second.properties]


def test_the_shipped_scenarios_pass(in_thread: str, fixture_file: Path, tmp_path: Path) -> None:
    for api in ("claro", "chunkr"):
        report = verify(Options(api, in_thread, KEY, parse(fixture_file), examples=0, out=tmp_path))
        assert report.scenarios
        assert {"passed"} == {s.outcome for s in report.scenarios}, report.scenarios


def test_a_scenario_whose_expectation_fails_is_exit_1_and_a_junit_failure(
    in_thread: str, fixture_file: Path, tmp_path: Path
) -> None:
    scenario = tmp_path / "wrong.json"
    scenario.write_text(json.dumps({
        "name": "new rows answer 202",
        "api": "claro",
        "steps": [{"method": "POST", "path": "/api/v2/datasets/${dataset}/tasks/new-rows",
                   "body": {"rowCount": 1}, "expect": {"status": 202}}],
    }))  # fmt: skip
    junit = tmp_path / "junit.xml"
    status, out = _cli(
        "verify", "claro", "--base-url", in_thread, "--key", KEY, "--fixtures",
        str(fixture_file), "--examples", "0", "--no-shipped-scenarios", "--scenario",
        str(scenario), "--junit", str(junit), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert 1 == status
    assert "scenario 'new rows answer 202': failed" in out
    (failure,) = ElementTree.parse(junit).getroot().iter("failure")
    assert "status 201, expected 202" in (failure.get("message") or "")


def test_a_scenario_of_another_api_is_skipped(
    in_thread: str, fixture_file: Path, tmp_path: Path
) -> None:
    scenario = load_scenario(
        json.dumps(
            {"name": "x", "api": "chunkr", "steps": [{"method": "GET", "path": "/x"}]}
        ).encode()
    )
    report = verify(
        Options(
            "claro",
            in_thread,
            KEY,
            parse(fixture_file),
            examples=0,
            scenarios=(scenario,),
            shipped=False,
            out=tmp_path,
        )
    )
    assert ["skipped"] == [s.outcome for s in report.scenarios]
    assert 0 == report.exit_status


def test_without_the_control_interface_the_worker_property_is_not_checked(
    fixture_file: Path, tmp_path: Path
) -> None:
    with serving(fixture_file, control=False) as url:
        report = verify(Options("claro", url, KEY, parse(fixture_file), examples=10, out=tmp_path))
    assert not report.control
    verdicts = {p.name: (p.verdict, p.reason) for p in report.properties}
    assert "not checked" == verdicts["worker"][0]
    assert "control interface" in str(verdicts["worker"][1])
    assert "held" == verdicts["lock"][0]
    outcomes = {s.name: s.outcome for s in report.scenarios}
    assert "skipped" == outcomes["claro: create a bulk task, poll it, complete it"]
    assert "passed" == outcomes["claro: create a new-rows task, cancel it"]
    assert 0 == report.exit_status


def test_a_reset_command_runs_before_each_sequence(
    in_thread: str, fixture_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "resets"
    command = f"curl -fsS -X POST {in_thread}/_taskcore/reset >/dev/null && echo x >> {marker}"
    status, _ = _cli(
        "verify", "chunkr", "--base-url", in_thread, "--key", KEY, "--fixtures",
        str(fixture_file), "--examples", "5", "--reset-command", command,
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert 0 == status
    assert len(marker.read_text().split()) >= 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", "NOT_A_KEY"], "--key is not a Claro API key"),
        (["--examples", "-1"], "--examples must be 0 to 1000000"),
        (["--timeout", "0"], "--timeout must be positive"),
        (["--reset-command", "exit 3"], "--reset-command exited 3"),
        (["--reset-url", "http://127.0.0.1:9/reset"], "Connection refused"),
    ],
)
def test_usage_and_reset_errors_are_exit_2(
    argv: list[str],
    message: str,
    in_thread: str,
    fixture_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--key", KEY, *argv] if argv[0] != "--key" else argv
    status, _ = _cli(
        "verify", "claro", "--base-url", in_thread, "--fixtures", str(fixture_file),
        "--examples", "1", "--out", str(tmp_path), *args,
    )  # fmt: skip
    assert 2 == status
    assert message in capsys.readouterr().err


def test_an_unreachable_server_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = _cli("verify", "chunkr", "--base-url", "http://127.0.0.1:9", "--key", KEY)
    assert 2 == status
    assert "taskcore verify:" in capsys.readouterr().err


def test_an_api_without_a_checker_is_refused(in_thread: str, fixture_file: Path) -> None:
    from taskcore.errors import ValidationError

    with pytest.raises(ValidationError, match="no checker for 'nope'"):
        verify(Options("nope", in_thread, KEY, parse(fixture_file), examples=0))


def test_the_reset_endpoint_puts_the_fixtures_back(in_thread: str) -> None:
    from server_helpers import call

    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    path = f"/api/v2/datasets/{DATASET}/tasks"
    created = call(in_thread, "POST", f"{path}/new-rows", headers=headers, body=b'{"rowCount":1}')
    assert 201 == created.status
    task = created.json()["taskId"]
    assert 200 == call(in_thread, "GET", f"{path}/{task}", headers=headers).status
    assert 405 == call(in_thread, "GET", "/_taskcore/reset").status
    reset = call(in_thread, "POST", "/_taskcore/reset")
    assert 200 == reset.status
    assert reset.json()["reset"] >= 1
    assert 404 == call(in_thread, "GET", f"{path}/{task}", headers=headers).status


def test_verify_control_needs_the_memory_store(tmp_path: Path) -> None:
    from taskcore import server

    err = io.StringIO()
    status = server.main(
        host="127.0.0.1", port=0, store=f"sqlite:{tmp_path / 'x.db'}", keys=None, demo=False,
        fixtures=None, out=io.StringIO(), err=err, environ={}, verify_control=True,
    )  # fmt: skip
    assert 1 == status
    assert "--verify-control needs --store memory" in err.getvalue()


def test_serve_with_verify_control_prints_the_demo_and_stops(tmp_path: Path) -> None:
    env = {**os.environ}
    process = subprocess.Popen(
        [sys.executable, "-m", "taskcore", "serve", "--port", "0", "--demo", "--verify-control"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # a few lines only: read at the end
        text=True,
        env=env,
    )
    assert process.stdout is not None
    demo = json.loads(process.stdout.readline())
    url = process.stdout.readline().strip()
    from server_helpers import call

    assert 200 == call(url, "POST", "/_taskcore/reset").status
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=START_TIMEOUT)
    assert 0 == process.returncode, err
    assert "YOUR_API_KEY" == demo["keys"]["claro"]


@pytest.mark.parametrize("api", ["claro", "chunkr"])
def test_a_worker_that_fails_some_steps_is_no_divergence(
    api: str, fixture_file: Path, tmp_path: Path
) -> None:
    """The model cannot know which cells or re-runs the worker failed: it keeps what may
    be, and pins it with the next read (no false alarm)."""
    with serving(fixture_file, failure_rate=0.4) as url:
        report = verify(Options(api, url, KEY, parse(fixture_file), examples=60, out=tmp_path))
    assert 0 == report.exit_status, report.counterexample
    assert "held" == {p.name: p.verdict for p in report.properties}["worker"]


def test_max_time_stops_drawing_sequences(
    in_thread: str, fixture_file: Path, tmp_path: Path
) -> None:
    options = Options(
        "chunkr", in_thread, KEY, parse(fixture_file), examples=50, max_time=0.0, out=tmp_path
    )
    report = verify(options)
    assert (0, 0) == (report.sequences, report.steps)
    assert 0 == report.exit_status


def test_verify_without_hypothesis_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "hypothesis" else real_find_spec(name, *a),
    )
    status, _ = _cli("verify", "claro", "--base-url", "http://127.0.0.1:9", "--key", KEY)
    assert 2 == status
    assert "pip install 'taskcore[testing]'" in capsys.readouterr().err


def test_a_step_naming_an_uncaptured_id_is_a_divergence_not_a_crash(
    in_thread: str, fixture_file: Path
) -> None:
    from taskcore.verify.claro import ClaroChecker
    from taskcore.verify.driver import run_steps
    from taskcore.verify.exchange import HttpClient, Step
    from taskcore.verify.sut import SystemUnderTest

    sut = SystemUnderTest(HttpClient(in_thread), reset_url=f"{in_thread}/_taskcore/reset")
    fixture = parse(fixture_file)
    steps = [
        Step("POST", f"/api/v2/datasets/{DATASET}/tasks/new-rows", '{"rowCount": 0}',
             capture={"task_1": "taskId"}),
        Step("GET", f"/api/v2/datasets/{DATASET}/tasks/${{task_1}}"),
    ]  # fmt: skip
    outcome = run_steps(sut, lambda: ClaroChecker(fixture, KEY, control=False), steps)
    assert 2 == len(outcome.steps)
    assert 1 == len(outcome.exchanges)
    (divergence,) = outcome.divergences
    assert "was not captured" in divergence.message
