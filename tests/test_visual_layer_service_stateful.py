"""The Visual Layer service against its naive model (taskcore.testing.visual_layer), on
every store."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from postgres_server import wipe
from taskcore.clock import Clock
from taskcore.store import RowsStore, SqliteStore
from taskcore.store.postgres import PostgresStore
from taskcore.testing.visual_layer import (
    VisualLayerServiceMachine,
    visual_layer_service_machine,
)


def test_the_service_on_the_memory_store_follows_the_model() -> None:
    run_state_machine_as_test(VisualLayerServiceMachine)


def test_the_service_on_the_sqlite_store_follows_the_model(tmp_path: Path) -> None:
    numbers = itertools.count()

    def fresh_store(clock: Clock) -> RowsStore:
        return SqliteStore(tmp_path / f"vl-{next(numbers)}.db", clock=clock)

    budget = settings(settings(), max_examples=min(settings().max_examples, 25))
    run_state_machine_as_test(visual_layer_service_machine(fresh_store), settings=budget)


def test_the_service_on_the_postgres_store_follows_the_model(postgres_dsn: str) -> None:
    def fresh_store(clock: Clock) -> RowsStore:
        wipe(postgres_dsn)
        return PostgresStore(postgres_dsn, clock=clock)

    budget = settings(settings(), max_examples=min(settings().max_examples, 8))
    run_state_machine_as_test(visual_layer_service_machine(fresh_store), settings=budget)
