"""Locks across processes on one SQLite file or one PostgreSQL database (``spawn``:
nothing inherited but the path or DSN)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from lock_workers import COUNTER, DATASET, hold_until_killed, increment_many, open_store
from postgres_server import wipe
from taskcore.clock import format_instant
from taskcore.errors import DatasetLocked, StaleToken
from taskcore.locks import Lease, LockManager
from taskcore.store import SqliteStore
from taskcore.store.postgres import PostgresStore

SPAWN = multiprocessing.get_context("spawn")
PATIENCE = 120.0
"""Seconds to wait for a child before calling the test failed (a noisy 2-core box)."""


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the processes meet: a SQLite path or ``postgres:DSN``, schema created."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)
        PostgresStore(dsn).close()
        return f"postgres:{dsn}"
    path = str(tmp_path / "shared.db")
    SqliteStore(path).close()  # create file and schema before the race
    return path


def test_processes_lose_no_update_under_the_lock(where: str) -> None:
    path = where
    workers, rounds = 3, 40
    go = SPAWN.Barrier(workers)
    processes = [
        SPAWN.Process(target=increment_many, args=(path, worker, rounds, go))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(PATIENCE)
    assert [0] * workers == [process.exitcode for process in processes]
    with open_store(path) as store, store.unit() as unit:
        locks = LockManager(store)
        assert workers * rounds == unit.get(*COUNTER)
        assert workers * rounds == locks.last_token_in(unit, DATASET)
        assert locks.lease_in(unit, DATASET) is None


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_holder_keeps_the_dataset_until_its_lease_expires(where: str) -> None:
    path = where
    leases = SPAWN.Queue()
    holder = SPAWN.Process(target=hold_until_killed, args=(path, 1.5, leases))
    holder.start()
    assert holder.pid is not None  # never os.kill(0, ...): that is the whole group
    try:
        dead = Lease.from_dict(leases.get(timeout=PATIENCE))
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(PATIENCE)
    assert -signal.SIGKILL == holder.exitcode

    with open_store(path) as store:
        locks = LockManager(store, ttl=30)
        # Right after the kill: refused, naming the dead task, as long as its lease lives.
        # (Judged by the store's own instant, so a slow machine cannot make this flaky.)
        with store.unit() as unit:
            if dead.is_live(unit.now):
                with pytest.raises(DatasetLocked) as refused:
                    locks.acquire_in(unit, DATASET, "task_next")
                assert ("task_doomed", format_instant(dead.expires_at)) == (
                    refused.value.active_task_id,
                    refused.value.expires_at,
                )
        deadline = time.monotonic() + PATIENCE
        while (live := locks.holder(DATASET)) is not None:
            assert dead == live
            assert time.monotonic() < deadline, "the dead holder's lease never expired"
            time.sleep(0.05)
        grant = locks.acquire(DATASET, "task_next")
        assert (dead.token + 1, dead) == (grant.lease.token, grant.taken_over)
        assert dead.expires_at <= grant.lease.acquired_at
        with pytest.raises(StaleToken) as stale:
            locks.check_token(dead)
        assert (dead.token, grant.lease.token) == (stale.value.token, stale.value.current_token)
        assert grant.lease == locks.holder(DATASET)
