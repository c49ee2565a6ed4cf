"""The Chunkr API's errors, on taskcore's shared :class:`~taskcore.errors.TaskcoreError`.

The Chunkr server answers every refusal with a plain-text body (the Chunkr reference's
``Accept: text/plain``); ``str(error)`` is that body, word for word (docs/chunkr.md,
"Errors").  Codes are taskcore's, prefixed ``CHUNKR_`` (the Chunkr API documents none).
Bad input is the shared :class:`~taskcore.errors.ValidationError` (400) and a missing or
unknown key the shared :class:`~taskcore.errors.Unauthorized` (401).  Raising any of
these leaves every task and store as it was.
"""

from __future__ import annotations

import math

from taskcore.errors import IllegalTransition, NotFound, TaskcoreError

__all__ = [
    "ChunkrTaskNotFound",
    "ConfigurationUnchanged",
    "TaskNotCancellable",
    "TaskNotDeletable",
    "TaskNotUpdatable",
    "UsageLimitExceeded",
]


class ChunkrTaskNotFound(NotFound):
    """``Task not found`` (404): no such task for this user, another user's, deleted,
    or expired.

    Attributes:
        task_id: the id the caller named.
    """

    code = "CHUNKR_TASK_NOT_FOUND"
    title = "Task not found"

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__("Task not found")


class _Refused(IllegalTransition):
    """An operation the task's status does not allow: 400 ``Task cannot be <verb>:
    status is <status>``."""

    status = 400
    verb = ""

    def _default_message(self) -> str:
        return f"Task cannot be {self.verb}: status is {self.state}"

    @property
    def current_status(self) -> str:
        """The task's status when the operation was refused (wire value)."""
        return self.state


class TaskNotCancellable(_Refused):
    """Cancel of a task that is not ``Starting``."""

    code = "CHUNKR_TASK_NOT_CANCELLABLE"
    title = "Task cannot be cancelled"
    verb = "cancelled"


class TaskNotUpdatable(_Refused):
    """Update of a task that is not ``Succeeded`` or ``Failed``."""

    code = "CHUNKR_TASK_NOT_UPDATABLE"
    title = "Task cannot be updated"
    verb = "updated"


class TaskNotDeletable(_Refused):
    """Delete of a task that is ``Starting`` or ``Processing``."""

    code = "CHUNKR_TASK_NOT_DELETABLE"
    title = "Task cannot be deleted"
    verb = "deleted"


class ConfigurationUnchanged(TaskcoreError):
    """An update whose merged configuration equals the current one (400); an empty
    update is one."""

    code = "CHUNKR_CONFIGURATION_UNCHANGED"
    status = 400
    title = "Configuration unchanged"

    def __init__(self) -> None:
        super().__init__(
            "Task cannot be updated: new configuration must be different from the current one"
        )


class UsageLimitExceeded(TaskcoreError):
    """``Usage limit exceeded`` (429): the user created the tasks its limit allows.

    Attributes:
        user_id: the user over the limit.
        retry_after_seconds: whole seconds until a create may succeed (at least 1; the
            HTTP ``Retry-After`` header).
    """

    code = "CHUNKR_USAGE_LIMIT_EXCEEDED"
    status = 429
    title = "Usage limit exceeded"

    def __init__(self, user_id: str, retry_after_seconds: float) -> None:
        self.user_id = user_id
        self.retry_after_seconds: int = max(1, math.ceil(retry_after_seconds))
        super().__init__("Usage limit exceeded")

    @property
    def retry_after(self) -> int:
        """:attr:`retry_after_seconds`."""
        return self.retry_after_seconds
