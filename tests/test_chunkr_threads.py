"""Chunkr calls racing on one task from many threads, on both stores: every call is one
unit of work, so exactly one of the racing changes wins and the others are refused as
the state they then see says (docs/chunkr.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskcore.chunkr import (
    Chunk,
    ChunkrStatus,
    ChunkrTasks,
    Output,
    Segment,
    TaskNotCancellable,
    TaskNotUpdatable,
)
from taskcore.chunkr.wire import parse_create, parse_update
from taskcore.errors import IllegalTransition
from taskcore.store import MemoryStore, SqliteStore, Store
from threads import run_threads

THREADS = 8
OUTPUT = Output([Chunk("c", [Segment("s", "Text", "x")])])


@pytest.fixture(params=["memory", "sqlite"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChunkrTasks]:
    store: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "c.db")
    with store:
        yield ChunkrTasks(store)


def test_racing_cancels_cancel_once(service: ChunkrTasks) -> None:
    task = service.create("u", parse_create({"file": "aGk="}))
    outcomes: list[str] = []

    def body(index: int) -> None:
        try:
            service.cancel("u", task.task_id)
            outcomes.append("cancelled")
        except TaskNotCancellable:
            outcomes.append("refused")

    run_threads(THREADS, body)
    assert ["cancelled"] + ["refused"] * (THREADS - 1) == sorted(outcomes)
    assert ChunkrStatus.CANCELLED == service.get("u", task.task_id).status


def test_racing_updates_queue_one_rerun(service: ChunkrTasks) -> None:
    task = service.create("u", parse_create({"file": "aGk="}))
    service.start(task.task_id)
    service.succeed(task.task_id, OUTPUT)
    winners: list[int] = []

    def body(index: int) -> None:
        try:
            service.update("u", task.task_id, parse_update({"expires_in": 100 + index}))
            winners.append(index)
        except TaskNotUpdatable:
            pass

    run_threads(THREADS, body)
    assert 1 == len(winners)
    queued = service.get("u", task.task_id)
    assert 100 + winners[0] == queued.configuration.expires_in
    assert ChunkrStatus.SUCCEEDED == queued.rerun_of


def test_a_cancel_racing_a_pickup_gets_one_or_the_other(service: ChunkrTasks) -> None:
    task = service.create("u", parse_create({"file": "aGk="}))
    outcomes: list[str] = []

    def body(index: int) -> None:
        try:
            if index % 2:
                service.cancel("u", task.task_id)
                outcomes.append("cancel")
            else:
                service.start(task.task_id)
                outcomes.append("start")
        except IllegalTransition:
            pass

    run_threads(THREADS, body)
    assert 1 == len(outcomes)
    want = ChunkrStatus.CANCELLED if outcomes == ["cancel"] else ChunkrStatus.PROCESSING
    assert want == service.get("u", task.task_id).status
