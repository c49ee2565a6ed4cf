"""The WSGI adapter: under ``wsgiref`` in a thread on 127.0.0.1 (the four APIs' handler,
errors in each API's body), and driven directly for what ``wsgiref`` does not send
(``RAW_URI``, ``REQUEST_URI``, ``wsgi.input_terminated``)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from server_helpers import START_TIMEOUT, call, raw_exchange
from taskcore.http import Request, Response
from taskcore.server import ApiKeys, build_handler, build_services, seed_demo
from taskcore.store import MemoryStore
from taskcore.wsgi import wsgi_app

CLARO = "/api/v2/datasets/550e8400-e29b-41d4-a716-446655440000/tasks"
AUTH = {"Authorization": "Bearer YOUR_API_KEY", "Content-Type": "application/json"}


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """wsgiref's own access line is not wanted on the test's stderr."""


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    services = build_services(MemoryStore(), ApiKeys())
    seed_demo(services)
    server: WSGIServer = make_server(
        "127.0.0.1", 0, wsgi_app(build_handler(services)), handler_class=Quiet
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(START_TIMEOUT)
        server.server_close()
        services.close()


def test_a_documented_request_is_answered(url: str) -> None:
    answer = call(url, "POST", f"{CLARO}/bulk", headers=AUTH, body=b'{"cellIds": ["cell_1"]}')
    assert 201 == answer.status
    assert "queued" == answer.json()["status"]


def test_percent_escapes_survive_pathinfo_decoding(url: str) -> None:
    answer = call(url, "GET", f"{CLARO}/task%2541", headers=AUTH)
    assert (404, {"taskId": "task%41"}) == (answer.status, answer.json()["details"])


def test_an_encoded_slash_reads_as_a_slash_under_wsgiref(url: str) -> None:
    # wsgiref gives PATH_INFO only, decoded: what docs/server.md says is lost.
    answer = call(url, "GET", CLARO.replace("/tasks", "%2Ftasks") + "/t", headers=AUTH)
    assert (404, {"taskId": "t"}) == (answer.status, answer.json()["details"])


def test_huge_and_mistyped_bodies_are_refused_in_the_apis_body(url: str) -> None:
    # Declared, not sent: wsgiref closes the connection after answering, unread.
    head = f"POST {CLARO}/bulk HTTP/1.1\r\nHost: x\r\nContent-Length: {1024 * 1024 + 1}\r\n\r\n"
    reply = raw_exchange(url, head.encode())
    assert reply.startswith(b"HTTP/1.0 413 "), reply[:100]
    assert b'"PAYLOAD_TOO_LARGE"' in reply
    text = {**AUTH, "Content-Type": "text/plain"}
    answer = call(url, "POST", f"{CLARO}/bulk", headers=text, body=b"{}")
    assert (415, "UNSUPPORTED_MEDIA_TYPE") == (answer.status, answer.json()["code"])
    answer = call(url, "GET", "/healthz")
    assert 200 == answer.status


def test_401_keeps_its_challenge(url: str) -> None:
    answer = call(url, "GET", "/api/v1/tasks")
    assert (401, "Bearer") == (answer.status, answer.headers["www-authenticate"])


class Echo:
    def handle(self, request: Request) -> Response:
        payload = {"path": request.path, "body": request.body.decode(), "q": dict(request.query)}
        return Response(207, {"content-type": "application/json"}, json.dumps(payload).encode())


def direct(environ: dict[str, Any], max_body: int | None = None) -> tuple[str, Any]:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.append(status)

    base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/decoded", "wsgi.input": io.BytesIO(b"")}
    chunks = wsgi_app(Echo(), max_body=max_body)({**base, **environ}, start_response)
    return seen[0], json.loads(b"".join(chunks))


def test_raw_uri_is_preferred_and_script_name_removed() -> None:
    status, answer = direct({"RAW_URI": "/app/a%2Fb?x=1", "SCRIPT_NAME": "/app"})
    assert ("207 Multi-Status", "/a%2Fb") == (status, answer["path"])
    _, answer = direct({"REQUEST_URI": "/a%2Fb", "SCRIPT_NAME": "/other"})
    assert "/decoded" == answer["path"]  # the URI disagrees with SCRIPT_NAME


def test_a_terminated_input_without_length_is_read_up_to_the_limit() -> None:
    environ = {"wsgi.input_terminated": True, "wsgi.input": io.BytesIO(b"abc")}
    assert "abc" == direct(environ)[1]["body"]
    environ = {"wsgi.input_terminated": True, "wsgi.input": io.BytesIO(b"abcdef")}
    status, _ = direct(environ, max_body=4)
    assert "413" == status.split()[0]  # the phrase differs by Python version


def test_without_length_or_termination_the_body_is_empty() -> None:
    assert "" == direct({"wsgi.input": io.BytesIO(b"abc")})[1]["body"]


def test_a_malformed_content_length_is_400() -> None:
    status, answer = direct({"CONTENT_LENGTH": "12abc"})
    assert "400 Bad Request" == status
    assert "VALIDATION_ERROR" == answer["code"]


class Odd:
    def handle(self, request: Request) -> Response:
        if request.path == "/bug":
            raise RuntimeError("secret")
        return Response(299, {"content-type": "application/json"}, b"{}")


def test_odd_statuses_and_bugs(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.append(status)

    app = wsgi_app(Odd())
    base = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    assert [b"{}"] == list(app({**base, "PATH_INFO": "/ok"}, start_response))
    body = b"".join(app({**base, "PATH_INFO": "/bug"}, start_response))
    assert ["299 Unknown", "500 Internal Server Error"] == seen
    assert b"secret" not in body
    assert "secret" in caplog.text


def test_retry_after_passes_through() -> None:
    from taskcore.errors import StoreBusy
    from taskcore.http import Route, Router

    def busy(request: Request, params: Any) -> Response:
        raise StoreBusy(retry_after_seconds=3)

    router = Router([Route("GET", "/busy", busy)], lambda e: Response(e.status, {}, b""))
    headers: list[list[tuple[str, str]]] = []
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/busy", "wsgi.input": io.BytesIO(b"")}
    list(wsgi_app(router)(base, lambda status, given: headers.append(given)))
    assert ("retry-after", "3") in headers[0]
