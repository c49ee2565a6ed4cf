"""Visual Layer listing budgets (issue 13), on both stores, over 100,000 tasks.

The data: 50 datasets of which the listing user may see 40, 100,000 tasks spread over
them (seven types, five statuses, three creators per dataset, a start every 20 seconds).
The baseline is the naive listing a store of documents alone allows: read every task
document and every dataset, keep the visible ones that pass the filter, sort them all
(by task id, then stably by the field), slice the page, count.

- ``visual_layer.list_first_page``: page 1 (20 tasks) of a list filtered by task type,
  for every sort field in both orders, at most 1/10 of the baseline (the worst of the
  twelve is the budget).
- ``visual_layer.list_deep_page``: page 1,000 of 50 tasks, unfiltered, newest first, no
  worse than the baseline (1x).
- ``visual_layer.filters``: the filter options over the visible tasks of a 10-day
  window, at most 1/3 of the baseline.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Budget, Report, median_seconds
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.lifecycle import VisualLayerStatus
from taskcore.visual_layer.service import DATASETS, TASKS, VisualLayerTasks
from taskcore.visual_layer.task import (
    SORT_FIELDS,
    Dataset,
    SortOrder,
    TaskQuery,
    VisualLayerTask,
    status_message,
)

TASK_COUNT = 100_000
USER = "rachel@visual-layer.com"
START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = list(VisualLayerStatus)


def populate(store: RowsStore) -> VisualLayerTasks:
    """The benchmark's datasets and tasks, written in one unit (the service's own
    writer, so documents and listing rows are what the service would have made)."""
    service = VisualLayerTasks(store, ids=SeededIds(13, prefix=""))
    datasets: list[Dataset] = []
    for i in range(50):
        users = [f"owner{i}@visual-layer.com", f"helper{i % 3}@visual-layer.com"]
        if i < 40:
            users.append(USER)
        datasets.append(service.add_dataset(f"Dataset {i % 17:02}", users))
    types = list(TaskType)
    with store.unit() as unit:
        for n in range(TASK_COUNT):
            dataset = datasets[(n * 7) % 50]
            status = STATUSES[(n * 3) % 5]
            kind = types[(n * 5) % 7]
            ended = status in (
                VisualLayerStatus.COMPLETED,
                VisualLayerStatus.FAILED,
                VisualLayerStatus.ABORTED,
            )
            start = START + timedelta(seconds=20 * n)
            task = VisualLayerTask(
                task_id=f"{n * 7919 % TASK_COUNT:08d}-{n}",
                dataset_id=dataset.dataset_id,
                created_by=sorted(dataset.users)[n % len(dataset.users)],
                task_type=kind,
                status=status,
                status_message=status_message(kind, status, False),
                start_time=start,
                progress_percentage=100 if status is VisualLayerStatus.COMPLETED else None,
                error_message="boom" if status is VisualLayerStatus.FAILED else None,
                end_time=start + timedelta(seconds=10) if ended else None,
            )
            service._write(unit, task, dataset)
    return service


def naive_visible(service: VisualLayerTasks, query: TaskQuery) -> list[tuple[Any, ...]]:
    """Every visible task that passes ``query``, from every document: (task, name)."""
    found = []
    with service.store.unit(readonly=True) as unit:
        names = {
            doc["dataset_id"]: doc["name"]
            for _, doc in unit.items(DATASETS)
            if USER in doc["users"]
        }
        for _, doc in unit.items(TASKS):
            task = VisualLayerTask.from_doc(doc)
            name = names.get(task.dataset_id)
            if name is None:
                continue
            if query.task_type is not None and task.task_type is not query.task_type:
                continue
            low, high = query.start_time_from, query.start_time_to
            if (low is not None and task.start_time < low) or (
                high is not None and task.start_time > high
            ):
                continue
            found.append((task, name))
    return found


def naive_list(service: VisualLayerTasks, query: TaskQuery) -> tuple[list[Any], int]:
    """Filter everything, sort everything, slice: the baseline listing."""
    found = naive_visible(service, query)
    field: Callable[[tuple[Any, ...]], Any] = {
        "start_time": lambda s: s[0].start_time,
        "status": lambda s: s[0].status.value,
        "task_type": lambda s: s[0].task_type.value,
        "dataset_name": lambda s: s[1],
        "dataset_id": lambda s: s[0].dataset_id,
        "created_by": lambda s: s[0].created_by,
    }[query.sort_by]
    found.sort(key=lambda s: s[0].task_id)
    found.sort(key=field, reverse=query.sort_order is SortOrder.DESC)
    return found[query.offset : query.offset + query.page_size], len(found)


def naive_filters(service: VisualLayerTasks, query: TaskQuery) -> tuple[list[str], ...]:
    """Every visible task of the window, then the distinct values of each filter."""
    found = naive_visible(service, query)
    return (
        sorted({name for _, name in found}),
        sorted({t.dataset_id for t, _ in found}),
        sorted({t.task_type.value for t, _ in found}),
        sorted({t.created_by for t, _ in found}),
    )


def bench_store(report: Report, label: str, service: VisualLayerTasks) -> None:
    report.say(f"[{label}] Visual Layer over {TASK_COUNT:,} tasks:")
    first = TaskQuery(task_type=TaskType.ENRICHMENT)
    # Same answers first: the budgets compare equal work.
    got = service.list(USER, first)
    want, total = naive_list(service, first)
    assert [t.task_id for t, _ in want] == [s.task.task_id for s in got.tasks]
    assert total == got.total
    baseline = median_seconds(lambda: naive_list(service, first), repeat=3)
    worst = 0.0
    for sort_by, order in itertools.product(SORT_FIELDS, SortOrder):
        query = TaskQuery(task_type=TaskType.ENRICHMENT, sort_by=sort_by, sort_order=order)
        ours = median_seconds(lambda q=query: service.list(USER, q), repeat=5)  # type: ignore[misc]
        worst = max(worst, ours / baseline)
    report.say(
        f"  page 1 of a filtered list, worst of 12 sorts: {worst:.3f}x of the naive "
        f"{baseline * 1e3:,.0f} ms  [visual_layer.list_first_page]"
    )
    report.budget(Budget(f"visual_layer.list_first_page[{label}]", worst, 0.1))

    deep = TaskQuery(page=1000, page_size=50)
    got = service.list(USER, deep)
    want, total = naive_list(service, deep)
    assert [t.task_id for t, _ in want] == [s.task.task_id for s in got.tasks]
    ours = median_seconds(lambda: service.list(USER, deep), repeat=3)
    baseline = median_seconds(lambda: naive_list(service, deep), repeat=3)
    ratio = report.ratio("visual_layer.list_deep_page", "page 1,000 of 50", ours, baseline)
    report.budget(Budget(f"visual_layer.list_deep_page[{label}]", ratio, 1.0))

    window = TaskQuery(start_time_from=START, start_time_to=START + timedelta(days=10))
    options = service.filter_options(USER, window)
    names, ids, types, creators = naive_filters(service, window)
    assert (tuple(names), tuple(ids), tuple(types), tuple(creators)) == (
        options.dataset_names,
        options.dataset_ids,
        options.task_types,
        options.created_by,
    )
    ours = median_seconds(lambda: service.filter_options(USER, window), repeat=3)
    baseline = median_seconds(lambda: naive_filters(service, window), repeat=3)
    ratio = report.ratio("visual_layer.filters", "filter options, 10 days", ours, baseline)
    report.budget(Budget(f"visual_layer.filters[{label}]", ratio, 1 / 3))


def run(report: Report) -> None:
    """Measure the listing budgets on the memory store and on SQLite."""
    with MemoryStore() as memory:
        bench_store(report, "memory", populate(memory))
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "vl.db") as sqlite:
        bench_store(report, "sqlite", populate(sqlite))
