"""Visual Layer calls are atomic under threads, on both stores: of many concurrent aborts
of one running dataset creation exactly one succeeds and the others are 409; of many
concurrent retries of a failed one exactly one succeeds and the others are 400."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from taskcore.errors import TaskcoreError
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import TaskNotAbortable, TaskNotRetryable, TaskType
from taskcore.visual_layer.service import VisualLayerTasks

ME = "rachel@visual-layer.com"
THREADS = 8


def race(call: Callable[[], object]) -> list[object]:
    outcomes: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def run() -> None:
        barrier.wait()
        try:
            result: object = call()
        except TaskcoreError as error:
            result = type(error)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_one_abort_and_one_retry_win_a_race(kind: str, tmp_path: Path) -> None:
    store: RowsStore = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "vl.db")
    with store:
        service = VisualLayerTasks(store)
        dataset = service.add_dataset("d", [ME]).dataset_id
        task_id = service.submit(dataset, TaskType.DATASET_CREATION, ME).task.task_id
        service.start(task_id)
        aborts = race(lambda: service.abort(ME, task_id))
        assert THREADS - 1 == aborts.count(TaskNotAbortable)
        assert "ABORTED" == service.get(ME, task_id).task.status
        retries = race(lambda: service.retry(ME, task_id))
        assert THREADS - 1 == retries.count(TaskNotRetryable)
        assert "INITIALIZING" == service.get(ME, task_id).task.status
