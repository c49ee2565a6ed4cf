"""The Visual Layer Task Manager's JSON shapes, key for key as its documentation shows
them (Visual Layer docs, "Task Manager": "List Tasks" response, "Task Object Fields",
"Get Filter Options" response).

Timestamps are ``YYYY-MM-DDTHH:MM:SSZ``; ``progress_percentage`` is an integer or
``null``; abort and retry answer the bare task object (docs/visual-layer.md, "Wire").
"""

from __future__ import annotations

from typing import Any

from taskcore.clock import format_wire_instant
from taskcore.visual_layer.service import FilterOptions, Listing, Shown

__all__ = ["filter_options_response", "list_response", "task_object"]


def task_object(shown: Shown) -> dict[str, Any]:
    """The documented task object."""
    task = shown.task
    return {
        "task_id": task.task_id,
        "dataset_id": task.dataset_id,
        "dataset_name": shown.dataset_name,
        "dataset_status": shown.dataset_status.value,
        "created_by": task.created_by,
        "task_type": task.task_type.value,
        "status": task.status.value,
        "status_message": task.status_message,
        "progress_percentage": task.progress_percentage,
        "error_message": task.error_message,
        "start_time": format_wire_instant(task.start_time),
        "end_time": None if task.end_time is None else format_wire_instant(task.end_time),
    }


def list_response(listing: Listing) -> dict[str, Any]:
    """The documented list envelope ``{"tasks", "total", "page", "page_size"}``."""
    return {
        "tasks": [task_object(shown) for shown in listing.tasks],
        "total": listing.total,
        "page": listing.page,
        "page_size": listing.page_size,
    }


def filter_options_response(options: FilterOptions) -> dict[str, Any]:
    """The documented filter options object."""
    return {
        "dataset_names": list(options.dataset_names),
        "dataset_ids": list(options.dataset_ids),
        "task_types": list(options.task_types),
        "created_by": list(options.created_by),
    }
