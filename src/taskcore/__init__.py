"""taskcore: the task lifecycles of four public task APIs, as a reference implementation.

The public surface is re-exported here; API-specific names live in their subpackages
(``taskcore.claro``).  See README.md and docs/.
"""

from taskcore.clock import Clock, ManualClock, SystemClock, format_instant, parse_instant
from taskcore.errors import (
    CATALOGUE,
    DatasetLocked,
    DatasetNotFound,
    IllegalTransition,
    InvalidSelection,
    LeaseNotHeld,
    LifecycleDefinitionError,
    NotFound,
    QuotaExceeded,
    StaleToken,
    TaskcoreError,
    TaskNotCancellable,
    TaskNotFound,
    Unauthorized,
    ValidationError,
    WebhookNotFound,
)
from taskcore.ids import IdFactory, SeededIds, UuidIds
from taskcore.lifecycle import Guard, Lifecycle, Row, When

__all__ = [
    "CATALOGUE",
    "Clock",
    "DatasetLocked",
    "DatasetNotFound",
    "Guard",
    "IdFactory",
    "IllegalTransition",
    "InvalidSelection",
    "LeaseNotHeld",
    "Lifecycle",
    "LifecycleDefinitionError",
    "ManualClock",
    "NotFound",
    "QuotaExceeded",
    "Row",
    "SeededIds",
    "StaleToken",
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
