"""Requests as templates, exchanges as values, and a small HTTP client (docs/verify.md).

- :class:`Step` is one request to make, written as a *template*: ``${name}`` in its
  path or body stands for a value an earlier response gave (a server-made task id), and
  :attr:`Step.capture` says which response fields to keep under which names.  Random
  sequences, named scenarios, saved counterexamples, ``repro.sh`` and ``test_repro.py``
  are all lists of steps, so a sequence replays against a server that makes other ids.
- :class:`Exchange` is one request made and its answer, as bytes: what a checking model
  judges (:meth:`taskcore.verify.model.ApiModel.step`), whether it was just made or read
  from a recorded trace.
- :class:`HttpClient` sends a request on a fresh ``http.client`` connection with a
  timeout and reads at most :data:`MAX_RESPONSE_BYTES` of the answer.

Who the caller is travels in :attr:`Step.tenant`: ``"main"`` (the ``--key``),
``"other"`` (another tenant's key, from the fixtures), ``"none"`` (no key),
``"bad"`` (a key nobody has) or ``"control"`` (a call to the control interface, no API
key).  The model of the API turns it into headers (:meth:`ApiModel.auth_headers`).
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import time
from collections.abc import Mapping
from functools import partial
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

import attrs

from taskcore.errors import TaskcoreError, ValidationError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "TENANTS",
    "Bindings",
    "Exchange",
    "HttpClient",
    "Step",
    "UnboundVariable",
    "Unreachable",
    "capture_value",
    "field_at",
    "fill",
    "match_route",
    "segment",
]

MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
"""The most bytes of a response body the client reads; more is :class:`Unreachable`."""
TENANTS: Final = ("main", "other", "none", "bad", "control")
"""Who a step is made as (see the module docstring)."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Bindings = dict[str, str]
"""Variable name -> the value captured from a response."""


class Unreachable(TaskcoreError):
    """The system under test could not be reached, or its answer was not HTTP (or too
    big).  Nothing is judged; ``taskcore verify`` exits 2."""

    status = 502
    title = "System under test unreachable"


class UnboundVariable(ValidationError):
    """A step names ``${name}`` that no earlier response captured."""

    def __init__(self, name: str) -> None:
        super().__init__(f"${{{name}}} was not captured by an earlier step", field=name)
        self.name = name


def fill(template: str, bindings: Mapping[str, str], *, in_path: bool) -> str:
    """``template`` with each ``${name}`` replaced by its bound value.

    In a path the value is percent-encoded as one segment; in a JSON body it is escaped
    as the inside of a JSON string.

    Raises:
        UnboundVariable: a name has no value.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in bindings:
            raise UnboundVariable(name)
        bound = bindings[name]
        return quote(bound, safe="") if in_path else json.dumps(bound)[1:-1]

    return _VARIABLE.sub(value, template)


def segment(value: str) -> str:
    """``value`` percent-encoded as one path segment (``/``, ``%``, ``?``, space, ...
    encoded), as :func:`fill` puts a captured value in a path."""
    return quote(value, safe="")


def match_route(pattern: re.Pattern[str], route: str) -> tuple[str, ...] | None:
    """The groups of ``pattern`` matched against the raw (still percent-encoded)
    ``route``, each percent-decoded; ``None`` when it does not match.

    Groups must match whole segments (``[^/]+``), so an id with an encoded ``/`` stays
    one segment and is compared with the id as the server made it.
    """
    match = pattern.match(route)
    if match is None:
        return None
    return tuple(unquote(group) if group is not None else "" for group in match.groups())


def field_at(document: Any, path: str) -> Any:
    """The value at the dotted ``path`` (``"payload.id"``, ``"items.0.id"``) of a JSON
    document, or ``None`` when it is not there."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def capture_value(document: Any, path: str) -> str | None:
    """The value at the dotted ``path`` of a JSON document (:func:`field_at`), as text;
    ``None`` when it is not there or not a string or number."""
    node = field_at(document, path)
    if isinstance(node, bool) or not isinstance(node, str | int):
        return None
    return str(node)


@attrs.frozen
class Step:
    """One request to make, as a template (see the module docstring).

    Attributes:
        method: ``GET``, ``POST``, ...
        path: the raw path and query (``/api/v1/task/${task_1}?include_chunks=false``),
            percent-encoded, with ``${name}`` placeholders.
        body: the JSON body as text (may hold ``${name}``), or ``None`` for none.
        tenant: who makes it (:data:`TENANTS`).
        headers: extra request headers (``Content-Type`` is added for a body).
        capture: variable name -> dotted path in the JSON answer to keep.
        label: a short description for reports (``"cancel task_1"``).
    """

    method: str
    path: str
    body: str | None = None
    tenant: str = "main"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    capture: Mapping[str, str] = attrs.field(factory=dict)
    label: str = ""

    @property
    def control(self) -> bool:
        """Whether the step calls the control interface (the worker side)."""
        return self.tenant == "control"

    def to_json(self) -> dict[str, Any]:
        """The step as JSON (the saved-sequence and scenario ``request`` format)."""
        out: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.body is not None:
            out["body"] = json.loads(self.body) if _is_json(self.body) else self.body
        if self.tenant != "main":
            out["as"] = self.tenant
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.capture:
            out["capture"] = dict(self.capture)
        if self.label:
            out["label"] = self.label
        return out

    @classmethod
    def from_json(cls, value: Any, where: str = "$") -> Step:
        """A step from :meth:`to_json`'s format.

        Raises:
            ValidationError: not that format; ``field`` is where (``$.steps[2].path``).
        """
        if not isinstance(value, dict):
            raise ValidationError(f"{where} must be an object", field=where)
        known = {"method", "path", "body", "as", "headers", "capture", "label"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValidationError(f"{where}: unknown key {unknown[0]!r}", field=where)
        method, path = value.get("method"), value.get("path")
        if not isinstance(method, str) or not method.isalpha():
            raise ValidationError(f"{where}.method must be an HTTP method", field=f"{where}.method")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError(f"{where}.path must start with /", field=f"{where}.path")
        tenant = value.get("as", "main")
        if tenant not in TENANTS:
            raise ValidationError(
                f"{where}.as must be one of {', '.join(TENANTS)}", field=f"{where}.as"
            )
        body = value.get("body")
        text = None if "body" not in value else body if isinstance(body, str) else json.dumps(body)
        headers = _string_map(value.get("headers", {}), f"{where}.headers")
        capture = _string_map(value.get("capture", {}), f"{where}.capture")
        for name in capture:
            if not _VARIABLE.fullmatch("${" + name + "}"):
                raise ValidationError(
                    f"{where}.capture: {name!r} is not a variable name", field=f"{where}.capture"
                )
        label = value.get("label", "")
        if not isinstance(label, str):
            raise ValidationError(f"{where}.label must be a string", field=f"{where}.label")
        return cls(method.upper(), path, text, tenant, headers, capture, label)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError(f"{where} must be an object of strings", field=where)
    return dict(value)


@attrs.frozen
class Exchange:
    """One request and its answer, as observed (header names lower-cased).

    Attributes:
        method, path, headers, body: the request (``path`` raw, query included).
        status, response_headers, response_body: the answer.
        tenant: who made it (:data:`TENANTS`), when known (``"main"`` for a trace
            whose key is the ``--key``).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes
    tenant: str = "main"

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.partition("?")[0]

    def request_json(self) -> Any:
        """The request body as JSON, or ``None`` when it is empty or not JSON."""
        return _loads(self.body)

    def json(self) -> Any:
        """The response body as JSON, or ``None`` when it is not JSON (or nested too
        deep to parse)."""
        return _loads(self.response_body)

    @property
    def text(self) -> str:
        """The response body as text (invalid UTF-8 replaced)."""
        return self.response_body.decode("utf-8", "replace")

    def to_json(self) -> dict[str, Any]:
        """For reports: the request and the answer, bodies as text."""
        return {
            "method": self.method,
            "path": self.path,
            "as": self.tenant,
            "request_body": self.body.decode("utf-8", "replace") or None,
            "status": self.status,
            "response_body": self.text[:4000],
        }


def _loads(data: bytes) -> Any:
    """``data`` as JSON; ``None`` when empty, not JSON, or nested too deep for the
    parser (a ``RecursionError``): such an answer is judged as one that is not JSON."""
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


class HttpClient:
    """Sends requests to a base URL, one ``http.client`` connection a request.

    Args:
        base_url: ``http://host:port`` (a path prefix is allowed: ``http://h/p``).
        timeout: seconds for the whole exchange (connecting, sending, and reading the
            status line, headers and body): a total deadline, so a server that trickles
            its answer a byte at a time is cut off too.
        max_body: the most response bytes read.

    Raises:
        ValidationError: ``base_url`` is not an ``http://`` URL with a host.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, max_body: int = MAX_RESPONSE_BYTES
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValidationError(
                f"--base-url must be http://host:port, not {base_url!r}", field="--base-url"
            )
        try:
            self.port = parts.port or 80
        except ValueError:
            raise ValidationError(f"--base-url has a bad port: {base_url!r}") from None
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_body = max_body

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Make one request; the status, headers (lower-cased names) and body.

        Raises:
            Unreachable: no connection, a timeout, an answer that is not HTTP, or a
                body longer than ``max_body``.
        """
        deadline = time.monotonic() + self.timeout
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        connection.response_class = partial(_DeadlineResponse, deadline=deadline)  # type: ignore[assignment]
        try:
            connection.request(method, self.prefix + path, body=body or None, headers=dict(headers))
            answer = connection.getresponse()
            data = answer.read(self.max_body + 1)
            if len(data) > self.max_body:
                raise Unreachable(f"{method} {path}: answer longer than {self.max_body} bytes")
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
        except (OSError, http.client.HTTPException, TimeoutError) as error:
            if time.monotonic() >= deadline:
                raise Unreachable(
                    f"{method} {self.base_url}{path}: no whole answer within {self.timeout} s"
                ) from None
            raise Unreachable(f"{method} {self.base_url}{path}: {error!r}") from None
        finally:
            connection.close()


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side that gives up at a monotonic ``deadline``: each read
    waits at most the time left, so the answer as a whole is bounded."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        # Read through the socket's own file object: it holds a reference that keeps
        # the descriptor open when http.client closes the connection of a
        # ``Connection: close`` answer before its body is read.
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the exchange's deadline passed")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer) or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An ``http.client`` response read through :class:`_DeadlineReader`."""

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
        *,
        deadline: float,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))
