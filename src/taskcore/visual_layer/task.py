"""Visual Layer values: a dataset, a dataset task, and a list query.

Values are frozen: the service changes a task by firing an event on
:data:`~taskcore.visual_layer.lifecycle.VL_TASK` and storing ``attrs.evolve(task, ...)``.
Decisions (docs/visual-layer.md):

- ``start_time`` is the submit instant in whole seconds (what the wire shows, so
  ``start_time_from``/``start_time_to`` compare with exactly what the caller sees) and is
  kept by a retry; ``end_time`` is the instant the task reached ``COMPLETED``, ``FAILED``
  or ``ABORTED``, ``None`` otherwise.
- ``status_message`` is "<type label> <state word>" (``Enrichment failed``), set by every
  transition (:func:`status_message`).
- A task's ``configuration`` is an opaque JSON object kept as given; a retry keeps it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from taskcore.clock import format_instant, parse_instant, whole_second
from taskcore.text import is_storable
from taskcore.visual_layer.errors import InvalidParameter
from taskcore.visual_layer.lifecycle import TaskType, VisualLayerStatus

__all__ = [
    "LIST_QUERY",
    "PAGE_SIZES",
    "SORT_FIELDS",
    "Dataset",
    "DatasetStatus",
    "SortOrder",
    "TaskQuery",
    "VisualLayerTask",
    "canonical_uuid",
    "status_message",
]


class DatasetStatus(StrEnum):
    """A dataset's ``dataset_status`` (wire values)."""

    READY = "READY"
    READ_ONLY = "READ_ONLY"
    PARTIAL_INDEX = "PARTIAL_INDEX"


class SortOrder(StrEnum):
    """``sort_order``."""

    ASC = "asc"
    DESC = "desc"


SORT_FIELDS = ("start_time", "status", "task_type", "dataset_name", "dataset_id", "created_by")
"""The documented ``sort_by`` values."""
PAGE_SIZES = range(5, 51)
"""The documented ``page_size`` range, 5..50."""
MAX_PAGE = 10**9
"""The largest ``page`` accepted (a bound, so offsets stay small integers)."""

_LABELS = {
    TaskType.DATASET_CREATION: "Dataset creation",
    TaskType.MEDIA_ADDITION: "Media addition",
    TaskType.REINDEX: "Reindex",
    TaskType.ENRICHMENT: "Enrichment",
    TaskType.CUSTOM_METADATA: "Custom metadata",
    TaskType.SNAPSHOT_RESTORE: "Snapshot restore",
    TaskType.SNAPSHOT_CLONE: "Snapshot clone",
}
_WORDS = {
    VisualLayerStatus.INITIALIZING: "initializing",
    VisualLayerStatus.RUNNING: "running",
    VisualLayerStatus.COMPLETED: "completed",
    VisualLayerStatus.FAILED: "failed",
    VisualLayerStatus.ABORTED: "aborted",
}


def status_message(task_type: TaskType, status: VisualLayerStatus, committing: bool) -> str:
    """The ``status_message`` of a task of ``task_type`` in ``status``: "Enrichment
    failed", "Dataset creation running"; "... committing" in the commit phase."""
    word = "committing" if committing and status is VisualLayerStatus.RUNNING else _WORDS[status]
    return f"{_LABELS[task_type]} {word}"


def _users(users: Iterable[str]) -> frozenset[str]:
    return frozenset(users)


@attrs.frozen
class Dataset:
    """A dataset: its id, name, status and the users (emails) who may see it."""

    dataset_id: str
    name: str
    status: DatasetStatus = attrs.field(converter=DatasetStatus, default=DatasetStatus.READY)
    users: frozenset[str] = attrs.field(converter=_users, factory=frozenset)

    def to_doc(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "dataset_id": self.dataset_id,
            "name": self.name,
            "status": self.status.value,
            "users": sorted(self.users),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Dataset:
        """The dataset of a stored document."""
        return cls(doc["dataset_id"], doc["name"], doc["status"], doc["users"])


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def _parsed(value: str | None) -> datetime | None:
    return None if value is None else parse_instant(value)


def _whole_or_none(value: datetime | None) -> datetime | None:
    """``end_time`` kept in whole seconds, as the wire shows it (and ``start_time`` is)."""
    return None if value is None else whole_second(value)


@attrs.frozen
class VisualLayerTask:
    """One dataset task, as stored (the dataset's name and status are joined in when it
    is shown)."""

    task_id: str
    dataset_id: str
    created_by: str
    task_type: TaskType = attrs.field(converter=TaskType)
    status: VisualLayerStatus = attrs.field(converter=VisualLayerStatus)
    status_message: str
    start_time: datetime = attrs.field(converter=whole_second)
    progress_percentage: int | None = None
    error_message: str | None = None
    end_time: datetime | None = attrs.field(default=None, converter=_whole_or_none)
    in_commit_phase: bool = False
    configuration: Mapping[str, Any] = attrs.field(factory=dict)

    def to_doc(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "task_id": self.task_id,
            "dataset_id": self.dataset_id,
            "created_by": self.created_by,
            "task_type": self.task_type.value,
            "status": self.status.value,
            "status_message": self.status_message,
            "start_time": format_instant(self.start_time),
            "progress_percentage": self.progress_percentage,
            "error_message": self.error_message,
            "end_time": _instant(self.end_time),
            "in_commit_phase": self.in_commit_phase,
            "configuration": dict(self.configuration),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> VisualLayerTask:
        """The task of a stored document."""
        return cls(
            task_id=doc["task_id"],
            dataset_id=doc["dataset_id"],
            created_by=doc["created_by"],
            task_type=doc["task_type"],
            status=doc["status"],
            status_message=doc["status_message"],
            start_time=parse_instant(doc["start_time"]),
            progress_percentage=doc["progress_percentage"],
            error_message=doc["error_message"],
            end_time=_parsed(doc["end_time"]),
            in_commit_phase=doc["in_commit_phase"],
            configuration=doc["configuration"],
        )


def _one_of(field: str, value: object, allowed: Any) -> None:
    values = [a.value if isinstance(a, StrEnum) else a for a in allowed]
    if value not in values:
        raise InvalidParameter(field, f"must be one of {', '.join(map(str, values))}")


def _text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameter(field, "must be a non-empty string")
    if not is_storable(value):
        raise InvalidParameter(field, "must be valid Unicode text without NUL")
    return value


_WIRE_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})?)?\Z"
)
"""What a time bound may be: an RFC 3339 date-time (``T`` or ``t``, an optional
fraction of up to six digits, ``Z``/``z`` or an offset; none means UTC) or a date
(midnight UTC).  Other spellings Python would read (week dates, basic format, a space
for ``T``, nanoseconds) are refused rather than guessed."""


def _instant_param(field: str, value: object) -> datetime:
    if isinstance(value, datetime):
        try:
            return parse_instant(value.isoformat())
        except (ValueError, OverflowError):
            raise InvalidParameter(field, "must be an ISO 8601 datetime") from None
    if not isinstance(value, str) or not _WIRE_INSTANT.match(value):
        raise InvalidParameter(field, "must be an ISO 8601 datetime")
    try:
        return parse_instant(value.upper())
    except (ValueError, OverflowError):  # OverflowError: UTC falls outside years 1..9999
        raise InvalidParameter(field, "must be an ISO 8601 datetime") from None


def canonical_uuid(field: str, value: object) -> str:
    """``value`` as a canonical lowercase UUID string.

    Raises:
        InvalidParameter: ``value`` is not a UUID (422 naming ``field``).
    """
    if not isinstance(value, str):
        raise InvalidParameter(field, "must be a UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidParameter(field, "must be a UUID") from None


def _whole(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 12:
            raise InvalidParameter(field, f"must be a whole number in {low}..{high}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(field, f"must be a whole number in {low}..{high}")
    return value


def _dataset_id(value: object) -> str | None:
    return None if value is None else canonical_uuid("dataset_id", value)


def _dataset_name(value: object) -> str | None:
    return None if value is None else _text("dataset_name", value)


def _created_by(value: object) -> str | None:
    return None if value is None else _text("created_by", value)


def _task_type(value: object) -> TaskType | None:
    if value is None:
        return None
    _one_of("task_type", value, TaskType)
    return TaskType(str(value))


def _task_status(value: object) -> VisualLayerStatus | None:
    if value is None:
        return None
    _one_of("task_status", value, VisualLayerStatus)
    return VisualLayerStatus(str(value))


def _from(value: object) -> datetime | None:
    return None if value is None else _instant_param("start_time_from", value)


def _to(value: object) -> datetime | None:
    return None if value is None else _instant_param("start_time_to", value)


def _sort_by(value: object) -> str:
    _one_of("sort_by", value, LIST_QUERY["sort_by"]["enum"])
    return str(value)


def _sort_order(value: object) -> SortOrder:
    _one_of("sort_order", value, LIST_QUERY["sort_order"]["enum"])
    return SortOrder(str(value))


def _bounded(name: str, value: object) -> int:
    schema = LIST_QUERY[name]
    return _whole(name, value, schema["minimum"], schema["maximum"])


def _page(value: object) -> int:
    return _bounded("page", value)


def _page_size(value: object) -> int:
    return _bounded("page_size", value)


_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_INSTANT: dict[str, Any] = {"type": "string", "format": "date-time"}
LIST_QUERY: dict[str, dict[str, Any]] = {
    "dataset_id": {"type": "string", "format": "uuid"},
    "dataset_name": _TEXT,
    "task_type": {"type": "string", "enum": [t.value for t in TaskType]},
    "task_status": {"type": "string", "enum": [s.value for s in VisualLayerStatus]},
    "created_by": _TEXT,
    "start_time_from": _INSTANT,
    "start_time_to": _INSTANT,
    "sort_by": {"type": "string", "enum": list(SORT_FIELDS), "default": "start_time"},
    "sort_order": {"type": "string", "enum": [o.value for o in SortOrder], "default": "desc"},
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    "page_size": {
        "type": "integer",
        "minimum": PAGE_SIZES[0],
        "maximum": PAGE_SIZES[-1],
        "default": 20,
    },
}
"""The list query's parameters as data, each a JSON Schema (wire form) with its default:
:class:`TaskQuery` checks against these bounds, enums and defaults, and taskcore.openapi
writes these very schemas.  The order is the documentation's."""


@attrs.frozen
class TaskQuery:
    """One list query: the documented filters, sort and page (docs/visual-layer.md,
    "Listing").  Every field is checked and converted when the query is built (wire
    strings or typed values; ``attrs.evolve`` checks too); a bad one is
    :class:`~taskcore.visual_layer.errors.InvalidParameter` (422) naming it, never
    clamped.

    ``dataset_id`` is a UUID (any spelling; kept in its canonical lowercase form);
    ``dataset_name`` and ``created_by`` match exactly; the time bounds are inclusive.
    """

    dataset_id: str | None = attrs.field(default=None, converter=_dataset_id)
    dataset_name: str | None = attrs.field(default=None, converter=_dataset_name)
    task_type: TaskType | None = attrs.field(default=None, converter=_task_type)
    task_status: VisualLayerStatus | None = attrs.field(default=None, converter=_task_status)
    created_by: str | None = attrs.field(default=None, converter=_created_by)
    start_time_from: datetime | None = attrs.field(default=None, converter=_from)
    start_time_to: datetime | None = attrs.field(default=None, converter=_to)
    sort_by: str = attrs.field(default=LIST_QUERY["sort_by"]["default"], converter=_sort_by)
    sort_order: SortOrder = attrs.field(
        default=LIST_QUERY["sort_order"]["default"], converter=_sort_order
    )
    page: int = attrs.field(default=LIST_QUERY["page"]["default"], converter=_page)
    page_size: int = attrs.field(default=LIST_QUERY["page_size"]["default"], converter=_page_size)

    @classmethod
    def build(cls, **given: object) -> TaskQuery:
        """A query from keyword values (wire strings or typed values); ``None`` means
        "not given".

        Raises:
            InvalidParameter: an unknown parameter, or a value that is not valid.
        """
        fields = {f.name for f in attrs.fields(cls)}
        for name in given:
            if name not in fields:
                raise InvalidParameter(name, "is not a known parameter")
        return cls(**{k: v for k, v in given.items() if v is not None})

    @property
    def offset(self) -> int:
        """How many matching tasks come before this page."""
        return (self.page - 1) * self.page_size
