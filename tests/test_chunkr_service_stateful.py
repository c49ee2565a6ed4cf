"""The Chunkr service against its naive model (taskcore.testing.chunkr), on both
stores (stateful, against a naive model)."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from postgres_server import wipe
from taskcore.clock import Clock
from taskcore.store import SqliteStore, Store
from taskcore.store.postgres import PostgresStore
from taskcore.testing.chunkr import ChunkrServiceMachine, chunkr_service_machine


def test_the_service_on_the_memory_store_follows_the_model() -> None:
    run_state_machine_as_test(ChunkrServiceMachine)


def test_the_service_on_the_sqlite_store_follows_the_model(tmp_path: Path) -> None:
    numbers = itertools.count()

    def fresh_store(clock: Clock) -> Store:
        return SqliteStore(tmp_path / f"chunkr-{next(numbers)}.db", clock=clock)

    budget = settings(settings(), max_examples=min(settings().max_examples, 25))
    run_state_machine_as_test(chunkr_service_machine(fresh_store), settings=budget)


def test_the_service_on_the_postgres_store_follows_the_model(postgres_dsn: str) -> None:
    def fresh_store(clock: Clock) -> Store:
        wipe(postgres_dsn)
        return PostgresStore(postgres_dsn, clock=clock)

    budget = settings(settings(), max_examples=min(settings().max_examples, 10))
    run_state_machine_as_test(chunkr_service_machine(fresh_store), settings=budget)
