"""Every error taskcore raises, as data.

One root, :class:`TaskcoreError`.  Each concrete error has

- a stable ``code`` (the API's own code where the API documents one, such as Claro's
  ``DATASET_LOCKED``; otherwise taskcore's, such as ``VALIDATION_ERROR``),
- an HTTP ``status`` (Claro documents none; ours are in docs/claro.md),
- a short ``title`` (the ``"error"`` field of Claro's error body),
- the offending values as attributes (``active_task_id``, ``current_status``, ...),
- ``details``: those values as the wire shows them (camelCase keys, as in the vendors' examples),
- an exact, human ``str()``.

:data:`CATALOGUE` maps every code to its class; ``docs/errors.md`` is generated from it.
Raising any of these errors leaves every task, lock and store as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "CATALOGUE",
    "DatasetLocked",
    "DatasetNotFound",
    "GridIdNotFound",
    "IdCollision",
    "IdempotencyConflict",
    "IllegalTransition",
    "InternalError",
    "InvalidSelection",
    "LeaseLost",
    "LeaseNotHeld",
    "LifecycleDefinitionError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RequestTimeout",
    "RouteNotFound",
    "StaleToken",
    "StoreBusy",
    "TaskNotCancellable",
    "TaskNotFound",
    "TaskcoreError",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationError",
    "WebhookNotFound",
]

CATALOGUE: dict[str, type[TaskcoreError]] = {}
"""Every error code taskcore can produce, mapped to the class that carries it."""


class TaskcoreError(Exception):
    """Root of every error taskcore raises.

    Attributes:
        message: the human sentence (also ``details["message"]`` on the wire where the
            error has one).
    """

    code: ClassVar[str] = "TASKCORE_ERROR"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = ()
    """``(details key, attribute)`` pairs shown in ``details`` besides ``message``."""
    wire_message: ClassVar[bool] = True
    """Whether ``details`` carries ``message`` (Claro's not-found bodies do not)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that declares its own code joins the catalogue; one that only
        # refines behaviour (an abstract family such as NotFound) does not.
        if "code" in cls.__dict__:
            if cls.code in CATALOGUE:  # pragma: no cover - a programming error at import
                raise TypeError(f"error code {cls.code} declared twice")
            CATALOGUE[cls.code] = cls

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    @property
    def retry_after(self) -> int | None:
        """Whole seconds after which a retry may succeed (HTTP ``Retry-After``), or
        ``None`` when the error says nothing about retrying (the default)."""
        return None

    @property
    def details(self) -> dict[str, Any]:
        """The error's values as the wire shows them (camelCase keys).

        Built from :attr:`wire_details`; a value that is ``None`` or empty is left out,
        as the vendors' examples leave out fields that have no value.  Tuples become lists.
        """
        details: dict[str, Any] = {"message": self.message} if self.wire_message else {}
        for key, attribute in self.wire_details:
            value = getattr(self, attribute)
            if value is None or value == ():
                continue
            details[key] = list(value) if isinstance(value, tuple) else value
        return details

    def to_wire(self) -> dict[str, Any]:
        """The documented Claro error body: ``{"error", "code", "details"}``."""
        return {"error": self.title, "code": self.code, "details": self.details}


class LifecycleDefinitionError(TaskcoreError):
    """A lifecycle table is malformed (a programming error, found at import time)."""

    code = "LIFECYCLE_DEFINITION_ERROR"
    status = 500
    title = "Invalid lifecycle definition"


class InternalError(TaskcoreError):
    """Something unexpected went wrong while answering; the request may not be at fault.

    Routers answer with it when a handler raises anything that is not a
    :class:`TaskcoreError`.  Its message is fixed and generic: what went wrong is logged
    (logger ``taskcore.http``), never shown to the caller.
    """

    code = "INTERNAL_ERROR"
    status = 500
    title = "Internal error"

    def __init__(self) -> None:
        super().__init__("An unexpected error occurred; it has been logged")


class ValidationError(TaskcoreError, ValueError):
    """A request is malformed: a wrong JSON type, an unknown field, a value out of range.

    Attributes:
        field: the offending field's wire name, or ``None`` for the body as a whole.
    """

    code = "VALIDATION_ERROR"
    status = 400
    title = "Invalid request"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("field", "field"),)

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthorized(TaskcoreError):
    """The caller's credentials are missing, unknown or lack the needed scope."""

    code = "UNAUTHORIZED"
    status = 401
    title = "Unauthorized"


class RouteNotFound(TaskcoreError, LookupError):
    """No route of the API matches the request's path."""

    code = "NOT_FOUND"
    status = 404
    title = "Not found"

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"No route for {method} {path}")


class MethodNotAllowed(TaskcoreError):
    """The path exists, but not with this method.

    Attributes:
        allowed: the methods the path accepts, comma-separated (the ``Allow`` header).
    """

    code = "METHOD_NOT_ALLOWED"
    status = 405
    title = "Method not allowed"

    def __init__(self, method: str, path: str, allowed: str) -> None:
        self.method = method
        self.path = path
        self.allowed = allowed
        super().__init__(f"{method} is not allowed on {path}; allowed: {allowed}")


class PayloadTooLarge(TaskcoreError):
    """A request body is larger than the server accepts (HTTP 413).  Nothing was read
    past the limit and nothing changed.

    Raised by the ASGI and WSGI adapters (docs/server.md, "Adapters") while they read a
    body, before any service sees the request.

    Attributes:
        limit: the largest body accepted, in bytes.
    """

    code = "PAYLOAD_TOO_LARGE"
    status = 413
    title = "Payload too large"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("limitBytes", "limit"),)

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"Request body is larger than {limit} bytes")


class RequestTimeout(TaskcoreError):
    """A request body did not arrive in time (HTTP 408).  Nothing changed.

    Raised by the ASGI adapter (docs/server.md, "Adapters") when a client sends its body
    too slowly; what came is dropped.

    Attributes:
        timeout_seconds: how long the whole body may take, in seconds.
    """

    code = "REQUEST_TIMEOUT"
    status = 408
    title = "Request timeout"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("timeoutSeconds", "timeout_seconds"),)

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(f"The request body did not arrive within {timeout_seconds:g} seconds")


class UnsupportedMediaType(TaskcoreError):
    """A request body whose ``Content-Type`` the API does not parse (HTTP 415).  Nothing
    changed.

    Attributes:
        media_type: the media type the request declared (``""`` when it declared none).
        expected: the media type the API takes (``"application/json"``).
    """

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415
    title = "Unsupported media type"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("mediaType", "media_type"),
        ("expected", "expected"),
    )

    def __init__(self, media_type: str, expected: str = "application/json") -> None:
        self.media_type = media_type
        self.expected = expected
        declared = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
        super().__init__(f"Request body must be {expected}; the request declared {declared}")


class IdempotencyConflict(TaskcoreError):
    """An idempotency key reused for a different request.

    Attributes:
        key: the reused key.
        task_id: the task the key already created.
    """

    code = "IDEMPOTENCY_CONFLICT"
    status = 409
    title = "Idempotency key reused"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("idempotencyKey", "key"),
        ("taskId", "task_id"),
    )

    def __init__(self, key: str, task_id: str) -> None:
        self.key = key
        self.task_id = task_id
        super().__init__(
            f"Idempotency key {key!r} was already used for a different request (task {task_id})"
        )


class IllegalTransition(TaskcoreError):
    """An event that the task's current state does not accept.  Nothing changed.

    Attributes:
        lifecycle: the lifecycle's name (``"claro.task"``).
        state: the current state's wire value.
        event: the refused event's wire value.
        allowed: wire values of the events the current state does accept, sorted.
        failed_guards: names of the guards that refused, when a row exists but none of
            its guards held (empty when the state has no row for the event at all).
    """

    code = "ILLEGAL_TRANSITION"
    status = 409
    title = "Illegal transition"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("lifecycle", "lifecycle"),
        ("currentStatus", "state"),
        ("event", "event"),
        ("allowedEvents", "allowed"),
        ("failedGuards", "failed_guards"),
    )

    def __init__(
        self,
        *,
        lifecycle: str,
        state: str,
        event: str,
        allowed: Sequence[str],
        failed_guards: Sequence[str] = (),
        message: str | None = None,
    ) -> None:
        self.lifecycle = lifecycle
        self.state = state
        self.event = event
        self.allowed: tuple[str, ...] = tuple(allowed)
        self.failed_guards: tuple[str, ...] = tuple(failed_guards)
        if message is None:
            message = self._default_message()
        super().__init__(message)

    def _default_message(self) -> str:
        if self.failed_guards:
            return (
                f"{self.lifecycle}: event {self.event!r} refused in state {self.state!r}: "
                f"guard {', '.join(self.failed_guards)} does not hold"
            )
        allowed = ", ".join(self.allowed) if self.allowed else "none"
        return (
            f"{self.lifecycle}: event {self.event!r} is not allowed in state "
            f"{self.state!r}; allowed there: {allowed}"
        )


class TaskNotCancellable(IllegalTransition):
    """Claro: cancel of a task that is already completed, failed or cancelled.

    The documented body carries ``details.message`` and ``details.currentStatus``.
    """

    code = "TASK_NOT_CANCELLABLE"
    status = 409
    title = "Cannot cancel task"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("currentStatus", "state"),)

    def _default_message(self) -> str:
        # The Claro reference's message for completed/failed; ours for cancelled (docs/claro.md).
        if self.state == "cancelled":
            return "Task is already cancelled"
        return "Task is already completed or failed"

    @property
    def current_status(self) -> str:
        """The task's status when the cancel was refused (wire value)."""
        return self.state


class NotFound(TaskcoreError, LookupError):
    """Something the caller named does not exist, or belongs to another tenant.

    Claro's not-found bodies carry only the id (``{"taskId": ...}``), no message.
    """

    status = 404
    wire_message = False


class DatasetNotFound(NotFound):
    """Claro ``DATASET_NOT_FOUND``: no such dataset for this caller."""

    code = "DATASET_NOT_FOUND"
    title = "Dataset not found"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("datasetId", "dataset_id"),)

    def __init__(self, dataset_id: str) -> None:
        self.dataset_id = dataset_id
        super().__init__(f"Dataset {dataset_id} not found")


class TaskNotFound(NotFound):
    """Claro ``TASK_NOT_FOUND``: no such task under this dataset for this caller."""

    code = "TASK_NOT_FOUND"
    title = "Task not found"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("taskId", "task_id"),)

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"Task {task_id} not found")


class WebhookNotFound(NotFound):
    """Claro ``WEBHOOK_NOT_FOUND``: the ``webhookId`` names no registered webhook."""

    code = "WEBHOOK_NOT_FOUND"
    title = "Webhook not found"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("webhookId", "webhook_id"),)

    def __init__(self, webhook_id: str) -> None:
        self.webhook_id = webhook_id
        super().__init__(f"Webhook {webhook_id} not found")


class DatasetLocked(TaskcoreError):
    """Claro ``DATASET_LOCKED``: another task holds the dataset's lease.

    Attributes:
        dataset_id: the locked dataset.
        active_task_id: the task holding the lease.
        expires_at: when that lease lapses unless renewed (ISO 8601), if known.
    """

    code = "DATASET_LOCKED"
    status = 409
    title = "Dataset is locked"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("activeTaskId", "active_task_id"),)

    def __init__(
        self, *, dataset_id: str, active_task_id: str, expires_at: str | None = None
    ) -> None:
        self.dataset_id = dataset_id
        self.active_task_id = active_task_id
        self.expires_at = expires_at
        # The Claro reference's exact details.message.
        super().__init__("Dataset is currently being processed by another task")

    def __str__(self) -> str:
        return f"Dataset {self.dataset_id} is locked by task {self.active_task_id}"


class InvalidSelection(TaskcoreError, ValueError):
    """Claro ``INVALID_SELECTION``: a bulk selection that cannot be honoured.

    Attributes:
        field: the offending field (``"cellIds"``, ``"rowIds"``, ``"columnIds"``), if one.
        unknown_ids: the ids that name nothing in the dataset, in request order.
    """

    code = "INVALID_SELECTION"
    status = 400
    title = "Invalid cell selection"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("field", "field"),
        ("unknownIds", "unknown_ids"),
    )

    COMBINED_MESSAGE: ClassVar[str] = (
        "Cannot combine cellIds with rowIds or columnIds. Use either cellIds alone, "
        "or rowIds/columnIds, or no IDs to process all empty cells"
    )
    """The Claro reference's exact message for ``cellIds`` combined with rows or columns."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        unknown_ids: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.unknown_ids: tuple[str, ...] = tuple(unknown_ids)


class QuotaExceeded(TaskcoreError):
    """Claro ``QUOTA_EXCEEDED``: the account created its allowed number of tasks.

    Attributes:
        account_id: the account over its limit.
        limit: tasks allowed per window.
        window_seconds: the window's length.
        retry_after_seconds: whole seconds until the oldest counted creation leaves the
            window, rounded up, at least 1 (also :attr:`retry_after`, the HTTP
            ``Retry-After`` header).
    """

    code = "QUOTA_EXCEEDED"
    status = 429
    title = "Task creation limit reached"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("limit", "limit"),
        ("windowSeconds", "window_seconds"),
        ("retryAfterSeconds", "retry_after_seconds"),
    )

    def __init__(
        self,
        *,
        account_id: str,
        limit: int,
        window_seconds: float,
        retry_after_seconds: float,
    ) -> None:
        self.account_id = account_id
        self.limit = limit
        self.window_seconds = window_seconds
        self.retry_after_seconds: int = max(1, math.ceil(retry_after_seconds))
        super().__init__(
            f"Task creation limit reached: {limit} tasks per {window_seconds:g} seconds"
        )

    @property
    def retry_after(self) -> int:
        """:attr:`retry_after_seconds`: whole seconds, rounded up, at least 1."""
        return self.retry_after_seconds


class LeaseLost(TaskcoreError):
    """A worker wrote for a task whose dataset lease it no longer holds.  Nothing changed.

    The lease lapsed (the worker stopped renewing it for longer than the lease's time to
    live, so the task failed with ``lease_expired``), or the token presented is not the
    task's.  The worker must stop: whatever it still holds is stale.

    Attributes:
        task_id: the task written for.
        dataset_id: the dataset whose lease was lost.
        token: the fencing token presented.
        reason: ``"expired"`` or ``"wrong_token"``.
    """

    code = "LEASE_LOST"
    status = 409
    title = "Lease lost"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("taskId", "task_id"),
        ("datasetId", "dataset_id"),
        ("token", "token"),
        ("reason", "reason"),
    )

    def __init__(self, *, task_id: str, dataset_id: str, token: int, reason: str) -> None:
        self.task_id = task_id
        self.dataset_id = dataset_id
        self.token = token
        self.reason = reason
        why = {
            "expired": "the lease expired and the task failed (lease_expired)",
            "wrong_token": "the token is not the one the task was granted",
        }.get(reason, reason)
        super().__init__(
            f"Task {task_id} lost its lease on dataset {dataset_id} (token {token}): {why}"
        )


class IdCollision(TaskcoreError):
    """The id factory kept drawing ids that are already taken (a misconfigured factory,
    such as a seeded one restarted).  Nothing changed; nothing was overwritten.

    Attributes:
        kind: what the id was for (``"task"``, ``"dataset"``, ``"webhook"``).
        attempts: how many ids were drawn.
    """

    code = "ID_COLLISION"
    status = 500
    title = "Id collision"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (("kind", "kind"),)

    def __init__(self, kind: str, attempts: int) -> None:
        self.kind = kind
        self.attempts = attempts
        super().__init__(f"{attempts} {kind} ids in a row were already taken")


def catalogue() -> Mapping[str, type[TaskcoreError]]:
    """Every error code, sorted, mapped to its class (a read-only view for docs)."""
    return dict(sorted(CATALOGUE.items()))


# --- Dataset grid (issue 3) -------------------------------------------------------------
# Claro documents no code for a row, column or cell id that a *grid operation* (not a bulk
# selection: that is INVALID_SELECTION) does not know; GRID_ID_NOT_FOUND is taskcore's.


class GridIdNotFound(NotFound):
    """A dataset grid has no row, column or cell with this id.  Nothing changed.

    Attributes:
        kind: ``"row"``, ``"column"`` or ``"cell"``.
        grid_id: the unknown id.
    """

    code = "GRID_ID_NOT_FOUND"
    title = "Grid id not found"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("kind", "kind"),
        ("id", "grid_id"),
    )
    wire_message = True

    def __init__(self, kind: str, grid_id: str) -> None:
        self.kind = kind
        self.grid_id = grid_id
        super().__init__(f"Dataset has no {kind} with id {grid_id!r}")


# --- Locks (docs/locks.md) -------------------------------------------------------------
# taskcore's own codes: Claro documents only DATASET_LOCKED.  Both are 409 like it: the
# request is well formed but conflicts with the lock's current state.


class LeaseNotHeld(TaskcoreError):
    """A renew, release-check or fenced write names a lease that does not hold the resource.

    The token is not older than the resource's latest grant, but no lease with that token
    holds the resource now: it was released, or was never issued.  Nothing changed.

    Attributes:
        resource_id: the resource (dataset) named.
        token: the fencing token presented.
        active_task_id: the task holding the resource now, or ``None`` when it is free.
    """

    code = "LEASE_NOT_HELD"
    status = 409
    title = "Lease not held"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("resourceId", "resource_id"),
        ("token", "token"),
        ("activeTaskId", "active_task_id"),
    )

    def __init__(self, *, resource_id: str, token: int, active_task_id: str | None) -> None:
        self.resource_id = resource_id
        self.token = token
        self.active_task_id = active_task_id
        holder = "nobody" if active_task_id is None else f"task {active_task_id}"
        super().__init__(f"Token {token} holds no lease on {resource_id}; it is held by {holder}")


class StaleToken(TaskcoreError):
    """A fencing token older than the resource's latest grant.  Nothing changed.

    The lease it belonged to was released or taken over after it expired; whoever holds
    it must stop writing.

    Attributes:
        resource_id: the resource (dataset) named.
        token: the stale token presented.
        current_token: the latest token granted on the resource.
    """

    code = "STALE_TOKEN"
    status = 409
    title = "Stale fencing token"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("resourceId", "resource_id"),
        ("token", "token"),
        ("currentToken", "current_token"),
    )

    def __init__(self, *, resource_id: str, token: int, current_token: int) -> None:
        self.resource_id = resource_id
        self.token = token
        self.current_token = current_token
        super().__init__(
            f"Token {token} on {resource_id} is stale: the latest token granted is {current_token}"
        )


# --- Stores (docs/locks.md, "What they rest on") ----------------------------------------
# taskcore's own code: a store that cannot get its lock in time is unavailable for now,
# not broken, so the answer is 503 with a Retry-After.


class StoreBusy(TaskcoreError):
    """The store's lock stayed busy past its timeout.  Nothing changed: the unit of work
    that met it was rolled back whole.

    Retrying later is safe and usually succeeds: another unit of work (in this process or
    another one on the same database file) held the lock.

    Attributes:
        retry_after_seconds: whole seconds (at least 1) after which a retry is advised;
            the ``Retry-After`` header and ``details.retryAfterSeconds``.
    """

    code = "STORE_BUSY"
    status = 503
    title = "Service unavailable"
    wire_details: ClassVar[tuple[tuple[str, str], ...]] = (
        ("retryAfterSeconds", "retry_after_seconds"),
    )

    def __init__(self, message: str = "The store is busy", *, retry_after_seconds: int = 1) -> None:
        if isinstance(retry_after_seconds, bool) or not isinstance(retry_after_seconds, int):
            raise TypeError("retry_after_seconds must be a whole number of seconds")
        if retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)

    @property
    def retry_after(self) -> int:
        """Seconds after which a retry is advised (the ``Retry-After`` header's value)."""
        return self.retry_after_seconds
