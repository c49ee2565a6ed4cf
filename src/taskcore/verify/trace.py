"""Checking a recorded trace: ``taskcore verify <api> --trace FILE`` (docs/verify.md,
"Checking a recorded trace").

A trace is a log of requests and their answers, in the order they happened, captured
from traffic to the system under test (a proxy, a test suite's client, a browser).  It
is judged step by step by the API's checking model, exactly as a random sequence is: the
first divergence is reported with its line number (a HAR file: its entry number).  The
whole trace must be consumed: a truncated or unterminated last line, a request with no
response, or a line that is not an exchange of the API (another path, not an object)
ends the check with exit status 1, naming the line.

Two formats, told apart by content:

- **JSON lines** (UTF-8, one exchange per line, every line ending in a newline)::

    {"method": "POST", "path": "/v2/t/project/p/task/x/unlock",
     "headers": {"authorization": "Bearer KEY"}, "body": null,
     "status": 200, "response_headers": {"content-type": "application/json"},
     "response_body": {"payload": {...}}}

  ``method``, ``path`` (raw, percent-encoded, query included; an absolute URL is taken
  for its path and query) and ``status`` (100..599) are required; ``headers`` and
  ``response_headers`` are objects of strings; ``body`` and ``response_body`` are the
  body as text, or any other JSON value (written out as JSON), or null/absent for none;
  ``as`` (``main``, ``other``, ``none``, ``bad``, ``control``) says who made the call,
  else it is told from the ``Authorization`` header (the ``--key`` is ``main``, another
  tenant's key of the fixtures ``other``, another key ``bad``, none ``none``; the control
  interface's paths are ``control``).  Blank lines are skipped.
- **HAR 1.2** (a JSON document with ``log.entries``): each entry's ``request``
  (``method``, ``url``, ``headers``, ``postData.text``) and ``response`` (``status``,
  ``headers``, ``content.text``, base64 when ``content.encoding`` is ``base64``).  An
  entry whose ``response.status`` is 0 or absent is a request with no response.

**Ids the model has not seen** (the trace starts on a server holding other data): each
checker's policy applies.  Send AI: a task is learned from the first answer that shows
it (its status, step and meta are then predicted); Visual Layer: a task is learned from
the first list answer that shows it, and pages are predicted exactly only once an
unfiltered list's ``total`` equals the tasks learned; Claro and Chunkr: a task is known
from the answer that created it in the trace, so their traces start on the fixtures'
state (a task the trace did not create is expected to be 404).

Bounds: a trace of at most :data:`MAX_TRACE_BYTES` bytes, nesting at most
:data:`MAX_DEPTH` deep; nothing is kept per line but the model's state.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from taskcore.errors import ValidationError
from taskcore.verify.exchange import TENANTS, Exchange
from taskcore.verify.model import ApiModel, Divergence, judge
from taskcore.verify.sut import CONTROL_PREFIX

__all__ = [
    "API_ROUTES",
    "MAX_DEPTH",
    "MAX_TRACE_BYTES",
    "TraceResult",
    "check_trace",
    "exchange_line",
]

MAX_TRACE_BYTES: Final = 256 * 1024 * 1024
"""The largest trace read, in bytes."""
MAX_DEPTH: Final = 64
"""The deepest JSON nesting of a trace line (or HAR document) read."""
API_ROUTES: Final[Mapping[str, re.Pattern[str]]] = {
    "claro": re.compile(r"\A/api/v2/datasets(?:/|\Z)"),
    "sendai": re.compile(r"\A/v2/"),
    "chunkr": re.compile(r"\A/api/v1/task(?:/|\Z)"),
    "visual-layer": re.compile(r"\A/api/v1/tasks(?:/|\Z)"),
}
"""The paths (query left out) of each API's calls; the control interface's are
``/_taskcore/worker/...``.  A trace line on another path cannot be judged."""


class TraceProblem(ValidationError):
    """A trace line is not an exchange the model can judge (see the module docstring)."""


@attrs.define
class TraceResult:
    """What checking a trace found.

    Attributes:
        api: the API checked.
        exchanges: the exchanges judged.
        divergence: the first divergence, or ``None``.
        where: ``"line N"`` (``"entry N"`` in a HAR file) of the divergence or problem.
        problem: why the trace could not be consumed whole, or ``None``.
        model: the model as the trace left it.
    """

    api: str
    exchanges: int
    divergence: Divergence | None
    where: str | None
    problem: str | None
    model: ApiModel

    @property
    def exit_status(self) -> int:
        """0 when every exchange was judged and none diverged, else 1."""
        return 1 if self.divergence is not None or self.problem is not None else 0

    def summary(self) -> list[str]:
        """The lines printed at the end of a check."""
        lines = [f"{self.exchanges} exchange(s) judged"]
        if self.divergence is not None:
            lines.append(
                f"{self.where}: DIVERGED ({self.divergence.property}): {self.divergence.message}"
            )
        if self.problem is not None:
            lines.append(f"{self.where}: {self.problem}")
        checks = ", ".join(f"{name} {count}" for name, count in sorted(self.model.tally.items()))
        lines.append(f"checks: {checks or 'none'}")
        lines.append(
            "result: "
            + (
                "DIVERGED"
                if self.divergence is not None
                else "NOT CONSUMED"
                if self.problem is not None
                else "every exchange held"
            )
        )
        return lines

    def to_json(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "api": self.api,
            "result": "diverged"
            if self.divergence is not None
            else "not consumed"
            if self.problem is not None
            else "held",
            "exchanges": self.exchanges,
            "where": self.where,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
            "problem": self.problem,
            "checks": dict(sorted(self.model.tally.items())),
            "coverage": dict(sorted(self.model.coverage.items())),
            "model_state": self.model.state(),
        }


def exchange_line(exchange: Exchange) -> str:
    """One exchange in the JSON lines format, newline included (what a recorder
    writes); bodies that are JSON are written as JSON, others as text."""

    def body(data: bytes) -> Any:
        if not data:
            return None
        text = data.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    record = {
        "method": exchange.method,
        "path": exchange.path,
        "as": exchange.tenant,
        "headers": dict(exchange.headers),
        "body": body(exchange.body),
        "status": exchange.status,
        "response_headers": dict(exchange.response_headers),
        "response_body": body(exchange.response_body),
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def _depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests at most ``limit`` deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return True


def _loads(text: str | bytes) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise TraceProblem(f"nested deeper than {MAX_DEPTH}") from None
    if not _depth(value):
        raise TraceProblem(f"nested deeper than {MAX_DEPTH}")
    return value


def _body(value: Any, where: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def _headers(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):  # HAR: [{"name", "value"}]
        pairs = [(h.get("name"), h.get("value")) for h in value if isinstance(h, dict)]
        if len(pairs) == len(value) and all(isinstance(p, str) for pair in pairs for p in pair):
            return {str(n).lower(): str(v) for n, v in pairs}
    elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k).lower(): v for k, v in value.items()}
    raise TraceProblem(f"{where} must be an object of strings")


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TraceProblem("path must be a string")
    if value.startswith("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raise TraceProblem(f"path {value[:200]!r} is neither a path nor an http(s) URL")


def _tenant(model: ApiModel, path: str, headers: Mapping[str, str], given: Any) -> str:
    if given is not None:
        if given not in TENANTS:
            raise TraceProblem(f"as must be one of {', '.join(TENANTS)}")
        return str(given)
    if path.startswith(CONTROL_PREFIX + "/"):
        return "control"
    auth = headers.get("authorization")
    if auth is None:
        return "none"
    for tenant in ("main", "other"):
        if model.auth_headers(tenant).get("authorization") == auth:
            return tenant
    return "bad"


def _exchange(model: ApiModel, api: str, record: Any) -> Exchange:
    """One JSON lines record as an exchange (see the module docstring)."""
    if not isinstance(record, dict):
        raise TraceProblem("not an exchange (a JSON object)")
    method = record.get("method")
    if not isinstance(method, str) or not method.isalpha():
        raise TraceProblem("method must be an HTTP method")
    path = _path(record.get("path"))
    status = record.get("status")
    if status is None:
        raise TraceProblem(f"{method} {path[:200]}: a request with no response")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise TraceProblem("status must be an HTTP status, 100..599")
    route = path.partition("?")[0]
    if not (API_ROUTES[api].match(route) or route.startswith(CONTROL_PREFIX + "/")):
        raise TraceProblem(f"{method} {path[:200]} is not a call of the {api} API")
    headers = _headers(record.get("headers"), "headers")
    return Exchange(
        method.upper(),
        path,
        headers,
        _body(record.get("body"), "body"),
        status,
        _headers(record.get("response_headers"), "response_headers"),
        _body(record.get("response_body"), "response_body"),
        _tenant(model, path, headers, record.get("as")),
    )


def _har_record(entry: Any) -> dict[str, Any]:
    """A HAR entry as a JSON lines record."""
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise TraceProblem("not a HAR entry with a request")
    request = entry["request"]
    response = entry.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    record: dict[str, Any] = {
        "method": request.get("method"),
        "path": request.get("url"),
        "headers": request.get("headers"),
        "status": None if status == 0 else status,
    }
    post = request.get("postData")
    if isinstance(post, dict):
        record["body"] = post.get("text")
    if isinstance(response, dict):
        record["response_headers"] = response.get("headers")
        content = response.get("content")
        if isinstance(content, dict) and isinstance(content.get("text"), str):
            text = content["text"]
            if content.get("encoding") == "base64":
                try:
                    text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
                except ValueError:
                    raise TraceProblem("content.text is not base64") from None
            record["response_body"] = text
    return record


def _records(data: bytes) -> Iterator[tuple[str, Any]]:
    """``(where, record or problem)`` in order; a problem is a :class:`TraceProblem`."""
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            document = _loads(data)
        except (ValueError, TraceProblem):
            document = None
        if isinstance(document, dict) and "log" in document:
            log = document["log"]
            entries = log.get("entries") if isinstance(log, dict) else None
            if not isinstance(entries, list):
                yield "HAR file", TraceProblem("log.entries must be a list")
                return
            for number, entry in enumerate(entries, 1):
                try:
                    yield f"entry {number}", _har_record(entry)
                except TraceProblem as problem:
                    yield f"entry {number}", problem
            return
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        if last and not line.strip():
            return
        where = f"line {number}"
        if not line.strip():
            continue
        try:
            record = _loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, TraceProblem) as error:
            if last:
                yield where, TraceProblem("truncated: the last line is not a whole JSON object")
            else:
                reason = error if isinstance(error, TraceProblem) else "not JSON"
                yield where, TraceProblem(f"cannot be judged: {reason}")
            return
        if last:
            yield where, TraceProblem("unterminated: the last line does not end in a newline")
            return
        yield where, record


def check_trace(path: Path | str, api: str, model: ApiModel) -> TraceResult:
    """Judge the trace at ``path`` with ``model`` (a fresh checking model of ``api``,
    made from the fixtures the traced server started from).

    Returns:
        The result: the first divergence or problem with its line, else every exchange
        held.  Stops at the first divergence or problem.

    Raises:
        ValidationError: ``api`` has no trace routes, or the file is larger than
            :data:`MAX_TRACE_BYTES`.
        OSError: the file cannot be read.
    """
    if api not in API_ROUTES:
        raise ValidationError(f"no checker for {api!r}", field="api")
    with Path(path).open("rb") as file:
        data = file.read(MAX_TRACE_BYTES + 1)
    if len(data) > MAX_TRACE_BYTES:
        raise ValidationError(f"the trace is larger than {MAX_TRACE_BYTES} bytes", field="--trace")
    judged = 0
    for where, record in _records(data):
        try:
            if isinstance(record, TraceProblem):
                raise record
            exchange = _exchange(model, api, record)
        except TraceProblem as problem:
            return TraceResult(api, judged, None, where, str(problem), model)
        found = judge(model, exchange)
        judged += 1
        if found:
            return TraceResult(api, judged, found[0], where, None, model)
    return TraceResult(api, judged, None, None, None, model)
