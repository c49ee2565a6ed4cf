"""The Claro task lifecycle (Claro API reference, "Tasks" > "Task Status Values").

States are the documented statuses ``queued``, ``processing``, ``completed``, ``failed``
and ``cancelled``.  The Claro reference names no events; taskcore's are the operations that move a
task: a worker *starts* it, *records* cell outcomes, *completes* or *fails* it; the user
*cancels* it (HTTP ``DELETE``).

Decisions where the Claro reference is silent (docs/claro.md):

- Cancel is accepted from ``queued`` and ``processing`` only ("Only tasks in queued or
  processing status can be cancelled"); from a terminal state it is refused with
  ``TASK_NOT_CANCELLABLE`` carrying ``currentStatus``.
- ``fail`` is accepted from ``queued`` too: a worker may fail a task it never started, and
  a lock takeover fails the expired holder's task whatever its state (docs/locks.md).
- ``complete`` needs every target to have an outcome (guard ``all_recorded``): the
  documented completed response shows ``progress.completed == progress.total``.
- ``record`` is a self-loop on ``processing``: outcomes are only taken while processing.
- ``completed``, ``failed`` and ``cancelled`` are terminal: nothing leaves them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from taskcore.errors import TaskNotCancellable
from taskcore.lifecycle import Guard, Lifecycle, When

__all__ = ["ALL_RECORDED", "CLARO_TASK", "ClaroEvent", "ClaroStatus", "Recorded"]


class ClaroStatus(StrEnum):
    """A Claro task's ``status`` (wire values)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ClaroEvent(StrEnum):
    """What moves a Claro task."""

    START = "start"
    RECORD = "record"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"


class Recorded(Protocol):
    """The context the ``all_recorded`` guard reads: a task's progress."""

    @property
    def completed(self) -> int:
        """Targets (cells, or rows for a new-rows task) with an outcome."""
        ...

    @property
    def total(self) -> int:
        """Targets the task was created for."""
        ...


ALL_RECORDED: Guard[Recorded] = Guard(
    "all_recorded",
    lambda progress: progress.completed >= progress.total,
    "every target of the task has an outcome (progress.completed == progress.total)",
)

_S, _E = ClaroStatus, ClaroEvent

CLARO_TASK: Lifecycle[ClaroStatus, ClaroEvent, Recorded] = Lifecycle(
    "claro.task",
    title="Claro dataset task",
    description=(
        "A Claro `new_rows` or `bulk_processing` task (Claro API reference, 'Tasks'). "
        "The dataset is locked from creation until the task reaches a terminal state. "
        "Cancel (HTTP `DELETE`) is accepted from `queued` and `processing` only; from a "
        "terminal state it is refused with `TASK_NOT_CANCELLABLE`."
    ),
    states=ClaroStatus,
    events=ClaroEvent,
    initial=_S.QUEUED,
    table={
        _S.QUEUED: {
            _E.START: _S.PROCESSING,
            _E.FAIL: _S.FAILED,
            _E.CANCEL: _S.CANCELLED,
        },
        _S.PROCESSING: {
            _E.RECORD: _S.PROCESSING,
            _E.COMPLETE: When(ALL_RECORDED, _S.COMPLETED),
            _E.FAIL: _S.FAILED,
            _E.CANCEL: _S.CANCELLED,
        },
        _S.COMPLETED: {},
        _S.FAILED: {},
        _S.CANCELLED: {},
    },
    refusals={_E.CANCEL: TaskNotCancellable},
)
"""The Claro task lifecycle, shared by every Claro task."""
