"""Lock budgets (issue 4): acquire + release, in memory and on SQLite.

- ``locks.memory_acquire_release``: ``LockManager.acquire`` + ``release`` on a
  ``MemoryStore`` at most 3x a bare ``threading.Lock`` + dict implementation of the same
  operation: read the clock, lock, check the dict for a live lease, put the next token's
  ``Lease``, unlock; lock, pop the lease if its token matches, unlock.  The baseline
  builds the same frozen ``Lease`` value the manager returns, as the kernel benchmark's
  baseline builds the same attrs task; what it lacks is the store, its units of work and
  the JSON-able record, which is what the budget prices.  Also shown, not budgeted: the
  ratio to a baseline that keeps a plain tuple instead of a ``Lease``.
- ``locks.sqlite_acquire_release_rate``: acquire + release per second, each in its own
  ``BEGIN IMMEDIATE`` unit, on a ``SqliteStore`` file: at least 1000/s.  Also shown, not
  budgeted (it measures the machine's cores as much as taskcore): the total rate of four
  processes contending for one dataset on one file.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Budget, Report, median_seconds
from taskcore.clock import SystemClock
from taskcore.errors import DatasetLocked
from taskcore.locks import Lease, LockManager
from taskcore.store import MemoryStore, SqliteStore

TTL = timedelta(seconds=60)
MEMORY_ROUNDS = 20_000
SQLITE_ROUNDS = 400
PROCESSES = 4
PROCESS_SECONDS = 2.0


class BareLocks:
    """The baseline: the same acquire and release on one ``threading.Lock`` and dicts."""

    def __init__(self) -> None:
        self.clock = SystemClock()
        self.lock = threading.Lock()
        self.leases: dict[str, Lease] = {}
        self.tokens: dict[str, int] = {}

    def acquire(self, resource_id: str, task_id: str) -> Lease:
        now = self.clock.now()
        with self.lock:
            current = self.leases.get(resource_id)
            if current is not None and now < current.expires_at:
                if current.holder_task_id == task_id:
                    return current
                raise DatasetLocked(dataset_id=resource_id, active_task_id=task_id)
            token = self.tokens.get(resource_id, 0) + 1
            lease = Lease(resource_id, task_id, token, now, now + TTL)
            self.leases[resource_id] = lease
            self.tokens[resource_id] = token
            return lease

    def release(self, lease: Lease) -> bool:
        with self.lock:
            current = self.leases.get(lease.resource_id)
            if current is not None and current.token == lease.token:
                del self.leases[lease.resource_id]
                return True
            return False


class TupleLocks:
    """The baseline with a plain tuple for a lease: no value object at all."""

    def __init__(self) -> None:
        self.clock = SystemClock()
        self.lock = threading.Lock()
        self.leases: dict[str, tuple[str, int, datetime, datetime]] = {}
        self.tokens: dict[str, int] = {}

    def acquire(self, resource_id: str, task_id: str) -> tuple[str, int, datetime, datetime]:
        now = self.clock.now()
        with self.lock:
            current = self.leases.get(resource_id)
            if current is not None and now < current[3]:
                if current[0] == task_id:
                    return current
                raise DatasetLocked(dataset_id=resource_id, active_task_id=task_id)
            token = self.tokens.get(resource_id, 0) + 1
            lease = (task_id, token, now, now + TTL)
            self.leases[resource_id] = lease
            self.tokens[resource_id] = token
            return lease

    def release(self, resource_id: str, token: int) -> bool:
        with self.lock:
            current = self.leases.get(resource_id)
            if current is not None and current[1] == token:
                del self.leases[resource_id]
                return True
            return False


def _memory(report: Report) -> None:
    locks = LockManager(MemoryStore(), ttl=TTL)
    bare = BareLocks()
    plain = TupleLocks()

    def ours() -> None:
        locks.release(locks.acquire("ds", "task_1").lease)

    def baseline() -> None:
        bare.release(bare.acquire("ds", "task_1"))

    def tuples() -> None:
        plain.release("ds", plain.acquire("ds", "task_1")[1])

    measured = median_seconds(ours, number=MEMORY_ROUNDS)
    base = median_seconds(baseline, number=MEMORY_ROUNDS)
    bare_tuple = median_seconds(tuples, number=MEMORY_ROUNDS)
    ratio = report.ratio("locks.memory_acquire_release", "memory acquire + release", measured, base)
    report.ratio("info", "same, against a tuple-lease baseline", measured, bare_tuple)
    report.budget(Budget("locks.memory_acquire_release", ratio, 3.0))


def _cycles(locks: LockManager, task_prefix: str, count: int) -> int:
    """``count`` acquire + release cycles on one dataset; return the refusals seen."""
    refusals = 0
    for index in range(count):
        while True:
            try:
                lease = locks.acquire("ds", f"{task_prefix}_{index}").lease
                break
            except DatasetLocked:
                refusals += 1
        locks.release(lease)
    return refusals


def contend(path: str, worker: int, go: Any, results: Any) -> None:
    """Process body: after the barrier, cycle for ``PROCESS_SECONDS``; report the count."""
    store = SqliteStore(path, busy_timeout=60)
    locks = LockManager(store, ttl=TTL)
    go.wait(120)
    start = time.monotonic()
    done = refusals = 0
    while time.monotonic() - start < PROCESS_SECONDS:
        refusals += _cycles(locks, f"task_p{worker}_{done}", 20)
        done += 20
    results.put((done, refusals, start, time.monotonic()))
    store.close()


def _sqlite(report: Report, directory: Path) -> None:
    store = SqliteStore(directory / "single.db")
    locks = LockManager(store, ttl=TTL)
    counter = iter(range(10**9))

    def cycle() -> None:
        _cycles(locks, f"task_{next(counter)}", 1)

    seconds = median_seconds(cycle, repeat=5, number=SQLITE_ROUNDS)
    store.close()
    rate = 1 / seconds
    report.say(f"  sqlite acquire + release, one process: {rate:,.0f}/s")
    report.budget(Budget("locks.sqlite_acquire_release_rate", rate, 1000, False, "/s"))

    spawn = multiprocessing.get_context("spawn")
    path = str(directory / "contended.db")
    SqliteStore(path).close()
    go = spawn.Barrier(PROCESSES)
    results = spawn.Queue()
    processes = [
        spawn.Process(target=contend, args=(path, worker, go, results))
        for worker in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(120)
    total = sum(done for done, _, _, _ in outcomes)
    refused = sum(refusals for _, refusals, _, _ in outcomes)
    elapsed = max(end for *_, end in outcomes) - min(start for _, _, start, _ in outcomes)
    report.say(
        f"  sqlite acquire + release, {PROCESSES} processes on one dataset: "
        f"{total / elapsed:,.0f}/s in total ({refused:,} refusals retried)"
    )


def run(report: Report) -> None:
    """Measure and record the lock budgets."""
    _memory(report)
    with tempfile.TemporaryDirectory() as directory:
        _sqlite(report, Path(directory))
