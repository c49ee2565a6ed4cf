"""Claro's JSON wire format (Claro API reference, Tasks), in and out.

Requests are parsed strictly: unknown fields, wrong JSON types (``rowCount`` ``100.0`` is
a float, not an integer) and out-of-range values are refused with ``VALIDATION_ERROR``
(a selection problem with ``INVALID_SELECTION``), naming the field.  Responses have
exactly the documented field names, order and value types; every instant is whole
seconds, ``YYYY-MM-DDTHH:MM:SSZ`` (:func:`~taskcore.clock.format_wire_instant`: events
truncated, ``estimatedCompletion`` rounded up).  Which optional fields appear is decided
here, once (docs/claro.md, "Wire format"):

- ``webhookId`` appears when the task has one.
- ``rowCount`` on ``new_rows`` tasks; ``targetCells`` and ``processOnlyEmpty`` on bulk.
- ``estimatedDuration`` while ``queued`` (and in the create response);
  ``estimatedCompletion`` while ``processing``.
- ``progress`` on every status read; ``results`` and ``completedAt`` only once
  completed; ``startedAt`` once started; ``cancelledAt`` once cancelled;
  ``failedAt`` and ``failureReason`` once failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.selection import Selection
from taskcore.claro.task import ClaroTask, TaskType
from taskcore.clock import format_wire_instant, whole_second
from taskcore.errors import ValidationError

__all__ = [
    "BULK_FIELDS",
    "MAX_ROW_COUNT",
    "NEW_ROWS_FIELDS",
    "NEW_ROWS_REQUIRED",
    "BulkRequest",
    "NewRowsRequest",
    "cancel_response",
    "created_response",
    "format_duration",
    "parse_bulk",
    "parse_new_rows",
    "status_response",
    "webhook_payload",
]

MAX_ROW_COUNT = 10_000
"""The documented maximum ``rowCount``."""

_WEBHOOK_ID: dict[str, Any] = {"type": "string", "minLength": 1}
_IDS: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "minItems": 1}

# The request bodies' fields as data, each a JSON Schema: the parsers below take the
# field names and bounds from here, and taskcore.openapi writes these very schemas.
NEW_ROWS_FIELDS: dict[str, dict[str, Any]] = {
    "rowCount": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_COUNT},
    "webhookId": _WEBHOOK_ID,
}
"""The fields of a ``POST .../tasks/new-rows`` body and their JSON Schemas."""
NEW_ROWS_REQUIRED = ("rowCount",)
"""The fields a new-rows body must have."""
BULK_FIELDS: dict[str, dict[str, Any]] = {
    "cellIds": _IDS,
    "rowIds": _IDS,
    "columnIds": _IDS,
    "processOnlyEmpty": {"type": "boolean"},
    "webhookId": _WEBHOOK_ID,
}
"""The fields of a ``POST .../tasks/bulk`` body (all optional) and their JSON Schemas."""
_SELECTION_FIELDS = tuple(name for name in BULK_FIELDS if name != "webhookId")


@attrs.frozen
class NewRowsRequest:
    """A parsed ``POST .../tasks/new-rows`` body."""

    row_count: int
    webhook_id: str | None = None


@attrs.frozen
class BulkRequest:
    """A parsed ``POST .../tasks/bulk`` body."""

    selection: Selection
    webhook_id: str | None = None


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object")
    return body


def _refuse_unknown(body: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(k for k in body if k not in known)
    if unknown:
        raise ValidationError(
            f"Unknown field(s): {', '.join(unknown)}; allowed: {', '.join(known)}",
            field=unknown[0],
        )


def _webhook_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("webhookId")
    if value is None and "webhookId" not in body:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError("webhookId must be a non-empty string", field="webhookId")
    return value


def parse_new_rows(body: Any) -> NewRowsRequest:
    """Parse a new-rows request body.

    Raises:
        ValidationError: not an object, an unknown field, ``rowCount`` missing, not an
            integer, or outside 1..10000, or ``webhookId`` not a non-empty string.
    """
    body = _object(body)
    _refuse_unknown(body, tuple(NEW_ROWS_FIELDS))
    for name in NEW_ROWS_REQUIRED:
        if name not in body:
            raise ValidationError(f"{name} is required", field=name)
    row_count = body["rowCount"]
    low, high = NEW_ROWS_FIELDS["rowCount"]["minimum"], NEW_ROWS_FIELDS["rowCount"]["maximum"]
    # A JSON number with a fraction or exponent (100.0, 1E2) is a float here, never an
    # integer, and bool is not one either.
    if type(row_count) is not int:
        raise ValidationError("rowCount must be an integer", field="rowCount")
    if not low <= row_count <= high:
        raise ValidationError(
            f"rowCount must be between {low} and {high}, not {row_count}", field="rowCount"
        )
    return NewRowsRequest(row_count, _webhook_id(body))


def parse_bulk(body: Any) -> BulkRequest:
    """Parse a bulk request body.

    Raises:
        ValidationError: not an object, an unknown field, a wrong JSON type.
        InvalidSelection: ``cellIds`` with ``rowIds``/``columnIds``, or an empty array.
    """
    body = _object(body)
    _refuse_unknown(body, tuple(BULK_FIELDS))
    webhook_id = _webhook_id(body)
    selection = Selection.from_wire({k: v for k, v in body.items() if k in _SELECTION_FIELDS})
    return BulkRequest(selection, webhook_id)


def format_duration(low_seconds: float, high_seconds: float) -> str:
    """The documented ``estimatedDuration`` form: ``"5-10 minutes"``, ``"2-4 hours"``."""
    low_minutes = max(1, math.floor(low_seconds / 60))
    high_minutes = max(low_minutes + 1, math.ceil(high_seconds / 60))
    if high_minutes <= 120:
        return f"{low_minutes}-{high_minutes} minutes"
    low_hours = max(1, math.floor(low_minutes / 60))
    high_hours = max(low_hours + 1, math.ceil(high_minutes / 60))
    return f"{low_hours}-{high_hours} hours"


def _head(task: ClaroTask) -> dict[str, Any]:
    return {
        "taskId": task.task_id,
        "datasetId": task.dataset_id,
        "type": task.type.value,
        "status": task.status.value,
    }


def _size(task: ClaroTask) -> dict[str, Any]:
    if task.type is TaskType.NEW_ROWS:
        return {"rowCount": task.row_count}
    return {"targetCells": task.total, "processOnlyEmpty": task.process_only_empty}


def _webhook(task: ClaroTask) -> dict[str, Any]:
    return {} if task.webhook_id is None else {"webhookId": task.webhook_id}


def created_response(task: ClaroTask) -> dict[str, Any]:
    """The documented create response (both task types), status ``queued``."""
    return {
        **_head(task),
        **_size(task),
        "estimatedDuration": format_duration(task.estimate_low, task.estimate_high),
        "createdAt": format_wire_instant(task.created_at),
        **_webhook(task),
    }


def estimated_completion(task: ClaroTask, now: datetime) -> datetime:
    """When a processing task should finish, from its pace so far.

    With no outcome yet, the start plus the estimator's high bound; otherwise the
    elapsed time per completed target times all targets, counted from the start.  Either
    way never earlier than ``now``, and rounded up to a whole second.

    Args:
        task: a task that has started.
        now: the instant the estimate is made at.

    Returns:
        A whole-second instant ``>= now``.
    """
    assert task.started_at is not None
    if task.completed == 0 or task.total == 0:
        finish = task.started_at + timedelta(seconds=task.estimate_high)
    else:
        elapsed = now - task.started_at
        finish = task.started_at + elapsed * task.total / task.completed
    return whole_second(max(finish, now), up=True)


def status_response(task: ClaroTask, now: datetime) -> dict[str, Any]:
    """The documented ``GET .../tasks/{taskId}`` response for any status."""
    wire: dict[str, Any] = {**_head(task), "progress": task.progress.to_wire(), **_size(task)}
    status = task.status
    if status is ClaroStatus.COMPLETED:
        wire["results"] = task.results.to_wire()
    if status is ClaroStatus.QUEUED:
        wire["estimatedDuration"] = format_duration(task.estimate_low, task.estimate_high)
    if status is ClaroStatus.PROCESSING:
        wire["estimatedCompletion"] = format_wire_instant(estimated_completion(task, now))
    wire["createdAt"] = format_wire_instant(task.created_at)
    for key, instant in (
        ("startedAt", task.started_at),
        ("completedAt", task.completed_at),
        ("cancelledAt", task.cancelled_at),
        ("failedAt", task.failed_at),
    ):
        if instant is not None:
            wire[key] = format_wire_instant(instant)
    if task.failure_reason is not None:
        wire["failureReason"] = task.failure_reason
    wire.update(_webhook(task))
    return wire


def cancel_response(task: ClaroTask) -> dict[str, Any]:
    """The documented cancel response."""
    assert task.cancelled_at is not None
    return {
        "message": "Task cancelled successfully",
        "taskId": task.task_id,
        "status": task.status.value,
        "cancelledAt": format_wire_instant(task.cancelled_at),
    }


def webhook_payload(task: ClaroTask) -> dict[str, Any]:
    """The documented webhook payload for a completed task, and its failed counterpart.

    Claro documents the completed payload; a failed task's has ``failedAt`` and
    ``failureReason`` in place of ``completedAt`` and ``results`` (docs/claro.md).
    """
    wire: dict[str, Any] = {
        "taskId": task.task_id,
        "datasetId": task.dataset_id,
        "status": task.status.value,
        "type": task.type.value,
    }
    if task.status is ClaroStatus.COMPLETED:
        assert task.completed_at is not None
        wire["completedAt"] = format_wire_instant(task.completed_at)
        wire["results"] = task.results.to_wire()
    else:
        assert task.failed_at is not None
        wire["failedAt"] = format_wire_instant(task.failed_at)
        wire["failureReason"] = task.failure_reason
    return wire
