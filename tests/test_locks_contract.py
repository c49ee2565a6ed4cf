"""The lock contract machine (taskcore.testing.locks) run against every store."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis.stateful import run_state_machine_as_test

from taskcore.clock import Clock
from taskcore.store import MemoryStore, SqliteStore, Store
from taskcore.testing.locks import lock_machine


def test_locks_on_the_memory_store_follow_the_model() -> None:
    run_state_machine_as_test(lock_machine(lambda clock: MemoryStore(clock=clock)))


def test_locks_on_the_sqlite_store_follow_the_model(tmp_path: Path) -> None:
    numbers = itertools.count()

    def fresh_store(clock: Clock) -> Store:
        return SqliteStore(tmp_path / f"locks-{next(numbers)}.db", clock=clock)

    run_state_machine_as_test(lock_machine(fresh_store))
