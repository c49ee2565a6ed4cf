"""Send AI's own errors (Send AI Task Management API, "Error Handling").

The reference lists the statuses 400 ("Invalid request or task state"), 401 ("Invalid
API key") and 404 ("Task not found") and names no error codes; taskcore's codes and the
body ``{"code", "message"}`` are documented in docs/sendai.md, "Errors".  Not-found and
unauthorized answers reuse the shared :class:`~taskcore.errors.TaskNotFound` and
:class:`~taskcore.errors.Unauthorized`; a malformed body is the shared
:class:`~taskcore.errors.ValidationError`.  Raising any of them changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from taskcore.errors import IllegalTransition, NotFound

__all__ = ["InvalidTaskState", "ProjectNotFound", "TaskValidationFailed", "UploadNotFound"]

_PAST = {
    "complete": "completed",
    "discard": "discarded",
    "unlock": "unlocked",
    "export": "exported",
    "report": "reported",
    "advance": "advanced",
    "finish": "finished",
    "filter": "filtered",
    "fail": "failed",
}
_REASONS = {
    "exported": "it has been exported",
    "upload_fully_processed": "its upload is fully processed",
}


class InvalidTaskState(IllegalTransition):
    """The task's status does not allow the operation (400; nothing changed).

    Attributes:
        current_status: the task's status when the call was refused (wire value).
        reason: why a guarded row did not hold (``"exported"`` or
            ``"upload_fully_processed"`` for ``unlock``), or ``None``.
    """

    code = "INVALID_TASK_STATE"
    status = 400
    title = "Invalid task state"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("currentStatus", "state"),
        ("reason", "reason"),
    )

    def __init__(self, *, reason: str | None = None, **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(**kwargs)

    def _default_message(self) -> str:
        past = _PAST.get(self.event, self.event)
        if self.reason in _REASONS:
            return f"Task cannot be {past}: {_REASONS[self.reason]}"
        return f"Task cannot be {past}: status is {self.state}"

    @property
    def current_status(self) -> str:
        """The task's status when the call was refused (wire value)."""
        return self.state


class TaskValidationFailed(InvalidTaskState):
    """``complete``'s validation failed; the task stays REVIEWING (400; nothing changed).

    Attributes:
        failed_fields: the meta fields the step's validation rule found missing or
            empty, in the rule's order.
    """

    code = "TASK_VALIDATION_FAILED"
    status = 400
    title = "Task validation failed"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("currentStatus", "state"),
        ("failedFields", "failed_fields"),
    )

    def __init__(self, *, failed_fields: Sequence[str], **kwargs: Any) -> None:
        self.failed_fields: tuple[str, ...] = tuple(failed_fields)
        super().__init__(**kwargs)

    def _default_message(self) -> str:
        names = ", ".join(self.failed_fields)
        return f"Task validation failed: missing or empty meta fields: {names}"


class ProjectNotFound(NotFound):
    """No project with this id in the caller's team (404)."""

    code = "PROJECT_NOT_FOUND"
    title = "Project not found"

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        super().__init__(f"Project not found: {project_id}")


class UploadNotFound(NotFound):
    """No upload with this id in the caller's team (404)."""

    code = "UPLOAD_NOT_FOUND"
    title = "Upload not found"

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        super().__init__(f"Upload not found: {upload_id}")
