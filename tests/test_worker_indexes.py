"""What the simulated worker reads: each service's index of the tasks that still have
work follows every operation (user and worker side) on both stores, and the setup calls
fixtures use (chosen ids) refuse what they must and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskcore.chunkr.configuration import Configuration
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import Output
from taskcore.chunkr.wire import parse_create
from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks
from taskcore.clock import ManualClock
from taskcore.errors import TaskNotFound, ValidationError
from taskcore.sendai import ApiKey, Document, SendAITasks, Step
from taskcore.sendai.errors import ProjectNotFound
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer.lifecycle import TaskType
from taskcore.visual_layer.service import VisualLayerTasks

USER = "rachel@visual-layer.com"
ID = "0c9e7a52-3b1d-4f6e-8a27-5d4c3b2a1f09"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RowsStore]:
    clock = ManualClock()
    opened: RowsStore = (
        MemoryStore(clock=clock)
        if request.param == "memory"
        else SqliteStore(tmp_path / "indexes.db", clock=clock)
    )
    yield opened
    opened.close()


def test_claro_lists_unended_tasks_by_id(store: RowsStore) -> None:
    claro = ClaroTasks(store)
    for dataset in ("d1", "d2"):
        claro.create_dataset("acme", Grid(["r"], ["c"]), dataset_id=dataset)
    one = claro.create_bulk("acme", "d1", {}).task_id
    two = claro.create_new_rows("acme", "d2", {"rowCount": 1}).task_id
    assert sorted([one, two]) == [t.task_id for t in claro.active()]
    assert 1 == len(claro.active(limit=1))
    claro.cancel("acme", "d1", one)
    assert [two] == [t.task_id for t in claro.active()]
    assert "cancelled" == claro.task(one).status.value
    with pytest.raises(TaskNotFound):
        claro.task("task_nope")
    with pytest.raises(ValueError, match="limit"):
        claro.active(-1)


def test_sendai_lists_processing_tasks_through_review_and_back(store: RowsStore) -> None:
    sendai = SendAITasks(store)
    project = sendai.create_project("t", "p", [Step("EXTRACT"), Step("GROUP", review=False)])
    assert project == sendai.project("t", "p")
    with pytest.raises(ProjectNotFound):
        sendai.project("other", "p")
    sendai.upload("t", "p", "u", [Document("a"), Document("b")], task_ids=["a", "b"])
    assert ["a", "b"] == [t.id for t in sendai.processing()]
    sendai.run_step("t", "a")
    assert ["b"] == [t.id for t in sendai.processing()]
    sendai.complete(ApiKey("t", ["task.edit"]), "p", "a")
    assert ["a", "b"] == [t.id for t in sendai.processing()]
    sendai.run_step("t", "a")
    sendai.fail("t", "b")
    assert () == sendai.processing()
    assert ("COMPLETED", "FAILED") == (sendai.task("t", "a").status, sendai.task("t", "b").status)


@pytest.mark.parametrize(
    "task_ids",
    [["x"], ["x", "x"], ["x", ""], ["x", 1], ["taken", "y"]],
)
def test_sendai_chosen_task_ids_are_refused_unless_one_free_id_per_document(
    store: RowsStore, task_ids: list[object]
) -> None:
    sendai = SendAITasks(store)
    sendai.create_project("t", "p", [Step("EXTRACT")])
    sendai.upload("t", "p", "u0", [Document("a")], task_ids=["taken"])
    with pytest.raises(ValidationError) as refused:
        sendai.upload("t", "p", "u1", [Document("a"), Document("b")], task_ids=task_ids)  # type: ignore[arg-type]
    assert "task_ids" == refused.value.field
    with pytest.raises(TaskNotFound):
        sendai.task("t", "y")
    assert ["taken"] == [t.id for t in sendai.processing()]


def test_chunkr_lists_starting_and_processing_tasks(store: RowsStore) -> None:
    chunkr = ChunkrTasks(store)
    form = parse_create({"file": "https://example.com/a.pdf"})
    one, two = chunkr.create("u", form).task_id, chunkr.create("u", form).task_id
    assert sorted([one, two]) == [t.task_id for t in chunkr.active()]
    chunkr.cancel("u", two)
    assert [one] == [t.task_id for t in chunkr.active()]
    chunkr.start(one)
    assert [one] == [t.task_id for t in chunkr.active()]
    chunkr.succeed(one, Output([]))
    assert () == chunkr.active()
    chunkr.update("u", one, Configuration(high_resolution=True))
    assert [one] == [t.task_id for t in chunkr.active()]  # a queued re-run is work
    chunkr.cancel("u", one)  # reverted to Succeeded
    assert () == chunkr.active()
    chunkr.update("u", one, Configuration(high_resolution=True))
    chunkr.delete("u", two)
    assert [one] == [t.task_id for t in chunkr.active()]
    assert "Starting" == chunkr.task(one).status.value


def test_visual_layer_lists_initializing_and_running_tasks(store: RowsStore) -> None:
    vl = VisualLayerTasks(store)
    dataset = vl.add_dataset("Images", [USER], dataset_id=ID).dataset_id
    assert ID == dataset
    one = vl.submit(dataset, TaskType.DATASET_CREATION, USER).task.task_id
    two = vl.submit(dataset, TaskType.REINDEX, USER, task_id=ID).task.task_id
    assert sorted([one, two]) == [t.task_id for t in vl.active()]
    vl.start(two)
    vl.complete(two)
    vl.abort(USER, one)
    assert () == vl.active()
    vl.retry(USER, one)
    assert [one] == [t.task_id for t in vl.active()]
    assert ID == vl.task(ID).task_id


@pytest.mark.parametrize(
    "chosen", ["not-a-uuid", ID.upper(), "{" + ID + "}", ID.replace("-", ""), ID]
)
def test_visual_layer_chosen_ids_must_be_free_canonical_uuids(
    store: RowsStore, chosen: str
) -> None:
    vl = VisualLayerTasks(store)
    vl.add_dataset("Taken", [USER], dataset_id=ID)
    vl.submit(ID, TaskType.REINDEX, USER, task_id=ID)
    with pytest.raises(ValidationError) as refused:
        vl.add_dataset("Images", [USER], dataset_id=chosen)
    assert "dataset_id" == refused.value.field
    with pytest.raises(ValidationError) as refused:
        vl.submit(ID, TaskType.REINDEX, USER, task_id=chosen)
    assert "task_id" == refused.value.field
    assert [ID] == [t.task_id for t in vl.active()]
    assert 1 == vl.list(USER).total
