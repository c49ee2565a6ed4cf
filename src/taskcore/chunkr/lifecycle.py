"""The Chunkr parse-task lifecycle (Chunkr API, ``TaskApi``: create, get, update,
cancel and delete a task).

States are the documented statuses ``Starting``, ``Processing``, ``Succeeded``,
``Failed`` and ``Cancelled``.  Events are the operations that move a task: the user
*creates* it (the initial ``Starting``), *updates*, *cancels* or *deletes* it; a worker
*starts* (picks it up), *succeeds* or *fails* it.

The update cycle is modelled in the table.  An update of a ``Succeeded`` or ``Failed``
task queues a *re-run* (``Starting``, "Task queued for update") that remembers the
previous status, message and configuration.  Whether a task is a re-run, and of what,
is the context the guards read (:class:`Attempt`): the table itself says that
cancelling a queued re-run, or failing a re-run, leads back to the status it came from
(the Chunkr reference: "For updating tasks: Task will revert to the previous state"),
while cancelling or failing a new task leads to ``Cancelled`` or ``Failed``.

Decisions where the Chunkr reference is silent (docs/chunkr.md):

- Cancel only from ``Starting`` (the reference: "Task must have status Starting").
- Update only from ``Succeeded`` and ``Failed``.
- Delete from ``Succeeded``, ``Failed`` and ``Cancelled``: the reference lists the first
  two, but a cancelled task could otherwise never be removed.  ``delete`` is a
  self-loop: the row says the task may be removed from that state; the service then
  removes it.
- A worker fails a task only while ``Processing`` (it fails what it picked up).
- No state is terminal in the table's sense: every ended state may still be deleted,
  and ``Succeeded``/``Failed`` may be updated.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from taskcore.chunkr.errors import TaskNotCancellable, TaskNotDeletable, TaskNotUpdatable
from taskcore.lifecycle import Guard, Lifecycle, When

__all__ = [
    "CHUNKR_TASK",
    "RERUN_OF_FAILED",
    "RERUN_OF_SUCCEEDED",
    "Attempt",
    "ChunkrEvent",
    "ChunkrStatus",
]


class ChunkrStatus(StrEnum):
    """A Chunkr task's ``status`` (wire values)."""

    STARTING = "Starting"
    PROCESSING = "Processing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class ChunkrEvent(StrEnum):
    """What moves a Chunkr task."""

    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"
    UPDATE = "update"
    DELETE = "delete"


class Attempt(Protocol):
    """The context the guards read: whether the current run is a re-run, and of what."""

    @property
    def rerun_of(self) -> ChunkrStatus | None:
        """The status the task had before the update that queued this run, or ``None``
        for a new task's first run."""
        ...


RERUN_OF_SUCCEEDED: Guard[Attempt] = Guard(
    "rerun_of_succeeded",
    lambda attempt: attempt.rerun_of == ChunkrStatus.SUCCEEDED,
    "the run was queued by an update of a Succeeded task (reverting leads back there)",
)
RERUN_OF_FAILED: Guard[Attempt] = Guard(
    "rerun_of_failed",
    lambda attempt: attempt.rerun_of == ChunkrStatus.FAILED,
    "the run was queued by an update of a Failed task (reverting leads back there)",
)

_S, _E = ChunkrStatus, ChunkrEvent

CHUNKR_TASK: Lifecycle[ChunkrStatus, ChunkrEvent, Attempt] = Lifecycle(
    "chunkr.task",
    title="Chunkr parse task",
    description=(
        "A Chunkr parse task (Chunkr API, `TaskApi`). Create queues it (`Starting`); a "
        "worker starts it (`Processing`) and succeeds or fails it. An update of a "
        "`Succeeded` or `Failed` task queues a re-run (`Starting`) that remembers the "
        "previous status, message and configuration: cancelling it, or failing the "
        "re-run, leads back to that status (guards `rerun_of_succeeded` and "
        "`rerun_of_failed`); a new task goes to `Cancelled` or `Failed` instead. Cancel "
        "only from `Starting`; delete from `Succeeded`, `Failed` and `Cancelled`."
    ),
    states=ChunkrStatus,
    events=ChunkrEvent,
    initial=_S.STARTING,
    table={
        _S.STARTING: {
            _E.START: _S.PROCESSING,
            _E.CANCEL: (
                When(RERUN_OF_SUCCEEDED, _S.SUCCEEDED),
                When(RERUN_OF_FAILED, _S.FAILED),
                _S.CANCELLED,
            ),
        },
        _S.PROCESSING: {
            _E.SUCCEED: _S.SUCCEEDED,
            _E.FAIL: (When(RERUN_OF_SUCCEEDED, _S.SUCCEEDED), _S.FAILED),
        },
        _S.SUCCEEDED: {
            _E.UPDATE: _S.STARTING,
            _E.DELETE: _S.SUCCEEDED,
        },
        _S.FAILED: {
            _E.UPDATE: _S.STARTING,
            _E.DELETE: _S.FAILED,
        },
        _S.CANCELLED: {
            _E.DELETE: _S.CANCELLED,
        },
    },
    refusals={
        _E.CANCEL: TaskNotCancellable,
        _E.UPDATE: TaskNotUpdatable,
        _E.DELETE: TaskNotDeletable,
    },
)
"""The Chunkr task lifecycle, shared by every Chunkr task."""
