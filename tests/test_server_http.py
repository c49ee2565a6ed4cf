"""``taskcore serve`` as a subprocess on 127.0.0.1, an ephemeral port: the demo, malformed
HTTP refused in each API's error body while the server keeps serving, the access log,
and a clean exit on SIGTERM with a request in flight."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from server_helpers import START_TIMEOUT, call, raw_exchange

DATASET = "550e8400-e29b-41d4-a716-446655440000"
CLARO = f"/api/v2/datasets/{DATASET}/tasks"
CLARO_AUTH = {"Authorization": "Bearer YOUR_API_KEY", "Content-Type": "application/json"}
VL_AUTH = {"Authorization": "Bearer YOUR_JWT"}


class Server:
    """A ``taskcore serve`` process: its URL, demo data and output streams."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "taskcore", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.process.stdout is not None
        self.demo: dict[str, Any] = {}
        line = self.process.stdout.readline()
        if line.startswith("{"):
            self.demo = json.loads(line)
            line = self.process.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), line + self.stop()[1]
        self.url = line.strip()

    def wait_for(self, text: str) -> None:
        """Read standard error until a line holds ``text`` (within START_TIMEOUT)."""
        err = stream(self.process)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([err], [], [], max(0.0, deadline - time.monotonic()))
            if ready and text in err.readline():
                return
        raise AssertionError(f"no line with {text!r} on standard error")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the server, wait for its exit; its exit code and standard error."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=START_TIMEOUT)
        return self.process.returncode, err


def stream(process: subprocess.Popen[str]) -> IO[str]:
    assert process.stderr is not None
    return process.stderr


@pytest.fixture(scope="module")
def demo() -> Iterator[Server]:
    server = Server("--demo")
    yield server
    code, _ = server.stop()
    assert 0 == code


def test_the_demo_prints_its_keys_and_health_answers(demo: Server) -> None:
    assert "YOUR_API_KEY" == demo.demo["keys"]["claro"]
    answer = call(demo.url, "GET", "/healthz")
    assert 200 == answer.status
    assert {"status": "ok"} == answer.json()


def test_unknown_paths_are_404_in_taskcores_error_body(demo: Server) -> None:
    answer = call(demo.url, "GET", "/nowhere")
    assert 404 == answer.status
    assert "NOT_FOUND" == answer.json()["code"]


def test_a_wrong_method_is_405_with_allow(demo: Server) -> None:
    answer = call(demo.url, "PUT", f"{CLARO}/bulk", headers=CLARO_AUTH)
    assert 405 == answer.status
    assert "DELETE, GET, POST" == answer.headers["allow"]  # "bulk" may be a task id too
    assert "METHOD_NOT_ALLOWED" == answer.json()["code"]


def test_bad_json_and_deep_nesting_are_400_in_the_apis_body(demo: Server) -> None:
    for body in (b"{not json", b"[" * 100_000 + b"]" * 100_000):
        answer = call(demo.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
        assert 400 == answer.status
        assert "VALIDATION_ERROR" == answer.json()["code"]


def test_a_body_that_is_not_json_is_415(demo: Server) -> None:
    headers = {**CLARO_AUTH, "Content-Type": "text/plain"}
    answer = call(demo.url, "POST", f"{CLARO}/bulk", headers=headers, body=b"{}")
    assert 415 == answer.status
    assert {"error", "code", "details"} == set(answer.json())
    assert "UNSUPPORTED_MEDIA_TYPE" == answer.json()["code"]
    path = demo.demo["sendai"]["path"] + "/complete"
    auth = {"Authorization": "Bearer YOUR_API_KEY"}
    answer = call(demo.url, "POST", path, headers=auth, body=b"{}")
    assert 415 == answer.status
    assert "UNSUPPORTED_MEDIA_TYPE" == answer.json()["code"]
    assert {"code", "message"} == set(answer.json())


def test_a_huge_body_is_413_and_not_read(demo: Server) -> None:
    body = b"x" * (2 * 1024 * 1024)
    answer = call(demo.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert 413 == answer.status
    assert "PAYLOAD_TOO_LARGE" == answer.json()["code"]
    answer = call(demo.url, "POST", "/api/v1/tasks/x/abort", headers=VL_AUTH, body=body)
    assert 413 == answer.status
    assert {"detail"} == set(answer.json())


def test_a_body_past_the_limit_is_413_whatever_content_length_said(demo: Server) -> None:
    chunk = b"x" * 65536
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    head = (
        f"POST {CLARO}/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer YOUR_API_KEY\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    reply = raw_exchange(demo.url, head + chunked)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in reply


def test_encoded_ids_are_decoded_once(demo: Server) -> None:
    answer = call(demo.url, "GET", f"{CLARO}/task%2541", headers=CLARO_AUTH)
    assert 404 == answer.status
    assert {"taskId": "task%41"} == answer.json()["details"]
    chunkr = {"Authorization": "YOUR_API_KEY"}
    answer = call(demo.url, "GET", "/api/v1/task/task%2541", headers=chunkr)
    assert (404, "Task not found") == (answer.status, answer.text)


def test_an_encoded_slash_names_nothing(demo: Server) -> None:
    answer = call(demo.url, "GET", f"/api/v2/datasets/{DATASET}%2Ftasks/t", headers=CLARO_AUTH)
    assert 404 == answer.status
    assert "NOT_FOUND" == answer.json()["code"]


def test_401_challenges_with_bearer_and_429_survives_with_retry_after(demo: Server) -> None:
    answer = call(demo.url, "GET", f"{CLARO}/t", headers={"Authorization": "Bearer nope"})
    assert 401 == answer.status
    assert "Bearer" == answer.headers["www-authenticate"]
    answer = call(demo.url, "GET", "/api/v1/tasks")
    assert 401 == answer.status
    assert "Bearer" == answer.headers["www-authenticate"]
    assert {"detail"} == set(answer.json())


def test_the_server_keeps_serving_after_malformed_requests(demo: Server) -> None:
    for garbage in (b"\x00\xff garbage\r\n\r\n", b"GET /%%% HTTP/1.1\r\nHost: x\r\n\r\n"):
        raw_exchange(demo.url, garbage)
    answer = call(demo.url, "GET", "/api/v1/tasks", headers=VL_AUTH)
    assert 200 == answer.status
    assert 2 == answer.json()["total"]


def test_sigterm_answers_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    server = Server("--demo", "--store", f"sqlite:{tmp_path / 'tasks.db'}")
    host, _, port = server.url.removeprefix("http://").partition(":")
    body = b'{"rowCount": 5}'
    with socket.create_connection((host, int(port)), timeout=START_TIMEOUT) as sock:
        sock.sendall(
            (
                f"POST {CLARO}/new-rows HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer YOUR_API_KEY\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[:5]
        )
        # A whole exchange on a second connection, started after the head was sent: the
        # server's one event loop has read that head (and opened the request) by its end.
        answer = call(server.url, "GET", "/healthz")
        assert 200 == answer.status
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("stopping")  # no new connections; the request is in flight
        sock.sendall(body[5:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 201 "), reply
    code, err = server.stop()
    assert 0 == code, err
    assert "Shutting down" not in err  # uvicorn's own INFO lines stay off
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {"method": "POST", "path": f"{CLARO}/new-rows", "status": 201} == {
        k: lines[-1][k] for k in ("method", "path", "status")
    }
    assert set(lines[-1]) == {"time", "method", "path", "status", "duration_ms"}
    assert "YOUR_API_KEY" not in err


def test_a_second_signal_stops_waiting_for_requests_in_flight() -> None:
    server = Server()
    host, _, port = server.url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=START_TIMEOUT) as sock:
        sock.sendall(b"POST /api/v1/task/parse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        assert 200 == call(server.url, "GET", "/healthz").status  # the head has been read
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("stopping")
        code, _ = server.stop(signal.SIGINT)  # the body never comes: do not wait for it
        assert 0 == code
        reply = sock.recv(65536)  # closed, or a plain 500 from uvicorn: never done
        assert b"" == reply or reply.startswith(b"HTTP/1.1 500 "), reply
