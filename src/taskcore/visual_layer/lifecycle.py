"""The Visual Layer task lifecycle (Visual Layer Task Manager API: list, filter
options, abort and retry of dataset tasks).

States are the documented statuses ``INITIALIZING``, ``RUNNING``, ``COMPLETED``,
``FAILED`` and ``ABORTED``.  Events are what moves a task: a worker *starts* it,
reports *progress*, *enters the commit phase*, *completes* or *fails* it; a user
*aborts* or *retries* it.

The conditions the Visual Layer docs put on abort and retry are guards in the table,
read from the task (:class:`Attempt`):

- abort (docs: "Only Dataset Creation tasks can be aborted. Tasks in the final commit
  phase or in a completed state ... return a 409 Conflict") from ``INITIALIZING`` or
  ``RUNNING`` only when the task is a ``DATASET_CREATION`` outside its commit phase;
- retry (docs: "Only Dataset Creation tasks in FAILED or ABORTED status can be retried
  ... A 400 Bad Request is returned if the task is not in a retryable state") from
  ``FAILED`` or ``ABORTED`` only for ``DATASET_CREATION``, back to ``INITIALIZING``.

Decisions where the docs are silent (docs/visual-layer.md): the commit phase is a flag
on ``RUNNING`` that only a worker sets (``enter_commit``, once); a worker may fail a task
while ``INITIALIZING`` or ``RUNNING``; progress is reported only while ``RUNNING``.
``COMPLETED`` is the one terminal state of the table (failed and aborted dataset
creations may be retried).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from taskcore.lifecycle import Guard, Lifecycle, When
from taskcore.visual_layer.errors import TaskNotAbortable, TaskNotRetryable

__all__ = [
    "ABORTABLE",
    "RETRYABLE",
    "VL_TASK",
    "Attempt",
    "TaskType",
    "VisualLayerEvent",
    "VisualLayerStatus",
]


class VisualLayerStatus(StrEnum):
    """A Visual Layer task's ``status`` (wire values)."""

    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


class VisualLayerEvent(StrEnum):
    """What moves a Visual Layer task."""

    START = "start"
    PROGRESS = "progress"
    ENTER_COMMIT = "enter_commit"
    COMPLETE = "complete"
    FAIL = "fail"
    ABORT = "abort"
    RETRY = "retry"


class TaskType(StrEnum):
    """A Visual Layer task's ``task_type`` (wire values, the documented seven)."""

    DATASET_CREATION = "DATASET_CREATION"
    MEDIA_ADDITION = "MEDIA_ADDITION"
    REINDEX = "REINDEX"
    ENRICHMENT = "ENRICHMENT"
    CUSTOM_METADATA = "CUSTOM_METADATA"
    SNAPSHOT_RESTORE = "SNAPSHOT_RESTORE"
    SNAPSHOT_CLONE = "SNAPSHOT_CLONE"


class Attempt(Protocol):
    """The context the guards read: the task's type and whether it is committing."""

    @property
    def task_type(self) -> TaskType:
        """The task's operation type."""
        ...

    @property
    def in_commit_phase(self) -> bool:
        """Whether a worker has moved the task into its final commit phase."""
        ...


ABORTABLE: Guard[Attempt] = Guard(
    "dataset_creation_outside_commit_phase",
    lambda attempt: attempt.task_type == TaskType.DATASET_CREATION and not attempt.in_commit_phase,
    "the task is a DATASET_CREATION not in its final commit phase",
)
RETRYABLE: Guard[Attempt] = Guard(
    "dataset_creation",
    lambda attempt: attempt.task_type == TaskType.DATASET_CREATION,
    "the task is a DATASET_CREATION",
)

_S, _E = VisualLayerStatus, VisualLayerEvent

VL_TASK: Lifecycle[VisualLayerStatus, VisualLayerEvent, Attempt] = Lifecycle(
    "visual_layer.task",
    title="Visual Layer dataset task",
    description=(
        "A Visual Layer dataset task (Task Manager API). A worker submits it "
        "(`INITIALIZING`), starts it (`RUNNING`), reports progress, may move it into its "
        "final commit phase (a flag on `RUNNING`), and completes or fails it. A user may "
        "abort only a `DATASET_CREATION` outside the commit phase (guard "
        "`dataset_creation_outside_commit_phase`; else 409) and retry only a failed or "
        "aborted `DATASET_CREATION` (guard `dataset_creation`; else 400), back to "
        "`INITIALIZING` with the same id and configuration."
    ),
    states=VisualLayerStatus,
    events=VisualLayerEvent,
    initial=_S.INITIALIZING,
    table={
        _S.INITIALIZING: {
            _E.START: _S.RUNNING,
            _E.FAIL: _S.FAILED,
            _E.ABORT: When(ABORTABLE, _S.ABORTED),
        },
        _S.RUNNING: {
            _E.PROGRESS: _S.RUNNING,
            _E.ENTER_COMMIT: _S.RUNNING,
            _E.COMPLETE: _S.COMPLETED,
            _E.FAIL: _S.FAILED,
            _E.ABORT: When(ABORTABLE, _S.ABORTED),
        },
        _S.COMPLETED: {},
        _S.FAILED: {_E.RETRY: When(RETRYABLE, _S.INITIALIZING)},
        _S.ABORTED: {_E.RETRY: When(RETRYABLE, _S.INITIALIZING)},
    },
    refusals={_E.ABORT: TaskNotAbortable, _E.RETRY: TaskNotRetryable},
)
"""The Visual Layer task lifecycle, shared by every Visual Layer task."""
