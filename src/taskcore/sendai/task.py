"""Send AI values: projects and their steps, uploads, tasks, reports, API keys.

All frozen (:func:`attrs.frozen`); the service changes them with :func:`attrs.evolve`
and stores their documents (``to_doc``/``from_doc``).  Decisions where the Send AI Task
Management API is silent (docs/sendai.md, "Pipeline model"):

- A project is an ordered, non-empty list of steps; a step has a ``step_type``
  (EXTRACT, CLASSIFY, SEGMENT, GROUP), a validation rule (the meta fields that must be
  present and non-empty: the check auto-processing and ``complete`` share) and filter
  rules (a meta ``{name, value}`` pair that filters the task out at that step).
- An upload belongs to one project, holds its tasks' ids in order, and carries the
  ``fully_processed`` flag that ``unlock`` reads.
- A task holds its step's index, ``meta`` (a list of ``{name, value}``), ``pages``,
  and the timestamps of the wire format; ``approved`` is part of the wire format but no
  documented operation sets it, so it stays ``false``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

import attrs

from taskcore.clock import format_instant, parse_instant
from taskcore.errors import ValidationError
from taskcore.sendai.lifecycle import SendAIStatus

__all__ = [
    "SCOPE_ALIASES",
    "ApiKey",
    "FilterRule",
    "Issue",
    "MetaField",
    "Project",
    "Report",
    "SendAITask",
    "Step",
    "StepType",
    "Upload",
]

READ: str = "task.read"
EDIT: str = "task.edit"
SCOPE_ALIASES: Mapping[str, str] = {"tasks.view": READ, "tasks.edit": EDIT}
"""Accepted spellings of the two documented scopes (docs/sendai.md, "Keys and scopes")."""


class StepType(StrEnum):
    """A pipeline step's ``step_type`` (wire values)."""

    EXTRACT = "EXTRACT"
    CLASSIFY = "CLASSIFY"
    SEGMENT = "SEGMENT"
    GROUP = "GROUP"


# Typed converters: with the bare ``tuple`` builtin as a converter, mypy cannot solve its
# type variable and refuses every argument.
def _strings(items: Iterable[str], what: str) -> tuple[str, ...]:
    """A collection of strings; a lone string is refused (it would be read as its
    characters, one name each)."""
    if isinstance(items, str | bytes):
        raise TypeError(f"{what} must be a collection of strings, not a single string")
    names = tuple(items)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must hold strings, not {type(name).__name__}")
    return names


def _names(items: Iterable[str]) -> tuple[str, ...]:
    return _strings(items, "required")


def _filters(items: Iterable[FilterRule]) -> tuple[FilterRule, ...]:
    return tuple(items)


def _steps(items: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(items)


def _metas(items: Iterable[MetaField]) -> tuple[MetaField, ...]:
    return tuple(items)


def _issues(items: Iterable[Issue]) -> tuple[Issue, ...]:
    return tuple(items)


def _scopes(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(SCOPE_ALIASES.get(scope, scope) for scope in _strings(scopes, "scopes"))


@attrs.frozen
class ApiKey:
    """Who calls: a team and the scopes its key carries (aliases normalised)."""

    team_id: str
    scopes: frozenset[str] = attrs.field(converter=_scopes)

    def allows(self, scope: str) -> bool:
        """Whether the key carries ``scope`` (``task.read`` or ``task.edit``)."""
        return scope in self.scopes


@attrs.frozen
class MetaField:
    """One entry of a task's ``meta``: ``{"name", "value"}``."""

    name: str
    value: str

    def to_doc(self) -> dict[str, str]:
        """``{"name", "value"}``."""
        return {"name": self.name, "value": self.value}


MAX_TASK_META: Final = 200
"""The most meta fields a task holds (a bound: corrections may only add up to it)."""


def merge_meta(current: Sequence[MetaField], changes: Sequence[MetaField]) -> tuple[MetaField, ...]:
    """``current`` with each name in ``changes`` set to its new value (new names are
    appended, in the order given; a name given twice keeps its last value).

    Raises:
        ValidationError: the task would hold more than :data:`MAX_TASK_META` fields
            (``field`` is ``meta``); nothing is merged.
    """
    fields = {field.name: field for field in current}
    for field in changes:
        fields[field.name] = field  # an existing name keeps its place
    if len(fields) > MAX_TASK_META and len(fields) > len(current):
        raise ValidationError(
            f"A task holds at most {MAX_TASK_META} meta fields; this would make {len(fields)}",
            field="meta",
        )
    return tuple(fields.values())


@attrs.frozen
class FilterRule:
    """A task whose meta has ``name`` equal to ``value`` is filtered out at the step."""

    name: str
    value: str

    def matches(self, meta: Sequence[MetaField]) -> bool:
        """Whether ``meta`` holds ``name`` with exactly ``value``."""
        return any(f.name == self.name and f.value == self.value for f in meta)


@attrs.frozen
class Step:
    """One step of a project's pipeline.

    Attributes:
        step_type: what the step does.
        required: the validation rule: meta fields that must be present and non-empty.
        filters: rules that filter a task out when it reaches the step.
        review: whether every task stops in REVIEWING at the step; when False,
            auto-processing moves a task that passes validation straight on (one that
            fails it still stops for review).
    """

    step_type: StepType = attrs.field(converter=StepType)
    required: tuple[str, ...] = attrs.field(default=(), converter=_names)
    filters: tuple[FilterRule, ...] = attrs.field(default=(), converter=_filters)
    review: bool = True

    def failed_fields(self, meta: Sequence[MetaField]) -> tuple[str, ...]:
        """The required fields ``meta`` lacks or leaves empty (blank counts as empty)."""
        present = {f.name for f in meta if f.value.strip()}
        return tuple(name for name in self.required if name not in present)

    def filtered(self, meta: Sequence[MetaField]) -> bool:
        """Whether one of the step's filter rules matches ``meta``."""
        return any(rule.matches(meta) for rule in self.filters)

    def to_doc(self) -> dict[str, Any]:
        """The step's store document."""
        return {
            "step_type": self.step_type.value,
            "required": list(self.required),
            "filters": [[r.name, r.value] for r in self.filters],
            "review": self.review,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Step:
        """Rebuild a step from :meth:`to_doc`."""
        return cls(
            doc["step_type"],
            tuple(doc["required"]),
            tuple(FilterRule(name, value) for name, value in doc["filters"]),
            doc["review"],
        )


@attrs.frozen
class Project:
    """A team's project: its pipeline, an ordered, non-empty tuple of steps."""

    team_id: str
    project_id: str
    steps: tuple[Step, ...] = attrs.field(converter=_steps)

    def to_doc(self) -> dict[str, Any]:
        """The project's store document (the team and id are in its key)."""
        return {"steps": [step.to_doc() for step in self.steps]}

    @classmethod
    def from_doc(cls, team_id: str, project_id: str, doc: Mapping[str, Any]) -> Project:
        """Rebuild a project from :meth:`to_doc`."""
        return cls(team_id, project_id, tuple(Step.from_doc(s) for s in doc["steps"]))


@attrs.frozen
class Upload:
    """A batch of documents sent to a project; its tasks, in order, and whether the
    pipeline has fully processed it (then none of its tasks can be unlocked)."""

    team_id: str
    upload_id: str
    project_id: str
    task_ids: tuple[str, ...] = attrs.field(default=(), converter=_names)
    fully_processed: bool = False

    def to_doc(self) -> dict[str, Any]:
        """The upload's store document."""
        return {
            "project_id": self.project_id,
            "task_ids": list(self.task_ids),
            "fully_processed": self.fully_processed,
        }

    @classmethod
    def from_doc(cls, team_id: str, upload_id: str, doc: Mapping[str, Any]) -> Upload:
        """Rebuild an upload from :meth:`to_doc`."""
        return cls(
            team_id, upload_id, doc["project_id"], tuple(doc["task_ids"]), doc["fully_processed"]
        )


def _instant(value: str | None) -> datetime | None:
    return None if value is None else parse_instant(value)


def _text(value: datetime | None) -> str | None:
    return None if value is None else _instant_text(value)


@lru_cache(maxsize=1_024)  # bounded: a task's instants are written again on every change
def _instant_text(value: datetime) -> str:
    return format_instant(value)


@attrs.frozen
class SendAITask:
    """One document in a project's pipeline.

    Attributes:
        step_index: the step the task is at (0-based, into the project's steps).
        step_done: the task was completed at ``step_index`` and waits in PROCESSING for
            the pipeline to move it on (False while the step itself processes it).
        pages: the document's page count (the wire shows ``[{"page_number": n}, ...]``).
    """

    id: str
    team_id: str
    project_id: str
    upload_id: str
    name: str
    created_at: datetime
    # No converters here: every caller passes members, and a task is built on every
    # change (the hot path of complete).
    status: SendAIStatus
    step_type: StepType
    step_index: int = 0
    step_done: bool = False
    meta: tuple[MetaField, ...] = attrs.field(default=(), converter=_metas)
    pages: int = 1
    approved: bool = False
    exported_at: datetime | None = None
    export_failed_at: datetime | None = None
    last_opened_at: datetime | None = None
    failure_reason: str | None = None

    def but(self, **changes: Any) -> SendAITask:
        """``attrs.evolve(self, **changes)``, a few times faster (every change of a task
        builds one, on the hot path of ``complete``).

        Raises:
            TypeError: a name in ``changes`` is not a field of the task.
        """
        if not changes.keys() <= _TASK_FIELDS:
            raise TypeError(f"not task fields: {sorted(changes.keys() - _TASK_FIELDS)}")
        get = changes.get
        return SendAITask(
            get("id", self.id),
            get("team_id", self.team_id),
            get("project_id", self.project_id),
            get("upload_id", self.upload_id),
            get("name", self.name),
            get("created_at", self.created_at),
            get("status", self.status),
            get("step_type", self.step_type),
            get("step_index", self.step_index),
            get("step_done", self.step_done),
            get("meta", self.meta),
            get("pages", self.pages),
            get("approved", self.approved),
            get("exported_at", self.exported_at),
            get("export_failed_at", self.export_failed_at),
            get("last_opened_at", self.last_opened_at),
            get("failure_reason", self.failure_reason),
        )

    def to_doc(self) -> dict[str, Any]:
        """The task's store document (the team and id are in its key)."""
        return {
            "project_id": self.project_id,
            "upload_id": self.upload_id,
            "name": self.name,
            "created_at": _text(self.created_at),
            "status": self.status.value,
            "step_type": self.step_type.value,
            "step_index": self.step_index,
            "step_done": self.step_done,
            "meta": [[f.name, f.value] for f in self.meta],
            "pages": self.pages,
            "approved": self.approved,
            "exported_at": _text(self.exported_at),
            "export_failed_at": _text(self.export_failed_at),
            "last_opened_at": _text(self.last_opened_at),
            "failure_reason": self.failure_reason,
        }

    @classmethod
    def from_doc(cls, team_id: str, task_id: str, doc: Mapping[str, Any]) -> SendAITask:
        """Rebuild a task from :meth:`to_doc`."""
        return cls(
            id=task_id,
            team_id=team_id,
            project_id=doc["project_id"],
            upload_id=doc["upload_id"],
            name=doc["name"],
            created_at=parse_instant(doc["created_at"]),
            status=SendAIStatus(doc["status"]),
            step_type=StepType(doc["step_type"]),
            step_index=doc["step_index"],
            step_done=doc["step_done"],
            meta=tuple(MetaField(n, v) for n, v in doc["meta"]),
            pages=doc["pages"],
            approved=doc["approved"],
            exported_at=_instant(doc["exported_at"]),
            export_failed_at=_instant(doc["export_failed_at"]),
            last_opened_at=_instant(doc["last_opened_at"]),
            failure_reason=doc["failure_reason"],
        )


_TASK_FIELDS = frozenset(field.name for field in attrs.fields(SendAITask))


@attrs.frozen
class Issue:
    """One reported issue: ``{"label", "value"}``."""

    label: str
    value: str

    def to_doc(self) -> dict[str, str]:
        """``{"label", "value"}``."""
        return {"label": self.label, "value": self.value}


@attrs.frozen
class Report:
    """One call of ``report``: its issues, optional message, and what the external
    issue tracker refused (``failed_issues``)."""

    report_id: str
    task_id: str
    created_at: datetime
    issues: tuple[Issue, ...] = attrs.field(converter=_issues)
    message: str | None = None
    failed_issues: tuple[Issue, ...] = attrs.field(default=(), converter=_issues)

    def to_doc(self) -> dict[str, Any]:
        """The report's store document."""
        return {
            "report_id": self.report_id,
            "task_id": self.task_id,
            "created_at": format_instant(self.created_at),
            "issues": [i.to_doc() for i in self.issues],
            "message": self.message,
            "failed_issues": [i.to_doc() for i in self.failed_issues],
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Report:
        """Rebuild a report from :meth:`to_doc`."""
        return cls(
            doc["report_id"],
            doc["task_id"],
            parse_instant(doc["created_at"]),
            tuple(Issue(i["label"], i["value"]) for i in doc["issues"]),
            doc["message"],
            tuple(Issue(i["label"], i["value"]) for i in doc["failed_issues"]),
        )
