"""The Claro task value's documented parts: categories ("Task Types and Operations"),
estimates ("5-10 minutes", "3-7 minutes") and their wire form."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskcore.claro.estimate import RateEstimator
from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks
from taskcore.claro.task import Category, TaskType
from taskcore.claro.wire import format_duration
from taskcore.store import MemoryStore, SqliteStore


@pytest.mark.parametrize(
    ("task_type", "targets", "shown"),
    [(TaskType.NEW_ROWS, 100, "5-10 minutes"), (TaskType.BULK_PROCESSING, 150, "3-7 minutes")],
)
def test_default_estimator_reproduces_the_seeds_estimates(
    task_type: TaskType, targets: int, shown: str
) -> None:
    assert shown == format_duration(*RateEstimator().estimate(task_type, targets))


@pytest.mark.parametrize(
    ("low", "high", "shown"),
    [(0, 0, "1-2 minutes"), (300, 600, "5-10 minutes"), (7200, 14400, "2-4 hours")],
)
def test_durations_are_shown_in_minutes_then_hours(low: float, high: float, shown: str) -> None:
    assert shown == format_duration(low, high)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@pytest.mark.parametrize("category", list(Category), ids=str)
def test_every_task_records_its_category(
    category: Category, store_kind: str, tmp_path: Path
) -> None:
    store = MemoryStore() if store_kind == "memory" else SqliteStore(tmp_path / "c.db")
    service = ClaroTasks(store)
    dataset = service.create_dataset("acme", Grid(["r"], ["c"]), category=category)
    new_rows = service.create_new_rows("acme", dataset, {"rowCount": 1})
    assert category == service.get("acme", dataset, new_rows.task_id).category
    service.cancel("acme", dataset, new_rows.task_id)
    other = (
        Category.MAP_EXTRACTION if category is not Category.MAP_EXTRACTION else Category.ENRICHMENT
    )
    bulk = service.create_bulk("acme", dataset, {}, category=other)
    assert other == service.get("acme", dataset, bulk.task_id).category
    assert "category" not in service.status("acme", dataset, bulk.task_id)  # not on the wire
    store.close()
