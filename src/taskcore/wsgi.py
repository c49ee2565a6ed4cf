"""A WSGI application (PEP 3333) around a taskcore router (stdlib only).

``wsgi_app(router)`` mounts an API in any WSGI server (docs/server.md, "Adapters"):

- The path contract of :class:`taskcore.http.Request` holds where the server allows it:
  the raw path comes from ``RAW_URI`` (gunicorn) or ``REQUEST_URI`` (uWSGI, mod_wsgi)
  when the server gives one and it agrees with ``SCRIPT_NAME``; otherwise ``PATH_INFO``,
  which the server has decoded, is encoded again (:func:`taskcore._edge.requote`).  That
  loses what decoding merged: ``%2F`` reads as ``/`` (an id holding a slash cannot be
  named), and an escape of an unreserved character as the character; ``%25`` stays a
  ``%`` in the id, so ``task%2541`` reaches the service as ``task%41`` either way.
- The body is read up to the handler's limit for the path and no further (413
  ``PAYLOAD_TOO_LARGE`` in the API's error body); without ``Content-Length`` it is empty,
  unless the server sets ``wsgi.input_terminated``.
- An unexpected error is logged (logger ``taskcore.server``) and answered 500 in the
  API's error body; each answered request writes one JSON line to ``taskcore.access``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, BinaryIO

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
from taskcore.errors import InternalError, PayloadTooLarge, TaskcoreError
from taskcore.http import Request, Response

__all__ = ["StartResponse", "WSGIApp", "wsgi_app"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_CHUNK = 64 * 1024


def _native(text: str) -> str:
    """A PEP 3333 native string (bytes as Latin-1) as the text the client meant."""
    try:
        return text.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not a native string after all: take it as it is
        return text


def _raw_path(environ: Mapping[str, Any]) -> str:
    script = str(environ.get("SCRIPT_NAME", ""))
    for name in ("RAW_URI", "REQUEST_URI"):
        uri = environ.get(name)
        if not isinstance(uri, str) or not uri.startswith("/"):
            continue  # absent, or in absolute form: PATH_INFO says it better
        raw = _native(uri.partition("?")[0])
        prefix = requote(script, "latin-1")
        if raw.startswith(prefix):
            return raw[len(prefix) :] or "/"
    return requote(str(environ.get("PATH_INFO", "")) or "/", "latin-1")


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    pairs: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            pairs.append((key[5:].replace("_", "-"), str(value)))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            pairs.append((key.replace("_", "-"), str(environ[key])))
    return header_map(pairs)


def _read_body(stream: BinaryIO, length: int | None, terminated: bool, limit: int) -> bytes | None:
    """The body, or ``None`` when it is longer than ``limit`` (not read on)."""
    if length is None and not terminated:
        return b""
    wanted = limit + 1 if length is None else length
    chunks: list[bytes] = []
    size = 0
    while size < wanted:
        chunk = stream.read(min(_CHUNK, wanted - size))
        if not chunk:
            break  # the client stopped sending: what came is the body
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def _answer(edge: Edge, environ: Mapping[str, Any], method: str, path: str) -> Response:
    try:
        headers = _headers(environ)
        limit = edge.body_limit(path)
        length = declared_length(headers)
        if length is not None and length > limit:
            return edge.reject(path, PayloadTooLarge(limit))
        terminated = bool(environ.get("wsgi.input_terminated", False))
        body = _read_body(environ["wsgi.input"], length, terminated, limit)
        if body is None:
            return edge.reject(path, PayloadTooLarge(limit))
        query = parse_query(str(environ.get("QUERY_STRING", "")).encode("latin-1", "replace"))
        request = Request(method, path, headers, body, query)
    except TaskcoreError as error:
        return edge.reject(path, error)
    return edge.handle(request)


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def wsgi_app(handler: Handles, *, max_body: int | None = None) -> WSGIApp:
    """A WSGI application answering with ``handler``.

    Args:
        handler: a :class:`~taskcore.http.Router`, the composite
            :class:`taskcore.server.Mounts`, or anything with
            ``handle(Request) -> Response`` that never raises.
        max_body: the largest request body read, in bytes, for every path; ``None``
            keeps the handler's own limits (1 MiB for a router).

    Returns:
        The application; it keeps no state between requests and is safe to call from
        several threads at once (as the handler is).

    Raises:
        ValueError: ``max_body`` is negative.
    """
    edge = as_edge(handler, max_body)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = _raw_path(environ)
        try:
            response = _answer(edge, environ, method, path)
        except Exception:
            LOG.exception("Unexpected error answering %r %r", method, path)
            response = edge.reject(path, InternalError())
        headers = [
            (name, value.encode("latin-1", "replace").decode("latin-1"))
            for name, value in response.headers.items()
            if name != "content-length"
        ]
        headers.append(("content-length", str(len(response.body))))
        start_response(_status_line(response.status), headers)
        log_access(method, path, response.status, time.perf_counter() - started)
        return [response.body]

    return app
