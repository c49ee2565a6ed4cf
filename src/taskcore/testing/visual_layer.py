"""A naive model of the Visual Layer task service and a Hypothesis state machine that
holds a :class:`~taskcore.visual_layer.service.VisualLayerTasks` on any
:class:`~taskcore.store.Store` to it.

Run it against your own store::

    from taskcore.testing.visual_layer import visual_layer_service_machine

    TestMine = visual_layer_service_machine(lambda clock: MyStore(clock=clock)).TestCase

The model (:class:`VisualLayerModel`) is plain dicts written from the Visual Layer Task
Manager documentation and docs/visual-layer.md, with no helper shared with the service.
The machine drives two datasets with different users, the worker side (submit, start,
progress, commit phase, complete, fail) and the user side (get, abort, retry, list) for
three users.  Invariants: ``end_time`` is null iff the task is not ended;
``error_message`` is set iff ``FAILED``; progress is null or 0..100, and 100 when
``COMPLETED``; each user's unfiltered list is the model's visible tasks, newest first,
ties by id; a refused call changes nothing in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from taskcore.clock import Clock, ManualClock
from taskcore.errors import IllegalTransition, TaskcoreError
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore, RowsStore
from taskcore.testing._on_store import on_store
from taskcore.visual_layer.errors import (
    TaskNotAbortable,
    TaskNotRetryable,
    VisualLayerTaskNotFound,
)
from taskcore.visual_layer.lifecycle import TaskType
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery

__all__ = [
    "ModelTask",
    "VisualLayerModel",
    "VisualLayerServiceMachine",
    "visual_layer_service_machine",
]

USERS = ("ana@example.com", "ben@example.com", "cy@example.com")
# Dataset 0 is Ana's and Ben's; dataset 1 is Ben's and Cy's.
DATASET_USERS = ({USERS[0], USERS[1]}, {USERS[1], USERS[2]})
_ENDED = ("COMPLETED", "FAILED", "ABORTED")


@dataclass(frozen=True)
class ModelTask:
    """A task as the documentation describes it."""

    dataset: int
    task_type: str
    status: str = "INITIALIZING"
    progress: int | None = None
    error: str | None = None
    ended: datetime | None = None
    committing: bool = False
    started: datetime | None = None


class VisualLayerModel:
    """Tasks by id, each on dataset 0 or 1."""

    def __init__(self) -> None:
        self.tasks: dict[str, ModelTask] = {}

    def visible(self, user: str) -> list[str]:
        """The ids of the tasks ``user`` may see."""
        return [t for t, m in self.tasks.items() if user in DATASET_USERS[m.dataset]]


class VisualLayerServiceMachine(RuleBasedStateMachine):
    """The Visual Layer service (on :meth:`make_store`'s store) against the model."""

    task_ids: Bundle[Any] = Bundle("task_ids")

    def __init__(self) -> None:
        super().__init__()
        self.clock: ManualClock = ManualClock()
        self.store: RowsStore = self.make_store(self.clock)
        self.service: VisualLayerTasks = VisualLayerTasks(self.store, ids=SeededIds(17, prefix=""))
        self.datasets: list[str] = [
            self.service.add_dataset(f"Dataset {i}", users).dataset_id
            for i, users in enumerate(DATASET_USERS)
        ]
        self.model: VisualLayerModel = VisualLayerModel()

    def make_store(self, clock: Clock) -> RowsStore:
        """A fresh, empty store on ``clock`` (in memory here; override for another)."""
        return MemoryStore(clock=clock)

    def teardown(self) -> None:
        self.store.close()

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _tables(self) -> list[tuple[str, Any]]:
        with self.store.unit(readonly=True) as unit:
            return [
                item
                for table in (
                    "visual_layer.tasks",
                    "visual_layer.datasets",
                    "visual_layer.by_dataset",
                )
                for item in unit.items(table)
            ]

    def _refused(self, error: type[TaskcoreError], call: Callable[[], object]) -> None:
        before = self._tables()
        try:
            call()
        except error:
            pass
        else:
            raise AssertionError(f"expected {error.__name__}")
        assert before == self._tables(), "a refused call changed the store"

    def _worker(
        self, task_id: str, allowed: bool, call: Callable[[], object], after: ModelTask
    ) -> None:
        if allowed:
            call()
            self.model.tasks[task_id] = after
        else:
            self._refused(IllegalTransition, call)

    # --- the worker side -------------------------------------------------------------

    @rule(target=task_ids, dataset=st.sampled_from([0, 1]), kind=st.sampled_from(list(TaskType)))
    def submit(self, dataset: int, kind: TaskType) -> str:
        creator = sorted(DATASET_USERS[dataset])[0]
        shown = self.service.submit(
            self.datasets[dataset], kind, creator, {"n": len(self.model.tasks)}
        )
        self.model.tasks[shown.task.task_id] = ModelTask(dataset, kind.value, started=self._now())
        return shown.task.task_id

    @rule(task_id=task_ids)
    def start(self, task_id: str) -> None:
        m = self.model.tasks[task_id]
        self._worker(
            task_id,
            m.status == "INITIALIZING",
            lambda: self.service.start(task_id),
            replace(m, status="RUNNING", progress=0),
        )

    @rule(task_id=task_ids, percentage=st.integers(0, 100))
    def progress(self, task_id: str, percentage: int) -> None:
        m = self.model.tasks[task_id]
        if m.status == "RUNNING" and percentage < (m.progress or 0):
            return  # a lower value is a ValidationError (tested in the service tests)
        self._worker(
            task_id,
            m.status == "RUNNING",
            lambda: self.service.progress(task_id, percentage),
            replace(m, progress=percentage),
        )

    @rule(task_id=task_ids)
    def enter_commit_phase(self, task_id: str) -> None:
        m = self.model.tasks[task_id]
        self._worker(
            task_id,
            m.status == "RUNNING",
            lambda: self.service.enter_commit_phase(task_id),
            replace(m, committing=True),
        )

    @rule(task_id=task_ids)
    def complete(self, task_id: str) -> None:
        m = self.model.tasks[task_id]
        self._worker(
            task_id,
            m.status == "RUNNING",
            lambda: self.service.complete(task_id),
            replace(m, status="COMPLETED", progress=100, ended=self._now()),
        )

    @rule(task_id=task_ids, message=st.sampled_from(["Model timeout", "Disk full"]))
    def fail(self, task_id: str, message: str) -> None:
        m = self.model.tasks[task_id]
        self._worker(
            task_id,
            m.status in ("INITIALIZING", "RUNNING"),
            lambda: self.service.fail(task_id, message),
            replace(m, status="FAILED", error=message, ended=self._now()),
        )

    @rule(seconds=st.sampled_from([0, 1, 30]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # --- the user side ---------------------------------------------------------------

    @rule(task_id=task_ids, user=st.sampled_from(USERS))
    def abort(self, task_id: str, user: str) -> None:
        m = self.model.tasks[task_id]
        if user not in DATASET_USERS[m.dataset]:
            self._refused(VisualLayerTaskNotFound, lambda: self.service.abort(user, task_id))
        elif (
            m.task_type == "DATASET_CREATION"
            and m.status in ("INITIALIZING", "RUNNING")
            and not m.committing
        ):
            self.service.abort(user, task_id)
            self.model.tasks[task_id] = replace(m, status="ABORTED", ended=self._now())
        else:
            self._refused(TaskNotAbortable, lambda: self.service.abort(user, task_id))

    @rule(task_id=task_ids, user=st.sampled_from(USERS))
    def retry(self, task_id: str, user: str) -> None:
        m = self.model.tasks[task_id]
        if user not in DATASET_USERS[m.dataset]:
            self._refused(VisualLayerTaskNotFound, lambda: self.service.retry(user, task_id))
        elif m.task_type == "DATASET_CREATION" and m.status in ("FAILED", "ABORTED"):
            self.service.retry(user, task_id)
            self.model.tasks[task_id] = replace(
                m, status="INITIALIZING", progress=None, error=None, ended=None, committing=False
            )
        else:
            self._refused(TaskNotRetryable, lambda: self.service.retry(user, task_id))

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def every_task_is_what_the_model_says(self) -> None:
        for task_id, m in self.model.tasks.items():
            user = sorted(DATASET_USERS[m.dataset])[0]
            task = self.service.get(user, task_id).task
            assert (m.status, m.progress, m.error, m.ended, m.committing, m.started) == (
                task.status.value,
                task.progress_percentage,
                task.error_message,
                task.end_time,
                task.in_commit_phase,
                task.start_time,
            )
            assert (task.end_time is None) == (task.status.value not in _ENDED)
            assert (task.error_message is not None) == (task.status.value == "FAILED")
            p = task.progress_percentage
            assert p is None or 0 <= p <= 100
            assert task.status.value != "COMPLETED" or p == 100

    @invariant()
    def each_user_lists_exactly_its_visible_tasks(self) -> None:
        for user in USERS:
            want = sorted(self.model.visible(user))
            want.sort(key=lambda t: self.model.tasks[t].started or datetime.min, reverse=True)
            listing = self.service.list(user, TaskQuery(page_size=50))
            assert len(want) == listing.total
            assert want[:50] == [s.task.task_id for s in listing.tasks]


def visual_layer_service_machine(
    store_factory: Callable[[Clock], RowsStore],
) -> type[VisualLayerServiceMachine]:
    """Build the Visual Layer service machine for stores made by ``store_factory``.

    Args:
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        A :class:`VisualLayerServiceMachine` subclass; its ``TestCase`` runs under pytest.
    """

    return on_store(VisualLayerServiceMachine, store_factory)
