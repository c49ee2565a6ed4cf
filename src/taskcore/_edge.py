"""What the ASGI and WSGI adapters share: the edge a handler presents to a server.

An adapter turns bytes into a :class:`~taskcore.http.Request` and needs three things of
what it serves: the answer to a request, the largest body it may read for a path, and
how to refuse a request in the API's own error shape *before* a request exists (a body
too large, a failure in the adapter itself).  :class:`Edge` is that protocol;
:func:`as_edge` gives one for a :class:`~taskcore.http.Router`, for anything that already
is an :class:`Edge` (the composite :class:`taskcore.server.Mounts`), or for any object with
``handle(Request) -> Response``.  The adapters also share the query-string and header
conversions and the access-log line (docs/server.md, "Adapters").
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote

from taskcore.errors import TaskcoreError, ValidationError
from taskcore.http import Request, Response, Router, json_response

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_QUERY_FIELDS",
    "Edge",
    "Handles",
    "access_line",
    "as_edge",
    "declared_length",
    "header_map",
    "parse_query",
    "requote",
]

DEFAULT_MAX_BODY = 1024 * 1024
"""The largest request body an adapter reads by default, in bytes (1 MiB)."""
MAX_QUERY_FIELDS = 100
"""The most ``name=value`` pairs a query string may have (more is 400)."""

ACCESS_LOG = logging.getLogger("taskcore.access")
"""One JSON line per answered request, at INFO (see :func:`access_line`)."""
LOG = logging.getLogger("taskcore.server")
"""Where the adapters log an unexpected error, with its traceback."""

# RFC 3986 pchar minus "%" (an escape written out again) plus "/" (PATH_INFO's separators).
_PATH_SAFE = "/:@!$&'()*+,;="


class Handles(Protocol):
    """Anything that answers a request: a :class:`~taskcore.http.Router`, say."""

    def handle(self, request: Request) -> Response:
        """Answer ``request``; never raises."""


@runtime_checkable
class Edge(Protocol):
    """What an adapter serves: answers, body limits and refusals in the API's shape."""

    def handle(self, request: Request) -> Response:
        """Answer ``request``; never raises."""

    def body_limit(self, path: str) -> int:
        """The largest body accepted for the raw ``path``, in bytes."""

    def reject(self, path: str, error: TaskcoreError) -> Response:
        """``error`` in the error shape of the API that serves the raw ``path``."""


def _generic(error: TaskcoreError) -> Response:
    return json_response(error.status, error.to_wire())


class _RouterEdge:
    def __init__(self, handler: Handles, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body

    def handle(self, request: Request) -> Response:
        return self.handler.handle(request)

    def body_limit(self, path: str) -> int:
        return self.max_body

    def reject(self, path: str, error: TaskcoreError) -> Response:
        if isinstance(self.handler, Router):
            return self.handler.render(error)
        return _generic(error)


def as_edge(handler: Handles, max_body: int | None) -> Edge:
    """``handler`` as an :class:`Edge`.

    Args:
        handler: an :class:`Edge` (kept, unless ``max_body`` is given), a
            :class:`~taskcore.http.Router` (refusals through its ``render``), or anything
            with ``handle`` (refusals as ``{"error", "code", "details"}``).
        max_body: the body limit in bytes for every path, or ``None`` for the edge's own
            (:data:`DEFAULT_MAX_BODY` for a handler that has none).

    Raises:
        ValueError: ``max_body`` is negative.
    """
    if max_body is not None and max_body < 0:
        raise ValueError("max_body must be >= 0 bytes")
    if isinstance(handler, Edge) and max_body is None:
        return handler
    return _RouterEdge(handler, DEFAULT_MAX_BODY if max_body is None else max_body)


def parse_query(raw: bytes) -> dict[str, str]:
    """Query parameters of a raw query string, percent-decoded (UTF-8, invalid bytes as
    U+FFFD), ``+`` as a space; the first value of each name is kept.

    Raises:
        ValidationError: more than :data:`MAX_QUERY_FIELDS` pairs (``field`` is
            ``"query"``).
    """
    if not raw:
        return {}
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except ValueError:
        raise ValidationError(
            f"Query string has more than {MAX_QUERY_FIELDS} fields", field="query"
        ) from None
    query: dict[str, str] = {}
    for name, value in pairs:
        query.setdefault(name, value)
    return query


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-cased name; a name given twice gets its values joined with
    ``", "`` (RFC 9110, section 5.3)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` header as a number of bytes, or ``None`` when absent.

    Raises:
        ValidationError: the header is not a non-negative decimal number
            (``field`` is ``"Content-Length"``).
    """
    value = headers.get("content-length")
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 19:
        raise ValidationError("Content-Length must be a number of bytes", field="Content-Length")
    return int(text)


def requote(path: str, encoding: str) -> str:
    """A decoded path (``PATH_INFO``, ``scope["path"]``) percent-encoded again.

    What decoding lost cannot come back: ``%2F`` reads as ``/`` and ``%41`` as ``A``, so
    an id holding a slash cannot be named through a server that hands over only the
    decoded path.  ``%`` is written ``%25``, so ``task%41`` reaches the service as itself.

    Args:
        path: the decoded path.
        encoding: how its text maps back to bytes: ``"latin-1"`` for WSGI (PEP 3333),
            ``"utf-8"`` for ASGI.
    """
    try:
        data = path.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:  # not what the server promised: keep every character
        data = path.encode("utf-8", "surrogatepass")
    return quote(data, safe=_PATH_SAFE)


def access_line(method: str, path: str, status: int, seconds: float) -> str:
    """The access-log line for one request: JSON with ``time`` (UTC, ISO 8601),
    ``method``, ``path`` (raw, without query), ``status`` and ``duration_ms``.  Never a
    header, a query string or a body."""
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": math.floor(seconds * 1e6) / 1e3,
        },
        ensure_ascii=True,
    )


def log_access(method: str, path: str, status: int, seconds: float) -> None:
    """Write :func:`access_line` to the ``taskcore.access`` logger, at INFO."""
    if ACCESS_LOG.isEnabledFor(logging.INFO):
        ACCESS_LOG.info(access_line(method, path, status, seconds))
