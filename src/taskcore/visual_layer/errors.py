"""The Visual Layer Task Manager API's errors, on taskcore's shared
:class:`~taskcore.errors.TaskcoreError`.

Visual Layer answers every refusal with ``{"detail": "..."}`` (Visual Layer docs,
"Error Handling"); :meth:`VisualLayerError.to_wire` and the ``to_wire`` of every error
here give that body.  Codes are taskcore's, prefixed ``VL_`` (the Visual Layer
documentation names none).  Statuses are the documented ones (docs/visual-layer.md,
"Errors"): 404 for a task the caller cannot see, 409 for a refused abort, 400 for a
refused retry, 422 for a bad list parameter.  Raising any of these changes nothing.
"""

from __future__ import annotations

from typing import Any

from taskcore.errors import IllegalTransition, NotFound, TaskcoreError

__all__ = [
    "InvalidParameter",
    "TaskNotAbortable",
    "TaskNotRetryable",
    "VisualLayerDatasetNotFound",
    "VisualLayerTaskNotFound",
    "detail_body",
]


def detail_body(error: TaskcoreError) -> dict[str, Any]:
    """The documented Visual Layer error body for ``error``: ``{"detail": message}``."""
    return {"detail": str(error)}


class VisualLayerTaskNotFound(NotFound):
    """``Task not found`` (404): no such task, or one on a dataset the caller cannot see.

    Attributes:
        task_id: the id the caller named.
    """

    code = "VL_TASK_NOT_FOUND"
    title = "Task not found"

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__("Task not found")


class VisualLayerDatasetNotFound(NotFound):
    """``Dataset not found`` (404): no such dataset, or one the user cannot see.

    Attributes:
        dataset_id: the id named.
    """

    code = "VL_DATASET_NOT_FOUND"
    title = "Dataset not found"

    def __init__(self, dataset_id: str) -> None:
        self.dataset_id = dataset_id
        super().__init__("Dataset not found")


class TaskNotAbortable(IllegalTransition):
    """Abort of a task that is not a dataset creation, is in its commit phase, or has
    ended (409 Conflict)."""

    code = "VL_TASK_NOT_ABORTABLE"
    status = 409
    title = "Task cannot be aborted"

    def _default_message(self) -> str:
        if self.failed_guards:
            return (
                f"Task cannot be aborted: only dataset creation tasks outside the commit "
                f"phase can be aborted (status {self.state})"
            )
        return f"Task cannot be aborted: status is {self.state}"


class TaskNotRetryable(IllegalTransition):
    """Retry of a task that is not a failed or aborted dataset creation (400)."""

    code = "VL_TASK_NOT_RETRYABLE"
    status = 400
    title = "Task cannot be retried"

    def _default_message(self) -> str:
        if self.failed_guards:
            return (
                f"Task cannot be retried: only dataset creation tasks can be retried "
                f"(status {self.state})"
            )
        return f"Task cannot be retried: status is {self.state}"


class InvalidParameter(TaskcoreError, ValueError):
    """A query parameter that is not valid (422); the message names the parameter.

    Attributes:
        field: the parameter's name (``page_size``).
    """

    code = "VL_INVALID_PARAMETER"
    status = 422
    title = "Invalid parameter"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
