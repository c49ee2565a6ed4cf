"""A naive model of the Chunkr task service and a Hypothesis state machine that holds a
:class:`~taskcore.chunkr.service.ChunkrTasks` on any :class:`~taskcore.store.Store` to it.

Run it against your own store::

    from taskcore.testing.chunkr import chunkr_service_machine

    TestMyStoreChunkr = chunkr_service_machine(lambda clock: MyStore(clock=clock)).TestCase

The model (:class:`ChunkrModel`) is plain dicts, written from the Chunkr API reference
(``TaskApi``) and docs/chunkr.md with no helper shared with the service: a task is its
status, message, configuration (the wire object's fields that are set), timestamps,
and what a re-run would revert to; the output is shown exactly while it is
``Succeeded``.  An update merges the
configuration's wire objects, the segment settings per segment type.

The machine drives every operation for two users (create, get, update, cancel, delete)
and the worker (start, succeed, fail), moves the clock and sweeps expired tasks.
Invariants: cancel only from ``Starting``; delete only from ``Succeeded``, ``Failed``,
``Cancelled``; a reverted task has its pre-update status, message and configuration;
``finished_at >= started_at`` once a run has finished; an expired task is invisible to
every call; a refused call changes nothing in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from taskcore.chunkr.errors import (
    ChunkrTaskNotFound,
    ConfigurationUnchanged,
    TaskNotCancellable,
    TaskNotDeletable,
    TaskNotUpdatable,
)
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import Chunk, ChunkrTask, Output, Segment
from taskcore.chunkr.wire import parse_create, parse_update
from taskcore.clock import Clock, ManualClock
from taskcore.errors import IllegalTransition, TaskcoreError
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore, Store
from taskcore.testing._on_store import on_store

__all__ = ["ChunkrModel", "ChunkrServiceMachine", "ModelTask", "chunkr_service_machine"]

USERS = ("user_a", "user_b")
OUTPUT = Output([Chunk("c1", [Segment("s1", "Text", "model output")])], page_count=1)

# Configurations as the client writes them: a few fields, small value sets, so that
# updates that change nothing (refused) come up as often as ones that do.
_settings = st.fixed_dictionaries({}, optional={"format": st.sampled_from(["Html", "Markdown"])})
configs: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "expires_in": st.sampled_from([5, 30, 600]),
        "ocr_strategy": st.sampled_from(["All", "Auto"]),
        "high_resolution": st.booleans(),
        "segment_processing": st.dictionaries(
            st.sampled_from(["Table", "Text", "Title"]), _settings, max_size=2
        ),
    },
)


def _normal(config: dict[str, Any]) -> dict[str, Any]:
    """A wire configuration with only its set fields (and set segment types)."""
    out = {k: v for k, v in config.items() if v is not None and k != "input_file_url"}
    if "segment_processing" in out:
        segments = {k: v for k, v in out["segment_processing"].items() if v is not None}
        out["segment_processing"] = {
            k: {f: x for f, x in v.items() if x is not None} for k, v in segments.items()
        }
    return out


def _merge(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    if given.get("segment_processing") == {}:  # names no segment type: gives nothing
        given = {k: v for k, v in given.items() if k != "segment_processing"}
    merged = {**current, **given}
    if "segment_processing" in given and "segment_processing" in current:
        merged["segment_processing"] = {
            **current["segment_processing"],
            **given["segment_processing"],
        }
    return merged


@dataclass(frozen=True)
class ModelTask:
    """The model's task: what the service must show."""

    user: str
    status: str
    message: str
    config: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    previous: tuple[str, str, dict[str, Any]] | None = None


@dataclass
class ChunkrModel:
    """Every task ever created, by id; a deleted one is removed."""

    tasks: dict[str, ModelTask] = field(default_factory=dict)

    def visible(self, task_id: str, user: str | None, now: datetime) -> ModelTask | None:
        """The task as ``user`` (``None``: the worker) may see it, else ``None``."""
        task = self.tasks.get(task_id)
        if task is None or (user is not None and task.user != user):
            return None
        if task.expires_at is not None and task.expires_at <= now:
            return None
        return task

    @staticmethod
    def finish(task: ModelTask, now: datetime, **changes: Any) -> ModelTask:
        """``task`` with a run finished now (``finished_at``, ``expires_at``)."""
        done = replace(task, **changes)
        expires_in = done.config.get("expires_in")
        expires_at = None if expires_in is None else now + timedelta(seconds=expires_in)
        return replace(done, finished_at=now, expires_at=expires_at)

    @staticmethod
    def revert(task: ModelTask) -> ModelTask:
        """``task`` back to what its re-run remembered."""
        assert task.previous is not None
        status, message, config = task.previous
        return replace(task, status=status, message=message, config=config, previous=None)


class ChunkrServiceMachine(RuleBasedStateMachine):
    """The Chunkr service (on :meth:`make_store`'s store) against :class:`ChunkrModel`."""

    task_ids: Bundle[Any] = Bundle("task_ids")

    def __init__(self) -> None:
        super().__init__()
        self.clock: ManualClock = ManualClock()
        self.store: Store = self.make_store(self.clock)
        self.service: ChunkrTasks = ChunkrTasks(self.store, ids=SeededIds(13, prefix=""))
        self.model: ChunkrModel = ChunkrModel()

    def make_store(self, clock: Clock) -> Store:
        """A fresh, empty store on ``clock`` (in memory here; override for another)."""
        return MemoryStore(clock=clock)

    def teardown(self) -> None:
        self.store.close()

    # --- helpers ---------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def _tables(self) -> list[tuple[str, Any]]:
        with self.store.unit(readonly=True) as unit:
            return [
                item
                for table in ("chunkr.tasks", "chunkr.files", "chunkr.outputs")
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

    def _check(self, task_id: str, actual: ChunkrTask) -> None:
        want = self.model.tasks[task_id]
        assert want.status == actual.status.value
        assert want.message == actual.message
        assert want.config == _normal(actual.configuration.to_wire())
        assert (want.created_at, want.started_at, want.finished_at, want.expires_at) == (
            actual.created_at,
            actual.started_at,
            actual.finished_at,
            actual.expires_at,
        )
        output = self.service.output(want.user, task_id)
        assert (OUTPUT if want.status == "Succeeded" else None) == output

    # --- user operations -------------------------------------------------------------

    # A few tasks only, so that one task's long paths (update, re-run, revert) come up.
    @precondition(lambda self: len(self.model.tasks) < 4)
    @rule(target=task_ids, user=st.sampled_from(USERS), config=configs)
    def create(self, user: str, config: dict[str, Any]) -> str:
        task = self.service.create(user, parse_create({"file": "aGk=", **config}))
        note(f"created {task.task_id} for {user}")
        self.model.tasks[task.task_id] = ModelTask(
            user, "Starting", "Task queued", _normal(config), self.now
        )
        self._check(task.task_id, task)
        return task.task_id

    @rule(task_id=task_ids, user=st.sampled_from(USERS))
    def get(self, task_id: str, user: str) -> None:
        if self.model.visible(task_id, user, self.now) is None:
            self._refused(ChunkrTaskNotFound, lambda: self.service.get(user, task_id))
        else:
            self._check(task_id, self.service.get(user, task_id))

    @rule(task_id=task_ids, user=st.sampled_from(USERS), given=configs)
    def update(self, task_id: str, user: str, given: dict[str, Any]) -> None:
        task = self.model.visible(task_id, user, self.now)
        call = partial(self.service.update, user, task_id, parse_update(given))
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status not in ("Succeeded", "Failed"):
            return self._refused(TaskNotUpdatable, call)
        merged = _merge(task.config, _normal(given))
        if merged == task.config:
            return self._refused(ConfigurationUnchanged, call)
        self.model.tasks[task_id] = replace(
            task,
            status="Starting",
            message="Task queued for update",
            config=merged,
            previous=(task.status, task.message, task.config),
        )
        self._check(task_id, call())
        return None

    @rule(task_id=task_ids, user=st.sampled_from(USERS))
    def cancel(self, task_id: str, user: str) -> None:
        task = self.model.visible(task_id, user, self.now)
        call = partial(self.service.cancel, user, task_id)
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status != "Starting":
            return self._refused(TaskNotCancellable, call)
        if task.previous is not None:
            after = self.model.revert(task)
        else:
            after = self.model.finish(task, self.now, status="Cancelled", message="Task cancelled")
        self.model.tasks[task_id] = after
        self._check(task_id, call())
        return None

    @rule(task_id=task_ids, user=st.sampled_from(USERS))
    def delete(self, task_id: str, user: str) -> None:
        task = self.model.visible(task_id, user, self.now)
        call = partial(self.service.delete, user, task_id)
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status not in ("Succeeded", "Failed", "Cancelled"):
            return self._refused(TaskNotDeletable, call)
        call()
        del self.model.tasks[task_id]
        return None

    # --- the worker ------------------------------------------------------------------

    @rule(task_id=task_ids)
    def start(self, task_id: str) -> None:
        task = self.model.visible(task_id, None, self.now)
        call = partial(self.service.start, task_id)
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status != "Starting":
            return self._refused(IllegalTransition, call)
        self.model.tasks[task_id] = replace(
            task, status="Processing", message="Task started", started_at=self.now
        )
        self._check(task_id, call())
        return None

    @rule(task_id=task_ids)
    def succeed(self, task_id: str) -> None:
        task = self.model.visible(task_id, None, self.now)
        call = partial(self.service.succeed, task_id, OUTPUT)
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status != "Processing":
            return self._refused(IllegalTransition, call)
        self.model.tasks[task_id] = self.model.finish(
            task,
            self.now,
            status="Succeeded",
            message="Task succeeded",
            previous=None,
        )
        self._check(task_id, call())
        return None

    @rule(task_id=task_ids, message=st.sampled_from(["Could not read the file", "Timed out"]))
    def fail(self, task_id: str, message: str) -> None:
        task = self.model.visible(task_id, None, self.now)
        call = partial(self.service.fail, task_id, message)
        if task is None:
            return self._refused(ChunkrTaskNotFound, call)
        if task.status != "Processing":
            return self._refused(IllegalTransition, call)
        if task.previous is not None:
            after = self.model.finish(self.model.revert(task), self.now)
        else:
            after = self.model.finish(task, self.now, status="Failed", message=message)
        self.model.tasks[task_id] = after
        self._check(task_id, call())
        return None

    # --- time ------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0, 1, 2, 40]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def purge(self) -> None:
        self.service.purge()
        now = self.now
        with self.store.unit(readonly=True) as unit:
            for key, doc in unit.items("chunkr.tasks"):
                assert not ChunkrTask.from_doc(doc).expired(now), f"purge kept expired {key}"

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def every_task_shows_what_the_model_says(self) -> None:
        for task_id, want in self.model.tasks.items():
            if self.model.visible(task_id, want.user, self.now) is None:
                continue
            actual = self.service.get(want.user, task_id)
            self._check(task_id, actual)
            if actual.status.value in ("Succeeded", "Failed") and actual.started_at:
                assert actual.finished_at is not None
                assert actual.started_at <= actual.finished_at


def chunkr_service_machine(
    store_factory: Callable[[Clock], Store],
) -> type[ChunkrServiceMachine]:
    """Build the Chunkr service machine for stores made by ``store_factory``.

    Args:
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        A :class:`ChunkrServiceMachine` subclass; its ``TestCase`` runs under pytest.
    """

    return on_store(ChunkrServiceMachine, store_factory)
