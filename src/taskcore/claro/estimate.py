"""The duration estimator port behind ``estimatedDuration`` / ``estimatedCompletion``.

The Claro reference shows estimates ("5-10 minutes" for 100 new rows, "3-7 minutes" for 150 bulk
cells) but not how they are made.  An :class:`Estimator` gives a duration range in
seconds for a task's type and size; :class:`RateEstimator`, the default, multiplies the
size by a per-target range chosen so that it reproduces both reference examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from taskcore.claro.task import TaskType

__all__ = ["Estimator", "RateEstimator"]


class Estimator(Protocol):
    """Estimates how long a task takes."""

    def estimate(self, task_type: TaskType, targets: int) -> tuple[float, float]:
        """Return ``(low, high)`` seconds for ``targets`` rows (new rows) or cells (bulk)."""
        ...


class RateEstimator:
    """``targets x (low, high)`` seconds per target, by task type.

    Args:
        rates: seconds per target for each type; defaults reproduce the Claro reference: 3-6 s per
            new row (100 rows: "5-10 minutes"), 1.2-2.8 s per cell (150: "3-7 minutes").
    """

    DEFAULT_RATES: Mapping[TaskType, tuple[float, float]] = {
        TaskType.NEW_ROWS: (3.0, 6.0),
        TaskType.BULK_PROCESSING: (1.2, 2.8),
    }

    def __init__(self, rates: Mapping[TaskType, tuple[float, float]] | None = None) -> None:
        self.rates: dict[TaskType, tuple[float, float]] = dict(rates or self.DEFAULT_RATES)

    def estimate(self, task_type: TaskType, targets: int) -> tuple[float, float]:
        """Return ``(targets * low, targets * high)`` seconds."""
        low, high = self.rates[task_type]
        return targets * low, targets * high
