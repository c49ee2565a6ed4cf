"""An ASGI 3 application around a taskcore router (stdlib only).

``asgi_app(router)`` is all a team needs to mount an API in its own ASGI server; ``taskcore
serve`` runs the composite of all four under uvicorn (docs/server.md, "Adapters").

- HTTP scopes only; the ``lifespan`` protocol is answered (startup and shutdown
  complete at once); any other scope type raises, as the ASGI specification asks.
- The path contract of :class:`taskcore.http.Request` holds: the path is
  ``scope["raw_path"]``, still percent-encoded, never decoded here.  A server that gives
  no ``raw_path`` has decoded the path already; it is encoded again
  (:func:`taskcore._edge.requote`), which cannot tell ``%2F`` from ``/``.
- The body is read up to the handler's limit for that path and no further: a
  ``Content-Length`` above it, or a body that grows past it whatever its headers said,
  is 413 ``PAYLOAD_TOO_LARGE`` in the API's own error body; a body slower than
  ``body_timeout`` seconds is 408 ``REQUEST_TIMEOUT``.
- The handler runs in a worker thread (:func:`asyncio.to_thread`), so the event loop
  never waits on a service or a store.
- An unexpected error is logged (logger ``taskcore.server``) and answered 500
  ``INTERNAL_ERROR`` in the API's error body; no traceback reaches the client.
- Each answered request writes one JSON line to the ``taskcore.access`` logger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from taskcore._edge import (
    LOG,
    Edge,
    Handles,
    as_edge,
    declared_length,
    header_map,
    log_access,
    parse_query,
    requote,
)
from taskcore.errors import InternalError, PayloadTooLarge, RequestTimeout, TaskcoreError
from taskcore.http import Request, Response

__all__ = ["BODY_TIMEOUT", "ASGIApp", "Receive", "Scope", "Send", "asgi_app"]

BODY_TIMEOUT = 30.0
"""Seconds a request's whole body may take to arrive by default (then 408)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its request was read."""


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes | bytearray) and raw:
        # Request lines are ASCII (RFC 9112); other bytes are kept as lone surrogates,
        # which the router's segment decoding refuses (404), never guesses at.
        return bytes(raw).partition(b"?")[0].decode("utf-8", "surrogateescape")
    return requote(str(scope.get("path", "/")), "utf-8")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``limit`` bytes (not read on)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(
    edge: Edge, scope: Scope, receive: Receive, path: str, body_timeout: float
) -> Response:
    try:
        headers = header_map(
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in scope.get("headers", ())
        )
        limit = edge.body_limit(path)
        declared = declared_length(headers)
        if declared is not None and declared > limit:
            return edge.reject(path, PayloadTooLarge(limit))
        try:
            body = await asyncio.wait_for(_read_body(receive, limit), body_timeout)
        except TimeoutError:
            return edge.reject(path, RequestTimeout(body_timeout))
        if body is None:
            return edge.reject(path, PayloadTooLarge(limit))
        query = parse_query(bytes(scope.get("query_string", b"")))
        request = Request(str(scope["method"]).upper(), path, headers, body, query)
    except TaskcoreError as error:
        return edge.reject(path, error)
    return await asyncio.to_thread(edge.handle, request)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header_list(response: Response) -> list[tuple[bytes, bytes]]:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in response.headers.items()
        if name != "content-length"
    ]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    return headers


def asgi_app(
    handler: Handles, *, max_body: int | None = None, body_timeout: float = BODY_TIMEOUT
) -> ASGIApp:
    """An ASGI 3 application answering with ``handler``.

    Args:
        handler: a :class:`~taskcore.http.Router` (errors in its own shape), the
            composite :class:`taskcore.server.Mounts` (each API's errors in its shape,
            its body limits and media types), or anything with
            ``handle(Request) -> Response`` that never raises.
        max_body: the largest request body read, in bytes, for every path; ``None``
            keeps the handler's own limits (1 MiB for a router).
        body_timeout: seconds the whole body may take to arrive; a slower one is 408
            ``REQUEST_TIMEOUT`` in the API's error body.

    Returns:
        The application; it keeps no state between requests.

    Raises:
        ValueError: ``max_body`` is negative, or ``body_timeout`` is not positive.
    """
    edge = as_edge(handler, max_body)
    if not body_timeout > 0:
        raise ValueError("body_timeout must be > 0 seconds")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"taskcore serves HTTP only, not {scope['type']!r}")
        started = time.perf_counter()
        path = _raw_path(scope)
        try:
            response = await _answer(edge, scope, receive, path, body_timeout)
        except _Disconnected:
            return  # nobody to answer
        except Exception:
            LOG.exception("Unexpected error answering %r %r", scope.get("method"), path)
            response = edge.reject(path, InternalError())
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _header_list(response),
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        log_access(str(scope.get("method")), path, response.status, time.perf_counter() - started)

    return app
