"""``taskcore demo``: the walkthrough over real HTTP against a ``taskcore serve`` child
process, and what it does when the server or the terminal misbehaves."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from taskcore.cli import main
from taskcore.walkthrough import DemoError, Walkthrough, run, running_server

SERVE = [sys.executable, "-m", "taskcore", "serve", "--port", "0"]


def server_pid(text: str) -> int:
    found = re.search(
        r"taskcore serve \(process (\d+)\) is listening on http://127\.0\.0\.1:", text
    )
    assert found is not None, text
    return int(found.group(1))


def gone(pid: int) -> bool:
    """Whether no process ``pid`` exists (the demo waited for its child, so none may)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def fake_server(script: str) -> list[str]:
    """A command running ``script`` in a fresh Python (standing in for the server)."""
    return [sys.executable, "-c", textwrap.dedent(script)]


@pytest.fixture(scope="module")
def demo() -> str:
    """What ``taskcore demo`` printed (run once, in process)."""
    out = io.StringIO()
    assert 0 == main(["demo"], out)
    return out.getvalue()


def part(text: str, api: str) -> str:
    return text.split(f"\n== {api}:", 1)[1].split("\n== ", 1)[0]


def calls(section: str) -> list[tuple[str, str, str]]:
    """Each exchange printed: method, the path's last segment (or query), status."""
    found = re.findall(r"^\$ (\w+) (\S+).*\n-> (\d+)", section, re.M)
    return [(method, re.split(r"/(?=[^/]*$)", path)[-1], status) for method, path, status in found]


def test_the_demo_runs_the_four_parts_in_order_and_stops_its_server(demo: str) -> None:
    assert gone(server_pid(demo))
    parts = [demo.index(f"== {api}:") for api in ("Claro", "Chunkr", "Visual Layer", "Send AI")]
    assert parts == sorted(parts)
    assert demo.endswith("Stopping the server (SIGTERM).\nThe server stopped cleanly.\n")


def test_claro_polls_a_bulk_task_to_100_percent_between_the_lock_and_a_refused_cancel(
    demo: str,
) -> None:
    claro = part(demo, "Claro")
    assert [("POST", "bulk", "201"), ("POST", "new-rows", "409")] == calls(claro)[:2]
    assert [("DELETE", "409"), ("POST", "201"), ("DELETE", "200")] == [
        (method, status) for method, _, status in calls(claro)[-3:]
    ]
    progress = [int(p) for p in re.findall(r"\] +(\d+)/60 \(", claro)]
    assert progress == sorted(progress)
    assert [0, 60] == [progress[0], progress[-1]]
    assert "completed  [##############################]  60/60 (100%)" in claro
    locked = claro.index('-> 409 {"error": "Dataset is locked", "code": "DATASET_LOCKED"')
    refused = claro.index('-> 409 {"error": "Cannot cancel task", "code": "TASK_NOT_CANCELLABLE"')
    assert locked < claro.index("(100%)") < refused


def test_chunkr_reverts_an_update_by_cancel_then_deletes_the_task(demo: str) -> None:
    chunkr = part(demo, "Chunkr")
    assert [
        ("POST", "parse", "200"),
        ("GET", "200"),
        ("PATCH", "parse", "200"),
        ("DELETE", "400"),
        ("GET", "cancel", "200"),
        ("GET", "200"),
        ("DELETE", "200"),
        ("GET", "404"),
    ] == [(m, p, s) if p in ("parse", "cancel") else (m, s) for m, p, s in calls(chunkr)]
    assert "-> 200 status 'Starting', message 'Task queued for update', ocr_strategy 'All'" in (
        chunkr
    )
    assert "-> 400 Task cannot be deleted: status is Starting" in chunkr
    after_cancel = chunkr.split("-> 200 Task cancelled\n", 1)[1]
    assert "-> 200 status 'Succeeded', message 'Task succeeded', ocr_strategy 'Auto'" in (
        after_cancel
    )
    assert "the update is reverted: Succeeded again, with ocr_strategy 'Auto'" in after_cancel
    assert chunkr.rstrip().endswith("-> 404 Task not found")


def test_visual_layer_retries_refuses_an_abort_in_the_commit_phase_and_lists(demo: str) -> None:
    vl = part(demo, "Visual Layer")
    assert [
        ("POST", "retry", "200"),
        ("POST", "abort", "409"),
        ("GET", "tasks?task_status=FAILED&sort_by=start_time&sort_order=desc&page_size=5", "200"),
        ("GET", "tasks?task_status=COMPLETED&task_type=DATASET_CREATION", "200"),
    ] == calls(vl)
    assert "RUNNING    [###########################...]  90/100 ( 90%)" in vl
    assert '-> 409 {"detail": "Task cannot be aborted' in vl
    failed = vl.split("task_status=FAILED", 1)[1].split("\n\n", 1)[0]
    assert "-> 200 1 task(s) in all, this page:" in failed
    assert "ENRICHMENT        FAILED     'Product Images Q1' Model timeout after 300s" in failed
    assert "DATASET_CREATION  COMPLETED  'Product Images Q1'" in vl


def test_sendai_completes_a_document_then_corrects_it(demo: str) -> None:
    sendai = part(demo, "Send AI")
    assert [
        ("GET", "200"),
        ("complete", "400"),
        ("complete", "200"),
        ("discard", "400"),
        ("unlock", "200"),
        ("complete", "200"),
        ("GET", "200"),
        ("report", "201"),
    ] == [(m, s) if p.startswith("task_") else (p, s) for m, p, s in calls(sendai)]
    assert "TASK_VALIDATION_FAILED" in sendai
    assert "Task cannot be discarded: status is COMPLETED" in sendai
    assert (
        '-> 200 {"status": "COMPLETED", "meta": [{"name": "invoice_total", "value": "181.00"}]}'
        in (sendai)
    )
    assert "corrected: COMPLETED with invoice_total 181.00" in sendai


def test_a_server_without_the_demo_data_stops_the_demo_with_a_reason() -> None:
    out = io.StringIO()
    assert 1 == run(out, command=[*SERVE, "--worker-control"])
    assert "taskcore demo: the server printed no demo data (it needs --demo)" in out.getvalue()


def test_a_refused_step_stops_the_demo_and_the_server() -> None:
    out = io.StringIO()
    assert 1 == run(out, command=[*SERVE, "--demo", "--no-webhooks"])  # no worker control
    text = out.getvalue()
    assert "taskcore demo: expected 200, got 404" in text
    assert gone(server_pid(text))


def test_a_server_that_exits_before_listening_is_reported_with_its_errors() -> None:
    out = io.StringIO()
    script = "import sys; sys.stderr.write('no port for you\\n'); raise SystemExit(3)"
    assert 1 == run(out, command=fake_server(script))
    assert "taskcore demo: the server exited (3) before listening\nno port for you\n" in (
        out.getvalue()
    )


def test_bad_demo_data_is_reported() -> None:
    out = io.StringIO()
    assert 1 == run(out, command=fake_server("print('{not json', flush=True)"))
    assert "taskcore demo: the server printed bad demo data: {not json" in out.getvalue()


def test_a_server_that_does_not_stop_cleanly_is_an_error() -> None:
    script = """
        import json, signal
        # SIGTERM blocked, then waited for: no window where it arrives unseen (a Python
        # handler runs only between bytecodes, so one landing just before a blocking
        # wait would leave the wait blocked).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        print(json.dumps({"keys": {}}))
        print("http://127.0.0.1:9", flush=True)
        signal.sigwait({signal.SIGTERM})
        raise SystemExit(4)
    """
    with (
        pytest.raises(DemoError, match="the server exited with status 4"),
        running_server(fake_server(script)) as (url, demo, pid),
    ):
        assert ("http://127.0.0.1:9", {"keys": {}}) == (url, demo)
    assert gone(pid)


class Interrupting(io.StringIO):
    """Output whose first line about Chunkr raises KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def write(self, text: str) -> int:
        if "== Chunkr" in text and not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return super().write(text)


def test_ctrl_c_stops_the_server_and_ends_the_demo() -> None:
    out = Interrupting()
    assert 130 == run(out)
    text = out.getvalue()
    assert text.endswith("\ntaskcore demo: interrupted; the server is stopped.\n")
    assert "DATASET_LOCKED" in text
    assert gone(server_pid(text))


def test_sigterm_to_the_demo_stops_its_server_too() -> None:
    script = """
        import io, os, signal, sys
        from taskcore.walkthrough import run

        class Terminating(io.StringIO):  # SIGTERM arrives while the Chunkr part runs
            def write(self, text):
                if "== Chunkr" in text:
                    os.kill(os.getpid(), signal.SIGTERM)
                return super().write(text)

        out = Terminating()
        status = run(out)
        sys.stdout.write(out.getvalue())
        raise SystemExit(status)
    """
    result = subprocess.run(
        fake_server(script), capture_output=True, text=True, check=False, timeout=120
    )
    assert (128 + signal.SIGTERM, "") == (result.returncode, result.stderr), result.stdout
    assert result.stdout.endswith("\ntaskcore demo: stopped by SIGTERM; the server is stopped.\n")
    assert "DATASET_LOCKED" in result.stdout
    assert "Task queued for update" not in result.stdout
    assert gone(server_pid(result.stdout))


def test_a_server_that_went_away_is_a_demo_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    api = Walkthrough(f"http://127.0.0.1:{port}", io.StringIO())
    with pytest.raises(DemoError, match=r"GET /healthz\?a=b: "):
        api.request("GET", "/healthz", query={"a": "b"})


def test_a_url_without_a_port_is_a_demo_error() -> None:
    with pytest.raises(DemoError, match="no usable URL"):
        Walkthrough("http://127.0.0.1", io.StringIO())
