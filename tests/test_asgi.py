"""The ASGI adapter driven directly (no server): lifespan, the path contract without
``raw_path``, bodies read up to the limit, a client that leaves, an unexpected error."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from taskcore.asgi import Message, asgi_app
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.errors import StoreBusy
from taskcore.http import Request, Response, Route, Router, json_response
from taskcore.store import MemoryStore


def echo(request: Request, params: Mapping[str, str]) -> Response:
    return json_response(
        200,
        {
            "path": request.path,
            "id": params.get("id"),
            "body": len(request.body),
            "query": dict(request.query),
            "headers": dict(request.headers),
        },
    )


ECHO = Router(
    [Route("POST", "/echo/{id}", echo), Route("GET", "/echo/{id}", echo)],
    lambda error: json_response(error.status, {"detail": error.message}),
)


def run(
    app: Any, scope: dict[str, Any], messages: list[Message]
) -> tuple[list[Message], list[Message]]:
    """Run ``app`` on ``scope``; what it sent, and the messages it did not read."""
    pending = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, pending


def http(raw_path: bytes, method: str = "GET", **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "raw_path": raw_path, "path": "ignored",
            "query_string": b"", "headers": [], **extra}  # fmt: skip


def body(sent: list[Message]) -> Any:
    return json.loads(sent[1]["body"])


def test_lifespan_startup_and_shutdown_complete() -> None:
    sent, left = run(
        asgi_app(ECHO),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert ["lifespan.startup.complete", "lifespan.shutdown.complete"] == [m["type"] for m in sent]
    assert [] == left


def test_other_scope_types_are_refused() -> None:
    with pytest.raises(ValueError, match="websocket"):
        run(asgi_app(ECHO), {"type": "websocket"}, [])


def test_the_raw_path_reaches_the_router_undecoded() -> None:
    sent, _ = run(
        asgi_app(ECHO),
        http(b"/echo/task%2541", query_string=b"a=1&a=2&b=%E2%82%AC&c"),
        [{"type": "http.request", "body": b""}],
    )
    assert 200 == sent[0]["status"]
    answer = body(sent)
    assert ("/echo/task%2541", "task%41") == (answer["path"], answer["id"])
    assert {"a": "1", "b": "\u20ac", "c": ""} == answer["query"]


def test_without_raw_path_the_decoded_path_is_encoded_again() -> None:
    scope = http(b"", path="/echo/task%41")
    del scope["raw_path"]
    sent, _ = run(asgi_app(ECHO), scope, [{"type": "http.request"}])
    assert ("/echo/task%2541", "task%41") == (body(sent)["path"], body(sent)["id"])


def test_repeated_headers_are_joined_and_content_length_is_ours() -> None:
    headers = [(b"X-A", b"1"), (b"x-a", b"2")]
    sent, _ = run(asgi_app(ECHO), http(b"/echo/1", headers=headers), [{"type": "http.request"}])
    assert "1, 2" == body(sent)["headers"]["x-a"]
    assert (b"content-length", str(len(sent[1]["body"])).encode()) in sent[0]["headers"]


def test_a_body_in_pieces_is_read_whole() -> None:
    pieces: list[Message] = [{"type": "http.request", "body": b"ab", "more_body": True},
              {"type": "http.request", "body": b"cd"}]  # fmt: skip
    sent, _ = run(asgi_app(ECHO, max_body=4), http(b"/echo/1", "POST"), pieces)
    assert 4 == body(sent)["body"]


def test_a_body_past_the_limit_stops_being_read() -> None:
    pieces: list[Message] = [{"type": "http.request", "body": b"abc", "more_body": True},
              {"type": "http.request", "body": b"de", "more_body": True},
              {"type": "http.request", "body": b"never read"}]  # fmt: skip
    sent, left = run(asgi_app(ECHO, max_body=4), http(b"/echo/1", "POST"), pieces)
    assert 413 == sent[0]["status"]
    assert {"detail": "Request body is larger than 4 bytes"} == body(sent)
    assert 1 == len(left)


def test_a_declared_length_past_the_limit_is_413_before_reading() -> None:
    scope = http(b"/echo/1", "POST", headers=[(b"content-length", b"5")])
    sent, left = run(asgi_app(ECHO, max_body=4), scope, [{"type": "http.request"}])
    assert 413 == sent[0]["status"]
    assert 1 == len(left)


def test_a_malformed_content_length_is_400() -> None:
    scope = http(b"/echo/1", "POST", headers=[(b"content-length", b"-1")])
    sent, _ = run(asgi_app(ECHO), scope, [{"type": "http.request"}])
    assert 400 == sent[0]["status"]
    assert {"detail": "Content-Length must be a number of bytes"} == body(sent)


def test_too_many_query_fields_is_400() -> None:
    scope = http(b"/echo/1", query_string=b"&".join(b"a%d=1" % i for i in range(101)))
    sent, _ = run(asgi_app(ECHO), scope, [{"type": "http.request"}])
    assert 400 == sent[0]["status"]


def test_a_client_that_leaves_gets_nothing() -> None:
    sent, _ = run(asgi_app(ECHO), http(b"/echo/1", "POST"), [{"type": "http.disconnect"}])
    assert [] == sent


class Broken:
    """A handler with a bug."""

    def handle(self, request: Request) -> Response:
        raise RuntimeError("secret detail")


def test_an_unexpected_error_is_a_logged_500_without_the_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="taskcore.server"):
        sent, _ = run(asgi_app(Broken()), http(b"/x"), [{"type": "http.request"}])
    assert 500 == sent[0]["status"]
    assert "INTERNAL_ERROR" == body(sent)["code"]
    assert b"secret" not in sent[1]["body"]
    assert "secret detail" in caplog.text


def test_a_router_mounted_alone_keeps_its_error_shape_and_challenge() -> None:
    router = claro_router(ClaroTasks(MemoryStore()), {})
    sent, _ = run(asgi_app(router), http(b"/api/v2/datasets/d/tasks/t"), [{"type": "http.request"}])
    assert 401 == sent[0]["status"]
    assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]
    assert "UNAUTHORIZED" == body(sent)["code"]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_body"):
        asgi_app(ECHO, max_body=-1)


def test_the_access_log_has_one_json_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="taskcore.access"):
        run(asgi_app(ECHO), http(b"/echo/1", headers=[(b"authorization", b"Bearer s3cret")]),
            [{"type": "http.request"}])  # fmt: skip
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "taskcore.access"]
    assert {"method": "GET", "path": "/echo/1", "status": 200} == {
        k: line[k] for k in ("method", "path", "status")
    }
    assert "s3cret" not in caplog.text


def test_a_body_slower_than_the_timeout_is_408() -> None:
    async def never() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    app = asgi_app(ECHO, body_timeout=0.01)

    async def main() -> None:
        await app(http(b"/echo/1", "POST"), never, send)

    asyncio.run(main())
    assert 408 == sent[0]["status"]
    assert {"detail": "The request body did not arrive within 0.01 seconds"} == body(sent)


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="body_timeout"):
        asgi_app(ECHO, body_timeout=0)


def test_retry_after_passes_through() -> None:
    def busy(request: Request, params: Mapping[str, str]) -> Response:
        raise StoreBusy(retry_after_seconds=3)

    router = Router([Route("GET", "/busy", busy)], lambda e: json_response(e.status, {}))
    sent, _ = run(asgi_app(router), http(b"/busy"), [{"type": "http.request"}])
    assert 503 == sent[0]["status"]
    assert (b"retry-after", b"3") in sent[0]["headers"]
