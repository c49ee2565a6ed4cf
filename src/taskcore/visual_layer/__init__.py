"""Visual Layer dataset tasks (Visual Layer Task Manager API): list with filters, sort
and pages, filter options, abort and retry (docs/visual-layer.md)."""

from taskcore.visual_layer.errors import (
    InvalidParameter,
    TaskNotAbortable,
    TaskNotRetryable,
    VisualLayerTaskNotFound,
)
from taskcore.visual_layer.lifecycle import VL_TASK, TaskType, VisualLayerEvent, VisualLayerStatus

__all__ = [
    "VL_TASK",
    "InvalidParameter",
    "TaskNotAbortable",
    "TaskNotRetryable",
    "TaskType",
    "VisualLayerEvent",
    "VisualLayerStatus",
    "VisualLayerTaskNotFound",
]
