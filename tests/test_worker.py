"""The simulated worker (docs/server.md, "Simulated worker"): it drives every API's tasks
to their end on both stores, is deterministic under a seed, fails exactly the share it
is told to, answers its control routes only when enabled, and its thread stops clean."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from taskcore.chunkr.lifecycle import ChunkrStatus
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.wire import parse_create
from taskcore.claro.grid import Grid
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import LEASE_EXPIRED, ClaroTasks
from taskcore.clock import ManualClock
from taskcore.errors import (
    IllegalTransition,
    NotFound,
    RouteNotFound,
    TaskcoreError,
    ValidationError,
)
from taskcore.http import Request
from taskcore.ids import SeededIds
from taskcore.sendai import ApiKey, Document, SendAITasks, Step
from taskcore.sendai.errors import InvalidTaskState
from taskcore.sendai.lifecycle import SendAIStatus
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer.lifecycle import TaskType
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.worker import (
    COMMIT_AT,
    FAILURE_MESSAGE,
    Api,
    Moved,
    SimulatedWorker,
    TaskRef,
    control_router,
)

USER = "rachel@visual-layer.com"


@attrs.define
class World:
    """The four services on one store, with a few tasks of each API."""

    store: RowsStore
    claro: ClaroTasks
    sendai: SendAITasks
    chunkr: ChunkrTasks
    visual_layer: VisualLayerTasks
    claro_tasks: list[str] = attrs.field(factory=list)
    sendai_tasks: list[str] = attrs.field(factory=list)
    chunkr_tasks: list[str] = attrs.field(factory=list)
    vl_tasks: list[str] = attrs.field(factory=list)

    def worker(self, **options: Any) -> SimulatedWorker:
        return SimulatedWorker(
            claro=self.claro,
            sendai=self.sendai,
            chunkr=self.chunkr,
            visual_layer=self.visual_layer,
            **options,
        )

    def outcome(self) -> dict[str, Any]:
        """What a user would see of every task, and the Claro datasets' grids."""
        return {
            "claro": [
                (t.status.value, t.successful_cells, t.failed_cells)
                for t in map(self.claro.task, self.claro_tasks)
            ],
            "grids": [self.claro.dataset("acme", d).dump() for d in ("bulk", "rows")],
            "sendai": [self.sendai.task("team", t).status.value for t in self.sendai_tasks],
            "chunkr": [self.chunkr.task(t).status.value for t in self.chunkr_tasks],
            "visual_layer": [
                (t.status.value, t.progress_percentage, t.error_message)
                for t in map(self.visual_layer.task, self.vl_tasks)
            ],
        }


def make_world(store: RowsStore, tasks: int = 3) -> World:
    world = World(
        store,
        ClaroTasks(store, ids=SeededIds(1)),
        SendAITasks(store, ids=SeededIds(2)),
        ChunkrTasks(store, ids=SeededIds(3, prefix="")),
        VisualLayerTasks(store, ids=SeededIds(4, prefix="")),
    )
    rows = [f"row_{i}" for i in range(40)]
    world.claro.create_dataset("acme", Grid(rows, ["a", "b", "c"]), dataset_id="bulk")
    world.claro.create_dataset("acme", Grid(rows[:2], ["a", "b"]), dataset_id="rows")
    world.claro_tasks.append(world.claro.create_bulk("acme", "bulk", {}).task_id)
    world.claro_tasks.append(world.claro.create_new_rows("acme", "rows", {"rowCount": 7}).task_id)
    world.sendai.create_project(
        "team", "quick", [Step("EXTRACT", review=False), Step("GROUP", review=False)]
    )
    documents = [Document(f"doc-{i}.pdf") for i in range(tasks)]
    world.sendai_tasks += [t.id for t in world.sendai.upload("team", "quick", "u1", documents)]
    for i in range(tasks):
        form = parse_create({"file": f"https://example.com/{i}.pdf", "file_name": f"{i}.pdf"})
        world.chunkr_tasks.append(world.chunkr.create("acme", form).task_id)
    dataset = world.visual_layer.add_dataset("Images", [USER]).dataset_id
    kinds = [TaskType.DATASET_CREATION, TaskType.ENRICHMENT, TaskType.REINDEX]
    for i in range(tasks):
        shown = world.visual_layer.submit(dataset, kinds[i % 3], USER)
        world.vl_tasks.append(shown.task.task_id)
    return world


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = ManualClock()
    store: RowsStore = (
        MemoryStore(clock=clock)
        if request.param == "memory"
        else SqliteStore(tmp_path / "worker.db", clock=clock)
    )
    yield make_world(store)
    store.close()


def run_to_the_end(worker: SimulatedWorker, limit: int = 100) -> list[list[Moved]]:
    ticks: list[list[Moved]] = []
    for _ in range(limit):
        moved = worker.tick()
        if not moved:
            return ticks
        ticks.append(moved)
    raise AssertionError(f"still moving after {limit} ticks")


# -- driving tasks to the end -------------------------------------------------------------


def test_the_worker_drives_every_api_to_the_end(world: World) -> None:
    worker = world.worker(cells_per_tick=50)
    first = worker.tick()
    assert {
        (Api.CLARO, "queued", "processing"),
        (Api.SENDAI, "PROCESSING", "COMPLETED"),
        (Api.CHUNKR, "Starting", "Processing"),
        (Api.VISUAL_LAYER, "INITIALIZING", "RUNNING"),
    } == {(m.ref.api, m.before, m.after) for m in first}
    run_to_the_end(worker)

    outcome = world.outcome()
    assert [("completed", 120, 0), ("completed", 14, 0)] == outcome["claro"]
    assert 0 == world.claro.dataset("acme", "bulk").empty_count
    assert 9 == world.claro.dataset("acme", "rows").row_count
    assert ["COMPLETED"] * 3 == outcome["sendai"]
    assert ["Succeeded"] * 3 == outcome["chunkr"]
    assert [("COMPLETED", 100, None)] * 3 == outcome["visual_layer"]
    output = world.chunkr.output("acme", world.chunkr_tasks[0])
    assert output is not None
    assert "Parsed 0.pdf" == output.chunks[0].segments[0].content
    assert () == world.claro.active()
    assert () == world.sendai.processing()
    assert () == world.chunkr.active()
    assert () == world.visual_layer.active()


def test_polling_shows_progress_step_by_step(world: World) -> None:
    worker = world.worker(cells_per_tick=25, progress_step=30)
    claro_progress, vl_progress = [], []
    while worker.tick():
        claro_progress.append(world.claro.task(world.claro_tasks[0]).progress.completed)
        shown = world.visual_layer.task(world.vl_tasks[0])
        vl_progress.append((shown.progress_percentage, shown.in_commit_phase))
    assert [0, 25, 50, 75, 100, 120] == sorted(set(claro_progress))
    assert claro_progress == sorted(claro_progress)  # never decreases
    assert [
        (0, False),
        (30, False),
        (60, False),
        (COMMIT_AT, False),
        (COMMIT_AT, True),
        (100, True),  # completed from the commit phase; only a retry leaves it
    ] == list(dict.fromkeys(vl_progress))


def test_a_sendai_task_stops_in_review_and_moves_on_once_completed(world: World) -> None:
    world.sendai.create_project("team", "review", [Step("EXTRACT")])
    (task,) = world.sendai.upload("team", "review", "u2", [Document("r.pdf")])
    worker = SimulatedWorker(sendai=world.sendai)
    run_to_the_end(worker)
    assert SendAIStatus.REVIEWING == world.sendai.task("team", task.id).status
    world.sendai.complete(ApiKey("team", ["task.edit"]), "review", task.id)
    assert [[Moved(TaskRef(Api.SENDAI, task.id, "team"), "PROCESSING", "COMPLETED")]] == (
        run_to_the_end(worker)
    )


def test_a_task_changed_by_another_caller_is_skipped_unchanged() -> None:
    clock = ManualClock()
    claro = ClaroTasks(MemoryStore(clock=clock), lease_ttl=60)
    claro.create_dataset("acme", Grid(["r"], ["c"]), dataset_id="d")
    task_id = claro.create_bulk("acme", "d", {}).task_id
    clock.advance(61)  # the lease lapsed: nobody renewed it
    assert [] == SimulatedWorker(claro=claro).tick()
    assert (ClaroStatus.FAILED, LEASE_EXPIRED) == (
        claro.task(task_id).status,
        claro.task(task_id).failure_reason,
    )


def test_batch_bounds_the_tasks_taken_per_service_and_tick(world: World) -> None:
    moved = world.worker(batch=1).tick()
    assert [Api.CLARO, Api.SENDAI, Api.CHUNKR, Api.VISUAL_LAYER] == [m.ref.api for m in moved]


# -- determinism and failure shares ---------------------------------------------------------


def outcome_of(seed: int, share: float, tmp_path: Path | None = None) -> dict[str, Any]:
    store: RowsStore = (
        MemoryStore(clock=ManualClock())
        if tmp_path is None
        else SqliteStore(tmp_path / f"run-{seed}-{share}.db", clock=ManualClock())
    )
    with store:
        world = make_world(store, tasks=12)
        run_to_the_end(world.worker(seed=seed, failure_rate=share, cells_per_tick=7))
        return world.outcome()


def test_the_same_seed_and_ticks_give_the_same_outcome(tmp_path: Path) -> None:
    first = outcome_of(7, 0.5)
    assert first == outcome_of(7, 0.5)
    assert first == outcome_of(7, 0.5, tmp_path)  # the store does not matter
    assert first != outcome_of(8, 0.5)


def test_a_failure_rate_of_zero_fails_nothing() -> None:
    outcome = outcome_of(1, 0.0)
    assert [("completed", 120, 0), ("completed", 14, 0)] == outcome["claro"]
    assert {"COMPLETED"} == set(outcome["sendai"])
    assert {"Succeeded"} == set(outcome["chunkr"])
    assert {("COMPLETED", 100, None)} == set(outcome["visual_layer"])


def test_a_failure_rate_of_one_fails_everything() -> None:
    outcome = outcome_of(1, 1.0)
    # Claro fails cells, not tasks: the task completes with every cell failed.
    assert [("completed", 0, 120), ("completed", 0, 14)] == outcome["claro"]
    assert {"FAILED"} == set(outcome["sendai"])
    assert {"Failed"} == set(outcome["chunkr"])
    assert {("FAILED", COMMIT_AT, FAILURE_MESSAGE)} == set(outcome["visual_layer"])


def test_a_middle_failure_rate_fails_some_deterministically() -> None:
    outcome = outcome_of(3, 0.25)
    (_, ok, failed), _ = outcome["claro"]
    assert (120, True) == (ok + failed, 0 < failed < 60)
    for api, failed_status in (("sendai", "FAILED"), ("chunkr", "Failed")):
        assert 0 < outcome[api].count(failed_status) < 12
    assert outcome == outcome_of(3, 0.25)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("failure_rate", -0.1),
        ("failure_rate", 1.01),
        ("failure_rate", float("nan")),
        ("failure_rate", True),
        ("failure_rate", "0.5"),
        ("interval", 0),
        ("interval", -1.0),
        ("interval", float("inf")),
        ("interval", True),
        ("cells_per_tick", 0),
        ("cells_per_tick", 1.5),
        ("progress_step", COMMIT_AT + 1),
        ("batch", 0),
        ("seed", "x"),
        ("seed", False),
    ],
)
def test_options_out_of_range_are_refused(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be"):
        SimulatedWorker(**{option: value})


# -- control operations ------------------------------------------------------------------


def test_advance_fail_and_finish_now_on_each_api(world: World) -> None:
    worker = world.worker(failure_rate=1.0)  # finish_now draws no failure
    claro, sendai, chunkr, vl = (
        TaskRef(Api.CLARO, world.claro_tasks[0]),
        TaskRef(Api.SENDAI, world.sendai_tasks[0], "team"),
        TaskRef(Api.CHUNKR, world.chunkr_tasks[0]),
        TaskRef(Api.VISUAL_LAYER, world.vl_tasks[0]),
    )
    assert Moved(claro, "queued", "processing") == worker.advance(claro)
    assert Moved(claro, "processing", "completed") == worker.finish_now(claro)
    assert (120, 0) == (
        world.claro.task(claro.task_id).successful_cells,
        world.claro.task(claro.task_id).failed_cells,
    )
    rows = TaskRef(Api.CLARO, world.claro_tasks[1])
    assert Moved(rows, "queued", "completed") == worker.finish_now(rows)
    assert Moved(sendai, "PROCESSING", "COMPLETED") == worker.finish_now(sendai)
    assert Moved(chunkr, "Starting", "Succeeded") == worker.finish_now(chunkr)
    assert Moved(vl, "INITIALIZING", "COMPLETED") == worker.finish_now(vl)

    claro_2 = world.claro.create_bulk("acme", "bulk", {"processOnlyEmpty": False}).task_id
    fails = [
        (TaskRef(Api.CLARO, claro_2), "queued", "failed"),
        (TaskRef(Api.SENDAI, world.sendai_tasks[1], "team"), "PROCESSING", "FAILED"),
        (TaskRef(Api.CHUNKR, world.chunkr_tasks[1]), "Starting", "Failed"),
        (TaskRef(Api.VISUAL_LAYER, world.vl_tasks[1]), "INITIALIZING", "FAILED"),
    ]
    for ref, before, after in fails:
        assert Moved(ref, before, after) == worker.fail(ref, "told to")
    assert "told to" == world.claro.task(claro_2).failure_reason
    assert "told to" == world.chunkr.task(world.chunkr_tasks[1]).message
    assert "told to" == world.visual_layer.task(world.vl_tasks[1]).error_message
    assert "told to" == world.sendai.task("team", world.sendai_tasks[1]).failure_reason
    running = TaskRef(Api.VISUAL_LAYER, world.vl_tasks[2])
    worker.advance(running)
    assert Moved(running, "RUNNING", "COMPLETED") == worker.finish_now(running)
    chunk = TaskRef(Api.CHUNKR, world.chunkr_tasks[2])
    worker.advance(chunk)
    assert Moved(chunk, "Processing", "Failed") == worker.advance(chunk)


def test_control_operations_refuse_what_the_services_refuse(world: World) -> None:
    worker = world.worker()
    done = TaskRef(Api.CHUNKR, world.chunkr_tasks[0])
    worker.finish_now(done)
    before = world.outcome()
    cases: list[tuple[type[TaskcoreError], Any]] = [
        (IllegalTransition, lambda: worker.advance(done)),
        (IllegalTransition, lambda: worker.fail(done)),
        (NotFound, lambda: worker.advance(TaskRef(Api.CLARO, "task_nope"))),
        (NotFound, lambda: worker.advance(TaskRef(Api.VISUAL_LAYER, "nope"))),
        (NotFound, lambda: worker.finish_now(TaskRef(Api.SENDAI, "nope", "team"))),
        (ValidationError, lambda: worker.advance(TaskRef(Api.SENDAI, world.sendai_tasks[0]))),
        (ValidationError, lambda: worker.fail(TaskRef(Api.CHUNKR, world.chunkr_tasks[1]), "")),
        (ValidationError, lambda: worker.fail(done, "x" * 1001)),
        (RouteNotFound, lambda: SimulatedWorker().advance(done)),
    ]
    for error, call in cases:
        with pytest.raises(error):
            call()
    assert before == world.outcome()
    world.sendai.create_project("team", "review", [Step("EXTRACT")])
    (task,) = world.sendai.upload("team", "review", "u2", [Document("r.pdf")])
    reviewing = TaskRef(Api.SENDAI, task.id, "team")
    worker.advance(reviewing)
    with pytest.raises(InvalidTaskState):
        worker.advance(reviewing)


def test_moved_on_the_wire() -> None:
    assert {"api": "chunkr", "task_id": "t", "before": "Starting", "status": "Processing"} == (
        Moved(TaskRef("chunkr", "t"), "Starting", "Processing").to_wire()
    )
    assert {"api": "sendai", "task_id": "t", "team_id": "x", "before": "A", "status": "B"} == (
        Moved(TaskRef("sendai", "t", "x"), "A", "B").to_wire()
    )


# -- the control routes ------------------------------------------------------------------


def post(router: Any, path: str, body: bytes = b"") -> tuple[int, Any]:
    response = router.handle(Request("POST", path, {"content-type": "application/json"}, body))
    return response.status, response.json()


def test_control_routes_drive_tasks_when_enabled(world: World) -> None:
    router = control_router(world.worker(), enabled=True)
    base = "/_taskcore/worker"
    chunkr_task = world.chunkr_tasks[0]
    expected = {"api": "chunkr", "task_id": chunkr_task, "before": "Starting"}
    expected["status"] = "Processing"
    assert (200, expected) == post(router, f"{base}/chunkr/tasks/{chunkr_task}/advance")
    status, body = post(
        router, f"{base}/chunkr/tasks/{chunkr_task}/fail", b'{"message": "disk full"}'
    )
    assert (200, "Failed") == (status, body["status"])
    assert "disk full" == world.chunkr.task(chunkr_task).message
    sendai_task = world.sendai_tasks[0]
    status, body = post(router, f"{base}/sendai/teams/team/tasks/{sendai_task}/finish")
    assert (200, "COMPLETED", "team") == (status, body["status"], body["team_id"])
    status, body = post(router, f"{base}/visual_layer/tasks/{world.vl_tasks[0]}/fail")
    assert FAILURE_MESSAGE == world.visual_layer.task(world.vl_tasks[0]).error_message
    status, body = post(router, f"{base}/tick")
    assert 200 == status
    assert {"claro", "chunkr", "visual_layer"} <= {m["api"] for m in body["moved"]}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/_taskcore/worker/nope/tasks/t/advance", b"", 404, "NOT_FOUND"),
        ("/_taskcore/worker/chunkr/tasks/t/explode", b"", 404, "NOT_FOUND"),
        ("/_taskcore/worker/sendai/tasks/t/advance", b"", 404, "NOT_FOUND"),
        ("/_taskcore/worker/claro/tasks/task_nope/advance", b"", 404, "TASK_NOT_FOUND"),
        ("/_taskcore/worker/chunkr/tasks/t/fail", b"[]", 400, "VALIDATION_ERROR"),
        ("/_taskcore/worker/chunkr/tasks/t/fail", b"{", 400, "VALIDATION_ERROR"),
        ("/_taskcore/worker/chunkr/tasks/t/fail", b'{"reason": "x"}', 400, "VALIDATION_ERROR"),
        ("/_taskcore/worker/chunkr/tasks/t/fail", b'{"message": 1}', 400, "VALIDATION_ERROR"),
        ("/_taskcore/worker/chunkr/tasks/t/fail", b'{"message": ""}', 400, "VALIDATION_ERROR"),
    ],
)
def test_control_routes_answer_errors_as_json(
    world: World, path: str, body: bytes, status: int, code: str
) -> None:
    router = control_router(world.worker(), enabled=True)
    answered, error = post(router, path, body)
    assert (status, code) == (answered, error["code"])


def test_control_routes_are_404_when_disabled(world: World) -> None:
    router = control_router(world.worker(), enabled=False)
    for path in (
        "/_taskcore/worker/tick",
        f"/_taskcore/worker/chunkr/tasks/{world.chunkr_tasks[0]}/advance",
    ):
        assert 404 == post(router, path)[0]
    assert ChunkrStatus.STARTING == world.chunkr.task(world.chunkr_tasks[0]).status
    enabled = control_router(world.worker(), enabled=True)
    response = enabled.handle(Request("GET", "/_taskcore/worker/tick"))
    assert (405, "POST") == (response.status, response.headers["allow"])


# -- the background thread -----------------------------------------------------------------


def workers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "taskcore-worker"]


def poll(condition: Any, timeout: float = 30.0) -> None:
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not condition():
            if deadline.wait(0.005):
                raise AssertionError("condition not reached before the deadline")
    finally:
        timer.cancel()
        timer.join()


def test_the_thread_drives_tasks_and_stops_clean(world: World) -> None:
    worker = world.worker(interval=0.001, cells_per_tick=100)
    with worker:
        assert worker.running
        with pytest.raises(RuntimeError, match="already running"):
            worker.start()
        poll(lambda: world.outcome()["visual_layer"] == [("COMPLETED", 100, None)] * 3)
    assert (False, []) == (worker.running, workers_alive())
    worker.stop()  # stopping a stopped worker does nothing
    worker.start()  # and it may start again
    worker.stop()
    assert [] == workers_alive()
    assert {"Succeeded"} == set(world.outcome()["chunkr"])


class Blocking(ChunkrTasks):
    """A Chunkr service whose ``active`` blocks until released, or fails once."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_once = False

    def active(self, limit: int = 100) -> tuple[Any, ...]:
        if self.fail_once:
            self.fail_once = False
            raise RuntimeError("store unavailable")
        self.entered.set()
        self.release.wait(30)
        return super().active(limit)


def test_stop_waits_for_a_tick_under_way_and_can_time_out() -> None:
    chunkr = Blocking()
    worker = SimulatedWorker(chunkr=chunkr, interval=0.001)
    worker.start()
    assert chunkr.entered.wait(30)
    with pytest.raises(TimeoutError):
        worker.stop(timeout=0.01)
    assert worker.running
    chunkr.release.set()
    worker.stop()
    assert (False, []) == (worker.running, workers_alive())


def test_a_failing_tick_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    chunkr = Blocking()
    chunkr.fail_once = True
    chunkr.release.set()
    with (
        caplog.at_level(logging.ERROR, logger="taskcore.worker"),
        SimulatedWorker(chunkr=chunkr, interval=0.001),
    ):
        assert chunkr.entered.wait(30)  # the tick after the failure ran
    assert ["simulated worker tick failed"] == [r.getMessage() for r in caplog.records]
    assert [] == workers_alive()


def test_a_stopped_worker_leaves_no_thread_even_when_never_started() -> None:
    SimulatedWorker().stop()
    assert [] == workers_alive()


def test_the_guides_worker_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[1] / "docs" / "server.md").read_text(encoding="utf-8")
    section = text.split("\n## Simulated worker\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/server.md", "exec"), {})
    assert "completed 100" == capsys.readouterr().out.splitlines()[-1]


class CountingClaro(ClaroTasks):
    """Counts the dataset reads (a whole grid each)."""

    reads = 0

    def dataset(self, account_id: str, dataset_id: str) -> Grid:
        self.reads += 1
        return super().dataset(account_id, dataset_id)


def test_a_new_rows_task_reads_its_locked_datasets_columns_once() -> None:
    claro = CountingClaro()
    claro.create_dataset("acme", Grid(["r"], ["a", "b"]), dataset_id="d")
    task_id = claro.create_new_rows("acme", "d", {"rowCount": 7}).task_id
    run_to_the_end(SimulatedWorker(claro=claro, cells_per_tick=2, failure_rate=0.5, seed=2))
    task = claro.task(task_id)
    assert ("completed", 14, 1) == (
        task.status,
        task.successful_cells + task.failed_cells,
        claro.reads,
    )
