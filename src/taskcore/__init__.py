"""taskcore: a reference implementation of the task lifecycles of public task APIs.

Implemented today: the Claro dataset tasks (``taskcore.claro``).  The public surface is
re-exported here; API-specific names live in their subpackages.  See README.md and docs/.

``__version__`` is the one place the version is written: the build reads it from here.
"""

from taskcore.clock import Clock, ManualClock, SystemClock, format_instant, parse_instant
from taskcore.errors import (
    CATALOGUE,
    DatasetLocked,
    DatasetNotFound,
    IdCollision,
    IdempotencyConflict,
    IllegalTransition,
    InternalError,
    InvalidSelection,
    LeaseLost,
    LeaseNotHeld,
    LifecycleDefinitionError,
    NotFound,
    QuotaExceeded,
    StaleToken,
    StoreBusy,
    TaskcoreError,
    TaskNotCancellable,
    TaskNotFound,
    Unauthorized,
    ValidationError,
    WebhookNotFound,
)
from taskcore.ids import IdFactory, SeededIds, UuidIds
from taskcore.lifecycle import Guard, Lifecycle, Row, When

__version__ = "0.1.0.dev0"

__all__ = [
    "CATALOGUE",
    "Clock",
    "DatasetLocked",
    "DatasetNotFound",
    "Guard",
    "IdCollision",
    "IdFactory",
    "IdempotencyConflict",
    "IllegalTransition",
    "InternalError",
    "InvalidSelection",
    "LeaseLost",
    "LeaseNotHeld",
    "Lifecycle",
    "LifecycleDefinitionError",
    "ManualClock",
    "NotFound",
    "QuotaExceeded",
    "Row",
    "SeededIds",
    "StaleToken",
    "StoreBusy",
    "SystemClock",
    "TaskNotCancellable",
    "TaskNotFound",
    "TaskcoreError",
    "Unauthorized",
    "UuidIds",
    "ValidationError",
    "WebhookNotFound",
    "When",
    "format_instant",
    "parse_instant",
]
