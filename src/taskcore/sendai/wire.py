"""Send AI wire format: the task object, the ``{"payload": ...}`` envelopes, and strict
parsing of the two request bodies (``complete`` and ``report``).

The Send AI Task Management API shows no JSON; taskcore's shapes (docs/sendai.md,
"Wire format"):

- the task: ``id``, ``name``, ``created_at``, ``meta`` (a list of ``{"name", "value"}``),
  ``status``, ``step_type``, ``upload_id``, ``project_id``, ``approved``, ``exported_at``,
  ``export_failed_at``, ``last_opened_at`` (ISO 8601 UTC ``...Z`` or null), ``pages``
  (``[{"page_number": 1}, ...]``);
- GET, unlock, discard: ``{"payload": task}``; complete: ``{"payload": task, "message":
  "Task processing started"}``; report: ``{"payload": task}``, plus ``failed_issues``
  when the external tracker refused some (207);
- errors: ``{"code", "message"}``.

Parsing refuses wrong JSON types, unknown fields and values over the documented bounds
with :class:`~taskcore.errors.ValidationError` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from taskcore.clock import format_wire_instant
from taskcore.errors import TaskcoreError, ValidationError
from taskcore.sendai.task import Issue, MetaField, SendAITask

__all__ = [
    "COMPLETE_FIELDS",
    "MAX_ISSUES",
    "MAX_META_FIELDS",
    "MAX_TEXT_LENGTH",
    "PROCESSING_STARTED",
    "REPORT_FIELDS",
    "REPORT_REQUIRED",
    "ReportBody",
    "complete_response",
    "error_body",
    "parse_complete",
    "parse_report",
    "report_response",
    "task_envelope",
    "task_to_wire",
]

PROCESSING_STARTED: Final = "Task processing started"
"""The ``message`` of a ``complete`` response."""
MAX_META_FIELDS: Final = 200
"""The most ``meta`` entries a ``complete`` body may carry."""
MAX_ISSUES: Final = 100
"""The most issues one report may carry."""
MAX_TEXT_LENGTH: Final = 10_000
"""The longest name, value, label or message, in characters."""


def _pairs_schema(key: str, limit: int) -> dict[str, Any]:
    """At most ``limit`` objects ``{key: non-blank text, "value": text}``."""
    named = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH, "pattern": r"\S"}
    text = {"type": "string", "maxLength": MAX_TEXT_LENGTH}
    item = {
        "type": "object",
        "properties": {key: named, "value": text},
        "required": [key, "value"],
        "additionalProperties": False,
    }
    return {"type": "array", "maxItems": limit, "items": item}


# The request bodies' fields as data, each a JSON Schema: the parsers below take the
# field names and bounds from here, and taskcore.openapi writes these very schemas.
COMPLETE_FIELDS: Final[dict[str, dict[str, Any]]] = {"meta": _pairs_schema("name", MAX_META_FIELDS)}
"""The fields of ``complete``'s optional body (all optional)."""
REPORT_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "issues": {**_pairs_schema("label", MAX_ISSUES), "minItems": 1},
    "message": {"type": ["string", "null"], "maxLength": MAX_TEXT_LENGTH},
}
"""The fields of ``report``'s body."""
REPORT_REQUIRED: Final = ("issues",)
"""The fields a report body must have."""


def task_to_wire(task: SendAITask) -> dict[str, Any]:
    """The task object, key for key (docs/sendai.md, "Wire format")."""

    def instant(value: Any) -> str | None:
        return None if value is None else format_wire_instant(value)

    return {
        "id": task.id,
        "name": task.name,
        "created_at": format_wire_instant(task.created_at),
        "meta": [field.to_doc() for field in task.meta],
        "status": task.status.value,
        "step_type": task.step_type.value,
        "upload_id": task.upload_id,
        "project_id": task.project_id,
        "approved": task.approved,
        "exported_at": instant(task.exported_at),
        "export_failed_at": instant(task.export_failed_at),
        "last_opened_at": instant(task.last_opened_at),
        "pages": [{"page_number": n} for n in range(1, task.pages + 1)],
    }


def task_envelope(task: SendAITask) -> dict[str, Any]:
    """``{"payload": task}`` (GET, unlock, discard)."""
    return {"payload": task_to_wire(task)}


def complete_response(task: SendAITask) -> dict[str, Any]:
    """``{"payload": task, "message": "Task processing started"}``."""
    return {"payload": task_to_wire(task), "message": PROCESSING_STARTED}


def report_response(task: SendAITask, failed: Sequence[Issue]) -> dict[str, Any]:
    """``{"payload": task}``, with ``failed_issues`` when the tracker refused some."""
    body = task_envelope(task)
    if failed:
        body["failed_issues"] = [issue.to_doc() for issue in failed]
    return body


def error_body(error: TaskcoreError) -> dict[str, str]:
    """``{"code", "message"}``; a validation error's message ends by naming its field
    (``... (field: meta.z)``), since the body has no field of its own."""
    field = getattr(error, "field", None)
    if isinstance(error, ValidationError) and field:
        return {"code": error.code, "message": f"{error.message} (field: {field})"}
    return {"code": error.code, "message": error.message}


def _object(value: Any, field: str | None, keys: set[str]) -> dict[str, Any]:
    where = "Request body" if field is None else f"{field!r}"
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be a JSON object", field=field)
    unknown = sorted(set(value) - keys)
    if unknown:
        name = unknown[0] if field is None else f"{field}.{unknown[0]}"
        raise ValidationError(f"Unknown field {unknown[0]!r}", field=name)
    return value


def _text(value: Any, field: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field!r} must be a string", field=field)
    if not empty and not value.strip():
        raise ValidationError(f"{field!r} must not be empty", field=field)
    if len(value) > MAX_TEXT_LENGTH:
        raise ValidationError(f"{field!r} is longer than {MAX_TEXT_LENGTH} characters", field=field)
    return value


def _list(value: Any, field: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(f"{field!r} must be a JSON array", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field!r} holds more than {limit} entries", field=field)
    return value


def parse_complete(body: Any) -> tuple[MetaField, ...] | None:
    """Parse ``complete``'s optional body ``{"meta": [{"name", "value"}]}``.

    Args:
        body: the parsed JSON, or ``None`` when the request had no body.

    Returns:
        The meta changes, or ``None`` when there are none to apply.

    Raises:
        ValidationError: not an object, an unknown field, ``meta`` not a list of
            ``{"name": non-empty string, "value": string}`` objects, or over the bounds.
    """
    if body is None:
        return None
    doc = _object(body, None, set(COMPLETE_FIELDS))
    if "meta" not in doc:
        return None
    pairs = _pairs(doc["meta"], "meta", "name", COMPLETE_FIELDS["meta"]["maxItems"])
    return tuple(MetaField(name, value) for name, value in pairs)


def _pairs(value: Any, field: str, key: str, limit: int) -> list[tuple[str, str]]:
    """A list of at most ``limit`` objects ``{key: non-empty string, "value": string}``.

    Raises:
        ValidationError: anything else, naming ``field`` (or ``field.key``/``.value``).
    """
    pairs = []
    for entry in _list(value, field, limit):
        item = _object(entry, field, {key, "value"})
        if key not in item or "value" not in item:
            raise ValidationError(f"Each {field} entry needs {key!r} and 'value'", field=field)
        text = _text(item[key], f"{field}.{key}", empty=False)
        pairs.append((text, _text(item["value"], f"{field}.value")))
    return pairs


ReportBody = tuple[tuple[Issue, ...], str | None]
"""A parsed report: its issues and its optional message."""


def parse_report(body: Any) -> ReportBody:
    """Parse ``report``'s body ``{"issues": [{"label", "value"}], "message"?}``.

    Raises:
        ValidationError: not an object, an unknown field, ``issues`` missing, empty, not
            a list of ``{"label": non-empty string, "value": string}`` objects, a
            ``message`` that is not a string or null, or over the bounds.
    """
    doc = _object(body, None, set(REPORT_FIELDS))
    for name in REPORT_REQUIRED:
        if name not in doc:
            raise ValidationError(f"{name!r} is required", field=name)
    limit = REPORT_FIELDS["issues"]["maxItems"]
    issues = tuple(Issue(label, value) for label, value in
                   _pairs(doc["issues"], "issues", "label", limit))  # fmt: skip
    if not issues:
        raise ValidationError("'issues' must not be empty", field="issues")
    message = doc.get("message")
    if message is not None:
        message = _text(message, "message")
    return issues, message
