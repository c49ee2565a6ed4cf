"""The Claro task value (Claro API reference, "Tasks"), its progress and results.

A :class:`ClaroTask` is frozen: the service changes a task by firing an event on
:data:`~taskcore.claro.lifecycle.CLARO_TASK` and storing ``attrs.evolve(task, ...)``.
Decisions (docs/claro.md):

- ``progress.total`` is ``rowCount`` for ``new_rows`` and the target cell count for
  ``bulk_processing``; ``percentage = floor(100 * completed / total)``, 100 when the total
  is 0 (an empty selection is accepted and has nothing to do).
- ``results`` add up: ``processedCells = successfulCells + failedCells``;
  ``newRowsCreated`` only for ``new_rows`` tasks.
- Timestamps: ``startedAt`` on start; ``completedAt`` on completion; ``cancelledAt`` on
  cancel; ``failedAt`` on failure; ``createdAt <= startedAt <= completedAt``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from taskcore.claro.lifecycle import CLARO_TASK, ClaroStatus
from taskcore.clock import format_instant, parse_instant

__all__ = ["Category", "ClaroTask", "Progress", "Results", "TaskType"]


class TaskType(StrEnum):
    """A Claro task's ``type`` (wire values)."""

    NEW_ROWS = "new_rows"
    BULK_PROCESSING = "bulk_processing"


class Category(StrEnum):
    """What kind of work a task does (Claro reference, "Task Types and Operations").

    The Claro reference's requests carry no category: it belongs to the dataset's workflow.  The
    service records it on every task (from the dataset unless the caller names one);
    it is not part of the documented wire format.
    """

    ENRICHMENT = "enrichment"
    EXTRACTION = "extraction"
    MAP_EXTRACTION = "map_extraction"
    AI_GENERATION = "ai_generation"


@attrs.frozen
class Progress:
    """``{completed, total, percentage}``: targets with an outcome, out of all targets."""

    completed: int
    total: int

    @property
    def percentage(self) -> int:
        """``floor(100 * completed / total)``; 100 when there is nothing to do."""
        if self.total == 0:
            return 100
        return 100 * self.completed // self.total

    def to_wire(self) -> dict[str, int]:
        """The documented ``progress`` object."""
        return {"completed": self.completed, "total": self.total, "percentage": self.percentage}


@attrs.frozen
class Results:
    """The documented ``results`` object of a completed task."""

    successful_cells: int
    failed_cells: int
    new_rows_created: int | None = None

    @property
    def processed_cells(self) -> int:
        """Cells with an outcome: always ``successful_cells + failed_cells``."""
        return self.successful_cells + self.failed_cells

    def to_wire(self) -> dict[str, int]:
        """``{processedCells, successfulCells, failedCells[, newRowsCreated]}``."""
        wire = {
            "processedCells": self.processed_cells,
            "successfulCells": self.successful_cells,
            "failedCells": self.failed_cells,
        }
        if self.new_rows_created is not None:
            wire["newRowsCreated"] = self.new_rows_created
        return wire


def _instant(value: str | None) -> datetime | None:
    return None if value is None else parse_instant(value)


def _text(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


@attrs.frozen
class ClaroTask:
    """One Claro task.

    Attributes:
        task_id: ``task_<uuid>``.
        dataset_id: the dataset it works on (and locks).
        account_id: the tenant that owns it.
        type: ``new_rows`` or ``bulk_processing``.
        category: enrichment, extraction, map extraction or AI generation.
        status: where it is in :data:`CLARO_TASK`.
        created_at: creation instant.
        total: targets (rows for ``new_rows``, cells for bulk).
        row_count: ``rowCount`` (``new_rows`` only).
        process_only_empty: the bulk selection's ``processOnlyEmpty`` (``None`` for a
            new-rows task).  The selection itself is stored once, apart from the task's
            changing state (a bulk request may name 1,000,000 cells), and read by the
            service only when a worker lists targets or the task ends.
        webhook_id: the webhook notified when it ends completed or failed.
        estimate_low, estimate_high: the estimator's duration range, in seconds.
        lease_token: the fencing token of the dataset lease it holds.
        completed: targets with an outcome.
        successful_cells, failed_cells: cell outcomes so far.
        batches: outcome batches recorded so far.
        started_at, completed_at, cancelled_at, failed_at: lifecycle instants.
        failure_reason: why it failed (``lease_expired`` for a lapsed lease).
    """

    task_id: str
    dataset_id: str
    account_id: str
    type: TaskType
    category: Category
    status: ClaroStatus
    created_at: datetime
    total: int
    estimate_low: float
    estimate_high: float
    lease_token: int
    row_count: int | None = None
    process_only_empty: bool | None = None
    webhook_id: str | None = None
    completed: int = 0
    successful_cells: int = 0
    failed_cells: int = 0
    batches: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None

    @property
    def progress(self) -> Progress:
        """Targets with an outcome out of all targets."""
        return Progress(self.completed, self.total)

    @property
    def results(self) -> Results:
        """The outcome counters (documented on the wire only once completed)."""
        return Results(
            self.successful_cells,
            self.failed_cells,
            self.completed if self.type is TaskType.NEW_ROWS else None,
        )

    @property
    def is_terminal(self) -> bool:
        """Whether the task has ended (completed, failed or cancelled)."""
        return CLARO_TASK.is_terminal(self.status)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document a store keeps."""
        return {
            "taskId": self.task_id,
            "datasetId": self.dataset_id,
            "accountId": self.account_id,
            "type": self.type.value,
            "category": self.category.value,
            "status": self.status.value,
            "createdAt": format_instant(self.created_at),
            "total": self.total,
            "estimate": [self.estimate_low, self.estimate_high],
            "leaseToken": self.lease_token,
            "rowCount": self.row_count,
            "processOnlyEmpty": self.process_only_empty,
            "webhookId": self.webhook_id,
            "completed": self.completed,
            "successfulCells": self.successful_cells,
            "failedCells": self.failed_cells,
            "batches": self.batches,
            "startedAt": _text(self.started_at),
            "completedAt": _text(self.completed_at),
            "cancelledAt": _text(self.cancelled_at),
            "failedAt": _text(self.failed_at),
            "failureReason": self.failure_reason,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ClaroTask:
        """Rebuild a task from :meth:`to_doc`'s document."""
        return cls(
            task_id=doc["taskId"],
            dataset_id=doc["datasetId"],
            account_id=doc["accountId"],
            type=TaskType(doc["type"]),
            category=Category(doc["category"]),
            status=ClaroStatus(doc["status"]),
            created_at=parse_instant(doc["createdAt"]),
            total=doc["total"],
            estimate_low=doc["estimate"][0],
            estimate_high=doc["estimate"][1],
            lease_token=doc["leaseToken"],
            row_count=doc["rowCount"],
            process_only_empty=doc["processOnlyEmpty"],
            webhook_id=doc["webhookId"],
            completed=doc["completed"],
            successful_cells=doc["successfulCells"],
            failed_cells=doc["failedCells"],
            batches=doc["batches"],
            started_at=_instant(doc["startedAt"]),
            completed_at=_instant(doc["completedAt"]),
            cancelled_at=_instant(doc["cancelledAt"]),
            failed_at=_instant(doc["failedAt"]),
            failure_reason=doc["failureReason"],
        )
