"""``taskcore verify`` facing hostile servers and odd inputs: a server that trickles its
answer, runs that check nothing, corrupt saved counterexamples, keys in the scripts."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from taskcore.cli import main
from taskcore.verify.exchange import HttpClient, Unreachable
from verify_servers import KEY, serving, write_fixture


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue(), capsys.readouterr().err


@contextmanager
def _trickling(mode: str) -> Iterator[str]:
    """A server on 127.0.0.1 that answers the reset at once and trickles every other
    answer, one byte every 20 ms, for about 8 s: its body (``body``) or its status line
    and headers (``headers``)."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _trickle(self, data: bytes) -> None:
            for byte in data:
                if stop.wait(0.02):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            try:
                if self.path.endswith("/_taskcore/reset"):
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                elif mode == "body":
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "400")
                    self.end_headers()
                    self.wfile.flush()
                    self._trickle(b" " * 400)
                else:
                    self._trickle(b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 400)
            except OSError:
                pass
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


# -- F2: a total deadline per exchange ------------------------------------------------------


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_trickled_answer_is_cut_off_at_the_timeout(mode: str) -> None:
    with _trickling(mode) as url:
        client = HttpClient(url, timeout=0.3)
        with pytest.raises(Unreachable, match=r"no whole answer within 0\.3 s"):
            client.send("GET", "/api/v1/tasks", {}, b"")


def test_verify_exits_2_on_a_trickling_server(capsys: pytest.CaptureFixture[str]) -> None:
    with _trickling("body") as url:
        status, _, err = _cli(
            capsys, "verify", "chunkr", "--base-url", url, "--key", KEY, "--timeout", "0.3",
            "--examples", "2",
        )  # fmt: skip
    assert 2 == status, err
    assert "no whole answer within 0.3 s" in err


# -- F7: a run or trace that checked nothing is not a pass -----------------------------------


@pytest.mark.parametrize("number", ["nan", "inf", "-1"])
def test_non_finite_or_negative_times_are_refused(
    number: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in ("--max-time", "--timeout"):
        status, _, err = _cli(
            capsys, "verify", "chunkr", "--base-url", "http://127.0.0.1:9", "--key", KEY,
            option, number,
        )  # fmt: skip
        assert 2 == status
        assert option in err


def test_examples_0_without_scenarios_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(
        capsys, "verify", "chunkr", "--base-url", "http://127.0.0.1:9", "--key", KEY,
        "--examples", "0", "--no-shipped-scenarios",
    )  # fmt: skip
    assert 2 == status
    assert "nothing to check" in err


def test_a_run_with_zero_checks_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = write_fixture(tmp_path)
    with serving(fixture) as url:
        status, out, err = _cli(
            capsys, "verify", "chunkr", "--base-url", url, "--key", KEY, "--fixtures",
            str(fixture), "--max-time", "0", "--no-shipped-scenarios", "--out",
            str(tmp_path / "out"),
        )  # fmt: skip
    assert 2 == status, out + err
    assert "nothing was checked" in err


@pytest.mark.parametrize("text", ["", "\n\n\n", '{"log": {"entries": []}}'])
def test_an_empty_trace_is_not_a_pass(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / ("t.har" if text.startswith("{") else "t.jsonl")
    trace.write_text(text, encoding="utf-8")
    status, _, err = _cli(capsys, "verify", "chunkr", "--trace", str(trace), "--key", KEY)
    assert 1 == status, err
    assert "holds no exchange" in err
