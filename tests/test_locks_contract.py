"""The lock contract machine (taskcore.testing.locks) run against every store."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from postgres_server import wipe
from taskcore.clock import Clock
from taskcore.store import MemoryStore, SqliteStore, Store
from taskcore.store.postgres import PostgresStore
from taskcore.testing.locks import lock_machine


def test_locks_on_the_memory_store_follow_the_model() -> None:
    run_state_machine_as_test(lock_machine(lambda clock: MemoryStore(clock=clock)))


def test_locks_on_the_sqlite_store_follow_the_model(tmp_path: Path) -> None:
    numbers = itertools.count()

    def fresh_store(clock: Clock) -> Store:
        return SqliteStore(tmp_path / f"locks-{next(numbers)}.db", clock=clock)

    run_state_machine_as_test(lock_machine(fresh_store))


def test_locks_on_the_postgres_store_follow_the_model(postgres_dsn: str) -> None:
    def fresh_store(clock: Clock) -> Store:
        wipe(postgres_dsn)
        return PostgresStore(postgres_dsn, clock=clock)

    budget = settings(settings(), max_examples=min(settings().max_examples, 20))
    run_state_machine_as_test(lock_machine(fresh_store), settings=budget)
