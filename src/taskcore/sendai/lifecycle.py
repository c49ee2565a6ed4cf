"""The Send AI task lifecycle (Send AI Task Management API, "Task Lifecycle").

States are the six documented statuses.  The reference names no events; taskcore's are
the operations that move a task.  The pipeline's worker *advances* a task to a step's
review (REVIEWING), *finishes* it after the last step (COMPLETED), *filters* it
(FILTERED) or *fails* it (FAILED); a user (or the API) *completes*, *discards*,
*unlocks* or *reports* it; an *export* stamps a completed task.

Decisions where the reference is silent or terse (docs/sendai.md):

- ``complete`` and ``discard`` only from REVIEWING ("Only tasks in REVIEWING state can
  be completed"); ``complete`` is guarded by ``passes_validation`` (the same validation
  as auto-processing) and leads to PROCESSING: the pipeline then moves the task on.
- ``unlock`` only from the finalized statuses COMPLETED, DISCARDED and FILTERED, guarded
  by ``unlockable`` (``exported_at`` is null and the upload is not fully processed); it
  leads to REVIEWING, so unlock -> correct -> complete works.
- ``report`` is a self-loop on every status: a report never changes status.  FAILED
  accepts nothing else (a dead end).
- ``export`` is a self-loop on COMPLETED only: what leaves the pipeline is completed.
- Every refusal is :class:`~taskcore.sendai.errors.InvalidTaskState` (HTTP 400).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from taskcore.lifecycle import Guard, Lifecycle, When
from taskcore.sendai.errors import InvalidTaskState

__all__ = [
    "FINALIZED",
    "PASSES_VALIDATION",
    "SENDAI_TASK",
    "UNLOCKABLE",
    "USER_EVENTS",
    "WORKER_EVENTS",
    "GuardContext",
    "SendAIEvent",
    "SendAIStatus",
]


class SendAIStatus(StrEnum):
    """A Send AI task's ``status`` (wire values)."""

    PROCESSING = "PROCESSING"
    REVIEWING = "REVIEWING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DISCARDED = "DISCARDED"
    FILTERED = "FILTERED"


class SendAIEvent(StrEnum):
    """What moves a Send AI task (taskcore's names)."""

    ADVANCE = "advance"
    FINISH = "finish"
    FILTER = "filter"
    FAIL = "fail"
    COMPLETE = "complete"
    DISCARD = "discard"
    UNLOCK = "unlock"
    REPORT = "report"
    EXPORT = "export"


FINALIZED = frozenset({SendAIStatus.COMPLETED, SendAIStatus.DISCARDED, SendAIStatus.FILTERED})
"""The statuses the reference calls finalized (the ones ``unlock`` accepts)."""

USER_EVENTS = (
    SendAIEvent.COMPLETE,
    SendAIEvent.DISCARD,
    SendAIEvent.UNLOCK,
    SendAIEvent.REPORT,
)
"""The events of the five documented endpoints (GET fires none)."""

WORKER_EVENTS = (
    SendAIEvent.ADVANCE,
    SendAIEvent.FINISH,
    SendAIEvent.FILTER,
    SendAIEvent.FAIL,
    SendAIEvent.EXPORT,
)
"""The pipeline's events (no endpoint: the worker side of the service)."""


class GuardContext(Protocol):
    """What the guards read about a task."""

    @property
    def valid(self) -> bool:
        """The task's meta passes its step's validation rule."""
        ...

    @property
    def exported(self) -> bool:
        """The task has an ``exported_at``."""
        ...

    @property
    def upload_fully_processed(self) -> bool:
        """The task's upload is flagged fully processed."""
        ...


PASSES_VALIDATION: Guard[GuardContext] = Guard(
    "passes_validation",
    lambda facts: facts.valid,
    "the task's meta passes its step's validation rule (the auto-processing check)",
)
UNLOCKABLE: Guard[GuardContext] = Guard(
    "unlockable",
    lambda facts: not facts.exported and not facts.upload_fully_processed,
    "exported_at is null and the task's upload is not fully processed",
)

_S, _E = SendAIStatus, SendAIEvent

SENDAI_TASK: Lifecycle[SendAIStatus, SendAIEvent, GuardContext] = Lifecycle(
    "sendai.task",
    title="Send AI document task",
    description=(
        "A document moving through a Send AI project's review pipeline (Send AI Task "
        "Management API, 'Task Lifecycle'). The worker side advances, finishes, filters "
        "or fails a task; users complete or discard it in REVIEWING, unlock a finalized "
        "task that is not exported and whose upload is not fully processed, and report "
        "it in any status. Every refused user operation is a 400 and changes nothing."
    ),
    states=SendAIStatus,
    events=SendAIEvent,
    initial=_S.PROCESSING,
    table={
        _S.PROCESSING: {
            _E.ADVANCE: _S.REVIEWING,
            _E.FINISH: _S.COMPLETED,
            _E.FILTER: _S.FILTERED,
            _E.FAIL: _S.FAILED,
            _E.REPORT: _S.PROCESSING,
        },
        _S.REVIEWING: {
            _E.COMPLETE: When(PASSES_VALIDATION, _S.PROCESSING),
            _E.DISCARD: _S.DISCARDED,
            _E.REPORT: _S.REVIEWING,
        },
        _S.COMPLETED: {
            _E.UNLOCK: When(UNLOCKABLE, _S.REVIEWING),
            _E.REPORT: _S.COMPLETED,
            _E.EXPORT: _S.COMPLETED,
        },
        _S.DISCARDED: {
            _E.UNLOCK: When(UNLOCKABLE, _S.REVIEWING),
            _E.REPORT: _S.DISCARDED,
        },
        _S.FILTERED: {
            _E.UNLOCK: When(UNLOCKABLE, _S.REVIEWING),
            _E.REPORT: _S.FILTERED,
        },
        _S.FAILED: {
            _E.REPORT: _S.FAILED,
        },
    },
    refusals=dict.fromkeys(SendAIEvent, InvalidTaskState),
)
"""The Send AI task lifecycle, shared by every Send AI task."""
