"""Sans-IO HTTP: ``Request`` and ``Response`` values and a small router.

No sockets here (DESIGN.md, "Wire"): a server adapter turns bytes into a
:class:`Request`, calls :meth:`Router.handle`, and writes the :class:`Response` back.
Every API's router is built from this one core; what differs per API is its routes and
how it renders an error (Claro ``{error, code, details}``, Visual Layer ``{"detail"}``,
Chunkr plain text), which the router takes as a function.

Routes are patterns such as ``/api/v2/datasets/{dataset_id}/tasks/{task_id}``; a
placeholder matches one non-empty path segment.  A path that matches no pattern is 404;
a path that matches with another method is 405 with ``Allow``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import attrs

from taskcore.errors import (
    MethodNotAllowed,
    RouteNotFound,
    TaskcoreError,
    Unauthorized,
    ValidationError,
)

__all__ = [
    "Handler",
    "Request",
    "Response",
    "Route",
    "Router",
    "bearer_token",
    "json_response",
]


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@attrs.frozen
class Request:
    """An HTTP request, as a value.

    Attributes:
        method: upper-case (``"GET"``).
        path: the path without query string (``"/api/v2/datasets/ds/tasks/new-rows"``).
        headers: header names lower-cased.
        body: the raw body.
        query: query parameters (first value of each).
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""
    query: Mapping[str, str] = attrs.field(factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValidationError: the body is empty, not UTF-8, or not JSON.
        """
        if not self.body.strip():
            raise ValidationError("Request body must be a JSON object")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("Request body is not valid JSON") from None


@attrs.frozen
class Response:
    """An HTTP response, as a value (header names lower-cased)."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON (for tests and clients)."""
        return json.loads(self.body)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with ``Content-Type: application/json``."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, {"content-type": "application/json", **(headers or {})}, body)


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises:
        Unauthorized: the header is missing or not a Bearer credential.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing or malformed Authorization: Bearer header")
    return token.strip()


Handler = Callable[[Request, Mapping[str, str]], Response]
"""A route's handler: the request and the path's placeholders, by name."""


@attrs.frozen
class Route:
    """One ``method pattern -> handler`` entry."""

    method: str
    pattern: str
    handler: Handler = attrs.field(eq=False, repr=False)
    regex: re.Pattern[str] = attrs.field(init=False, eq=False, repr=False)

    @regex.default
    def _compile(self) -> re.Pattern[str]:
        parts = re.split(r"(\{[a-z_]+\})", self.pattern)
        regex = "".join(
            f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts
        )
        return re.compile(f"^{regex}$")


class Router:
    """Dispatches :class:`Request` values to handlers; never raises.

    A :class:`~taskcore.errors.TaskcoreError` from a handler becomes the API's error
    response through ``render_error``; an unmatched path is 404, a wrong method 405.
    Immutable after construction; safe to share between threads.

    Args:
        routes: the API's routes.
        render_error: turns an error into the API's error response.
    """

    def __init__(
        self, routes: list[Route], render_error: Callable[[TaskcoreError], Response]
    ) -> None:
        self.routes = tuple(routes)
        self.render_error = render_error

    def handle(self, request: Request) -> Response:
        """Answer ``request``."""
        path = request.path
        allowed: list[str] = []
        for route in self.routes:
            match = route.regex.match(path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                return route.handler(request, params)
            except TaskcoreError as error:
                return self.render_error(error)
        if allowed:
            methods = ", ".join(sorted(set(allowed)))
            response = self.render_error(MethodNotAllowed(request.method, path, methods))
            return attrs.evolve(response, headers={**response.headers, "allow": methods})
        return self.render_error(RouteNotFound(request.method, path))
