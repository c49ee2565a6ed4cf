"""Sans-IO HTTP: ``Request`` and ``Response`` values and a small router.

No sockets here: a server adapter turns bytes into a :class:`Request`, calls
:meth:`Router.handle`, and writes the :class:`Response` back.  Every API's router is
built from this one core; what differs per API is its routes and how it renders an error
(Claro ``{error, code, details}``, Visual Layer ``{"detail"}``, Chunkr plain text), which
the router takes as a function.  The core owns what every API shares (docs/claro.md,
"HTTP details"):

- Routes are patterns such as ``/api/v2/datasets/{dataset_id}/tasks/{task_id}`` matched
  against the *whole* raw path; a placeholder matches one non-empty segment, decoded by
  :func:`decode_segment`.  No match is 404; a match with another method is 405 with
  ``Allow``.
- :meth:`Router.handle` never raises: a bug in a handler is a logged 500.
- Error responses carry ``Retry-After`` and, on 401, ``WWW-Authenticate``.
- :func:`parse_json` parses request bodies strictly; :func:`json_response` writes UTF-8
  that always encodes.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_to_bytes

import attrs

from taskcore.errors import (
    InternalError,
    MethodNotAllowed,
    RouteNotFound,
    TaskcoreError,
    Unauthorized,
    ValidationError,
)
from taskcore.idempotency import MAX_KEY_LENGTH, check_key
from taskcore.text import LONE_SURROGATE, UNFIT, has_lone_surrogate

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_LENGTH",
    "Handler",
    "Request",
    "Response",
    "Route",
    "Router",
    "bearer_token",
    "decode_segment",
    "idempotency_key",
    "json_response",
    "parse_json",
]

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects a request body may have (``[[1]]`` is 2)."""
MAX_IDEMPOTENCY_KEY_LENGTH = MAX_KEY_LENGTH
"""The longest ``Idempotency-Key`` header value accepted, in characters."""
MAX_NUMBER_LENGTH = 100
"""The most characters a JSON number in a request body may have."""

# A JSON string, possibly unterminated (then it runs to the end): one linear pass.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}
# Only a \uD800-\uDFFF escape can put a surrogate into text decoded as strict UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Control characters (C0, DEL, C1) and lone surrogates: never part of a segment or key.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _printable(text: str) -> str:
    """``text`` with lone surrogates shown as ``\\udXXX`` escapes (safe to echo)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_unicode(text: str) -> bool:
    return not has_lone_surrogate(text)


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (C-level passes only)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object, refusing a key given twice (JSON leaves duplicates undefined)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch - a duplicate exists
            if key in seen:
                shown = _printable(key)
                raise ValidationError(f"Duplicate key {shown!r} in JSON object", field=shown)
            seen.add(key)
    return obj


def _number(text: str) -> None:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValidationError(f"JSON number longer than {MAX_NUMBER_LENGTH} characters")


def _int(text: str) -> int:
    _number(text)
    return int(text)


def _float(text: str) -> float:
    _number(text)
    value = float(text)
    if not math.isfinite(value):
        raise ValidationError(f"JSON number {text} is out of range")
    return value


def _constant(text: str) -> Any:
    raise ValidationError(f"{text} is not a JSON number")


def _invalid_text_field(value: Any) -> tuple[bool, str | None]:
    """Whether ``value`` holds a string (or key) that is not valid Unicode, and the
    top-level field it lies under (``None`` when ``value`` is not an object)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_unicode(key) or _invalid_text_field(item)[0]:
                return True, _printable(key)
        return False, None
    if isinstance(value, list):
        return any(_invalid_text_field(item)[0] for item in value), None
    return isinstance(value, str) and not _is_unicode(value), None


def parse_json(data: bytes) -> Any:
    """Parse a request body as strict JSON (RFC 8259, I-JSON rules).

    Stricter than :func:`json.loads`: nesting deeper than :data:`MAX_JSON_DEPTH`, a key
    given twice in one object, ``NaN``/``Infinity``, a number longer than
    :data:`MAX_NUMBER_LENGTH` characters or beyond the float range, and a string (or key)
    holding a lone surrogate (``"\\ud800"``: not valid Unicode) are all refused.  Numbers
    written with a fraction or exponent become :class:`float`, never :class:`int`.

    Args:
        data: the raw body.

    Returns:
        The parsed value (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``,
        ``None``).

    Raises:
        ValidationError: the body is empty, not UTF-8, not JSON, or breaks one of the
            rules above; ``field`` names the duplicate key, or the top-level field that
            holds invalid text.  Nothing is parsed any deeper than the limit allows.
    """
    if not data.strip():
        raise ValidationError("Request body must be a JSON object")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("Request body is not valid JSON") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise ValidationError(f"Request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_pairs,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except ValidationError:
        raise
    except (ValueError, RecursionError):  # RecursionError: belt and braces, see _depth
        raise ValidationError("Request body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text):
        invalid, field = _invalid_text_field(value)
        if invalid:
            raise ValidationError(
                "Request body holds a string that is not valid Unicode (a lone surrogate)",
                field=field,
            )
    return value


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@attrs.frozen
class Request:
    """An HTTP request, as a value.

    The path contract: ``path`` is the raw request-target path, still percent-encoded,
    exactly as it arrived (an adapter must not decode it: ``%2F`` and ``/`` differ).  The
    router matches the whole of it (a trailing ``\\n`` is part of the path, so matches
    nothing) and percent-decodes each placeholder exactly once, strictly, with
    :func:`decode_segment`: invalid UTF-8, a decoded ``/`` or control character, a lone
    surrogate, or a ``.``/``..`` segment is 404 ``NOT_FOUND``.  Handlers see decoded
    values only and never decode again.

    Attributes:
        method: upper-case (``"GET"``).
        path: the raw path without query string (``"/api/v2/datasets/ds/tasks/new-rows"``).
        headers: header names lower-cased; values as received (any text).
        body: the raw body.
        query: query parameters (first value of each).
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""
    query: Mapping[str, str] = attrs.field(factory=dict)

    def json(self) -> Any:
        """The body parsed as strict JSON (:func:`parse_json`).

        Raises:
            ValidationError: the body is empty, not UTF-8, not JSON, or breaks a rule
                of :func:`parse_json` (depth, duplicate key, number, invalid text).
        """
        return parse_json(self.body)


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
    """A JSON response with ``Content-Type: application/json``, UTF-8.

    Text that is not valid Unicode (a lone surrogate, say in an id echoed back from a
    path) is written as U+FFFD instead of failing to encode.

    Raises:
        ValueError: ``payload`` holds ``NaN`` or an infinity (not JSON: a programming
            error, never written as invalid JSON).
        TypeError: ``payload`` holds a value JSON has no form for.
    """
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        body = LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
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


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header's value, or ``None`` when there is none.

    Taken as it is (no trimming): 1 to :data:`MAX_IDEMPOTENCY_KEY_LENGTH` characters, not
    blank, without control characters or lone surrogates; any other printable text,
    non-ASCII included, is a key.

    Raises:
        ValidationError: the header is blank, too long, or holds a control character or
            a lone surrogate (``field`` is ``"Idempotency-Key"``).
    """
    value = request.headers.get("idempotency-key")
    return None if value is None else check_key(value)


def decode_segment(raw: str) -> str | None:
    """Percent-decode one raw path segment, once, strictly; ``None`` when it names nothing.

    ``None`` when ``raw`` holds a control character or a lone surrogate, a ``%`` not
    followed by two hex digits, escapes that are not UTF-8, or when the decoded text
    holds ``/`` or a control character, or is ``.`` or ``..``.  Any other character
    stands for itself (``+`` is a plus, not a space).
    """
    if UNFIT.search(raw) or _BAD_ESCAPE.search(raw):
        return None
    text = raw
    if "%" in raw:
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if "/" in text or UNFIT.search(text):
            return None
    if text in (".", ".."):
        return None
    return text


Handler = Callable[[Request, Mapping[str, str]], Response]
"""A route's handler: the request and the path's placeholders, by name."""


@attrs.frozen
class Route:
    """One ``method pattern -> handler`` entry.

    ``regex`` matches a whole raw path (anchored at both ends with ``\\A``/``\\Z``: a
    trailing newline is not ignored); each placeholder matches one non-empty raw segment.
    """

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
        return re.compile(f"\\A{regex}\\Z")

    def params(self, path: str) -> dict[str, str] | None:
        """The placeholders of ``path``, each decoded by :func:`decode_segment`, or
        ``None`` when ``path`` does not match or a placeholder names nothing."""
        match = self.regex.fullmatch(path)
        if match is None:
            return None
        params: dict[str, str] = {}
        for name, raw in match.groupdict().items():
            value = decode_segment(raw)
            if value is None:
                return None
            params[name] = value
        return params


_LOG = logging.getLogger("taskcore.http")
_LAST_RESORT = Response(
    500, {"content-type": "text/plain; charset=utf-8"}, b"Internal Server Error"
)


class Router:
    """Dispatches :class:`Request` values to handlers; never raises.

    A :class:`~taskcore.errors.TaskcoreError` from a handler becomes the API's error
    response through ``render_error``; an unmatched path is 404 ``NOT_FOUND``, a wrong
    method 405 with ``Allow``.  Any other exception (a bug) is logged with its traceback
    on the ``taskcore.http`` logger and answered as
    :class:`~taskcore.errors.InternalError` (500, a generic message: nothing of the
    exception reaches the caller); if ``render_error`` itself fails, the answer is a
    plain-text 500.  Every error response carries ``Retry-After`` when the error has a
    :attr:`~taskcore.errors.TaskcoreError.retry_after`, and a 401 carries
    ``WWW-Authenticate: <auth_scheme>`` when the router has one.
    Immutable after construction; safe to share between threads.

    Args:
        routes: the API's routes.
        render_error: turns an error into the API's error response.
        auth_scheme: the scheme a 401 challenges with (``"Bearer"``), or ``None``.
    """

    def __init__(
        self,
        routes: list[Route],
        render_error: Callable[[TaskcoreError], Response],
        *,
        auth_scheme: str | None = None,
    ) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self.render_error = render_error
        self.auth_scheme = auth_scheme

    def handle(self, request: Request) -> Response:
        """Answer ``request``; never raises (see the class docstring)."""
        try:
            return self._dispatch(request)
        except Exception:
            _LOG.exception("Unexpected error answering %r %r", request.method, request.path)
            return self.render(InternalError())

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        allowed: list[str] = []
        for route in self.routes:
            params = route.params(path)
            if params is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            try:
                response: object = route.handler(request, params)
            except TaskcoreError as error:
                return self.render(error)
            if not isinstance(response, Response):
                raise TypeError(f"handler of {route.pattern} returned {type(response)}")
            return response
        if allowed:
            methods = ", ".join(sorted(set(allowed)))
            return self.render(MethodNotAllowed(request.method, path, methods), allow=methods)
        return self.render(RouteNotFound(request.method, path))

    def render(self, error: TaskcoreError, **headers: str) -> Response:
        """``error`` as the API's error response, with its standard HTTP headers.

        Adds ``Retry-After`` (whole seconds) when ``error.retry_after`` is set, and
        ``WWW-Authenticate`` on a 401 when the router has an ``auth_scheme``; ``headers``
        (lower-case names, ``_`` for ``-``) are added too.  Never raises: when rendering
        fails, the failure is logged and the answer is a plain-text 500.
        """
        try:
            response = self.render_error(error)
            extra = {name.replace("_", "-"): value for name, value in headers.items()}
            if error.retry_after is not None:
                extra["retry-after"] = str(error.retry_after)
            if error.status == 401 and self.auth_scheme:
                extra["www-authenticate"] = self.auth_scheme
            if extra:
                response = attrs.evolve(response, headers={**response.headers, **extra})
        except Exception:
            _LOG.exception("Rendering %s failed", type(error).__name__)
            return _LAST_RESORT
        return response
