"""Process bodies for test_locks_processes.py (a module of their own, so a ``spawn``
child imports them without importing pytest or the tests)."""

from __future__ import annotations

import time
from typing import Any

from taskcore.errors import DatasetLocked
from taskcore.locks import Lease, LockManager
from taskcore.store import SqliteStore, Store

DATASET = "ds_shared"
COUNTER = ("counters", "ds_shared")


def locked_increment(locks: LockManager, task_id: str) -> None:
    """Lock the dataset (retrying while another task holds it), then read the counter in
    one unit and write it back plus one in another, fenced by the lease's token: an
    unprotected read-modify-write that only the lock keeps whole."""
    while True:
        try:
            lease = locks.acquire(DATASET, task_id).lease
            break
        except DatasetLocked:
            time.sleep(0.0005)
    with locks.store.unit() as unit:
        value = unit.get(*COUNTER) or 0
    time.sleep(0)  # invite another thread or process to run between read and write
    with locks.store.unit() as unit:
        locks.check_token_in(unit, DATASET, lease.token)
        unit.put(*COUNTER, value + 1)
    locks.release(lease)


def open_store(where: str) -> Store:
    """``postgres:DSN`` for a PostgreSQL store, else the path of a SQLite file."""
    if where.startswith("postgres:"):
        from taskcore.store.postgres import PostgresStore

        return PostgresStore(where.removeprefix("postgres:"), busy_timeout=60)
    return SqliteStore(where, busy_timeout=60)


def increment_many(path: str, worker: int, times: int, go: Any) -> None:
    """Process body: once every worker is at the ``go`` barrier, ``times`` locked
    increments of the shared counter."""
    store = open_store(path)
    locks = LockManager(store, ttl=60)
    go.wait(120)
    try:
        for round_ in range(times):
            locked_increment(locks, f"task_p{worker}_{round_}")
    finally:
        store.close()


def hold_until_killed(path: str, ttl: float, leases: Any) -> None:
    """Process body: lock the dataset, report the lease on ``leases``, never let go."""
    store = open_store(path)
    lease: Lease = LockManager(store, ttl=ttl).acquire(DATASET, "task_doomed").lease
    leases.put(lease.to_dict())
    time.sleep(600)  # pragma: no cover - killed long before


def hold_a_unit_until_killed(where: str, ready: Any) -> None:
    """Process body: read and write a key inside a unit (the read takes its lock), say
    so on ``ready``, and never end the unit."""
    store = open_store(where)
    with store.unit() as unit:
        unit.get("t", "held")
        unit.put("t", "held", "never committed")
        ready.put("inside")
        time.sleep(600)  # pragma: no cover - killed long before
