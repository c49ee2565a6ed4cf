"""The Claro service under threads, on every store: creates and cancels racing on shared
datasets leave the lock rules intact and lose no update (outcomes only, no timing)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskcore.claro.grid import Grid
from taskcore.claro.service import TASKS, ClaroTasks
from taskcore.claro.task import ClaroTask
from taskcore.errors import DatasetLocked, IllegalTransition
from taskcore.store import MemoryStore, SqliteStore, Store
from threads import run_threads

THREADS, OPS = 8, 50
DATASETS = ("ds_a", "ds_b", "ds_c")
ACCOUNT = "acct_1"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    yield made
    made.close()


def test_racing_creates_and_cancels_keep_one_live_task_per_dataset_and_lose_nothing(
    store: Store,
) -> None:
    service = ClaroTasks(store, lease_ttl=3600)
    for dataset in DATASETS:
        service.create_dataset(ACCOUNT, Grid(["r1", "r2"], ["c1", "c2"]), dataset_id=dataset)
    guard = threading.Lock()
    created: list[ClaroTask] = []
    cancelled: list[str] = []
    refused_creates: list[DatasetLocked] = []

    def work(index: int) -> None:
        rng = random.Random(index)
        for _ in range(OPS):
            dataset = rng.choice(DATASETS)
            with guard:
                known = [t for t in created if t.dataset_id == dataset]
            if known and rng.random() < 0.5:
                task = rng.choice(known[-3:])
                try:
                    if rng.random() < 0.3:
                        service.start(task.task_id)
                    else:
                        service.cancel(ACCOUNT, dataset, task.task_id)
                        with guard:
                            cancelled.append(task.task_id)
                except IllegalTransition:  # TaskNotCancellable is one
                    pass  # another thread ended (or started) it first
                continue
            try:
                task = service.create_bulk(ACCOUNT, dataset, {})
            except DatasetLocked as error:
                with guard:
                    refused_creates.append(error)
            else:
                with guard:
                    created.append(task)

    run_threads(THREADS, work)

    with store.unit() as unit:
        stored = dict(unit.items(TASKS))
    # No lost update: every successful create is stored, nothing else is.
    assert sorted(t.task_id for t in created) == sorted(stored)
    # Every successful cancel is visible, and each task was cancelled at most once.
    assert len(set(cancelled)) == len(cancelled)
    tasks = {t.task_id: service.get(ACCOUNT, t.dataset_id, t.task_id) for t in created}
    assert sorted(cancelled) == sorted(i for i, t in tasks.items() if t.status == "cancelled")
    for dataset in DATASETS:
        live = [t.task_id for t in tasks.values() if t.dataset_id == dataset and not t.is_terminal]
        assert len(live) <= 1, live
        holder = service.lease(ACCOUNT, dataset)
        assert live == ([] if holder is None else [holder.holder_task_id])
        # Tasks of one dataset took its lease one after another: tokens never repeat.
        tokens = [t.lease_token for t in tasks.values() if t.dataset_id == dataset]
        assert len(set(tokens)) == len(tokens)
    # Every refusal named a task of that dataset.
    for error in refused_creates:
        assert tasks[error.active_task_id].dataset_id == error.dataset_id
    # The race really happened: creates, cancels and refusals all took place.
    assert [] not in (created, cancelled, refused_creates)
