"""Locks under threads, on every store: one winner, no lost update."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lock_workers import COUNTER, DATASET, locked_increment
from postgres_server import wipe
from taskcore.errors import DatasetLocked
from taskcore.locks import Grant, Lease, LockManager
from taskcore.store import MemoryStore, SqliteStore, Store
from taskcore.store.postgres import PostgresStore
from threads import run_threads


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)
        made = PostgresStore(dsn)
    else:
        made = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    yield made
    made.close()


def test_of_sixteen_racing_threads_exactly_one_locks_and_the_rest_see_it(store: Store) -> None:
    locks = LockManager(store, ttl=60)
    start = threading.Barrier(16)
    grants: list[Grant] = []
    refusals: list[DatasetLocked] = []

    def race(index: int) -> None:
        start.wait()
        try:
            grants.append(locks.acquire(DATASET, f"task_{index}"))
        except DatasetLocked as refused:
            refusals.append(refused)

    run_threads(16, race)
    assert (1, 15) == (len(grants), len(refusals))
    winner = grants[0].lease
    assert 1 == winner.token
    assert [winner.holder_task_id] * 15 == [refused.active_task_id for refused in refusals]
    assert winner == locks.holder(DATASET)


def test_threads_lose_no_update_under_the_lock(store: Store) -> None:
    locks = LockManager(store, ttl=60)
    threads, rounds = 8, 25
    plain = {"counter": 0}

    def work(index: int) -> None:
        for round_ in range(rounds):
            task_id = f"task_t{index}_{round_}"
            locked_increment(locks, task_id)
            # The same lock keeps a plain Python read-modify-write whole too.
            lease = _acquire_retrying(locks, task_id + "_plain")
            value = plain["counter"]
            time.sleep(0)  # invite another thread in between read and write
            plain["counter"] = value + 1
            locks.release(lease)

    run_threads(threads, work)
    with store.unit() as unit:
        assert threads * rounds == unit.get(*COUNTER)
        assert 2 * threads * rounds == locks.last_token_in(unit, DATASET)
    assert threads * rounds == plain["counter"]


def _acquire_retrying(locks: LockManager, task_id: str) -> Lease:
    while True:
        try:
            return locks.acquire(DATASET, task_id).lease
        except DatasetLocked:
            time.sleep(0.0005)
