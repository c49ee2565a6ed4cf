"""A naive model of the Send AI task service and a Hypothesis state machine that holds a
:class:`~taskcore.sendai.service.SendAITasks` on any :class:`~taskcore.store.Store` to it.

Run it against your own store::

    from taskcore.testing.sendai import sendai_service_machine

    TestMyStoreSendAI = sendai_service_machine(lambda clock: MyStore(clock=clock)).TestCase

The model (:class:`SendAIModel`) is plain dicts, written from the Send AI Task Management
API reference and docs/sendai.md: per task its status, step, meta as a dict, whether it
was exported and how many reports it has; per upload whether it is fully processed.

The machine drives the pipeline (uploads, steps with and without review, filters,
failures, exports, uploads flagged fully processed) and every user operation (get,
unlock, complete with and without meta, discard, report) with keys of every kind: the
team's editor, a reader, a writer without ``task.read``, aliased scopes, another team's
key, and a path under another project.  Invariants: every status is one of the six; a
finalized task changes only through unlock; an exported task never unlocks; reports
never change status; a refused call changes nothing the store holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from taskcore.clock import Clock, ManualClock
from taskcore.errors import TaskcoreError, TaskNotFound, Unauthorized, ValidationError
from taskcore.ids import SeededIds
from taskcore.sendai.errors import InvalidTaskState, TaskValidationFailed
from taskcore.sendai.service import PROJECTS, REPORTS, TASKS, UPLOADS, Document, SendAITasks
from taskcore.sendai.task import ApiKey, FilterRule, Issue, MetaField, Step
from taskcore.store import MemoryStore, Store
from taskcore.testing._on_store import on_store

__all__ = ["STEPS", "SendAIModel", "SendAIServiceMachine", "sendai_service_machine"]

TEAMS = ("acme", "globex")
PROJECT = "invoices"
OTHER_PROJECT = "receipts"
STEPS = (
    Step("EXTRACT", ["total"], [FilterRule("language", "xx")]),
    Step("CLASSIFY", ["doc_type"], review=False),
    Step("GROUP"),
)
"""The model project: review at EXTRACT (needs ``total``, filters ``language=xx``), an
automatic CLASSIFY (needs ``doc_type``, else review), review at GROUP."""

MAX_UPLOADS = 2
"""Uploads per example: few tasks, so that each travels far down the pipeline."""

_PROCESSING, _REVIEWING = "PROCESSING", "REVIEWING"
_FINALIZED = {"COMPLETED", "DISCARDED", "FILTERED"}
_STATUSES = {"PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"}
# (name, team index or None for the task's own team, read, edit)
_KEYS = {
    "editor": (None, {"task.read", "task.edit"}),
    "reader": (None, {"task.read"}),
    "writer": (None, {"task.edit"}),
    "aliased": (None, {"tasks.view", "tasks.edit"}),
    "stranger": (1, {"task.read", "task.edit"}),
}
_METAS = st.sampled_from(
    [{}, {"total": "1"}, {"total": " "}, {"language": "xx"}, {"language": "en"},
     {"doc_type": "invoice"}, {"total": "2", "doc_type": "receipt"},
     {"total": "3", "doc_type": "invoice"}]
)  # fmt: skip
# Mostly the team's editor on the right path, so that tasks travel the whole pipeline;
# every other kind of key and path often enough to be refused in every status.
_KINDS = st.sampled_from(["editor", "editor", "editor", "aliased", "reader", "writer",
                          "stranger"])  # fmt: skip
_PROJECTS = st.sampled_from([PROJECT] * 5 + [OTHER_PROJECT])


@dataclass
class ModelTask:
    """A task as the model sees it."""

    team: str
    upload: str
    status: str = _PROCESSING
    step: int = 0
    step_done: bool = False
    meta: dict[str, str] = field(default_factory=dict)
    exported: bool = False
    reports: int = 0


@dataclass
class SendAIModel:
    """The naive model: tasks and uploads in dicts (no helper shared with the service)."""

    tasks: dict[str, ModelTask] = field(default_factory=dict)
    fully_processed: dict[tuple[str, str], bool] = field(default_factory=dict)

    def run_step(self, task: ModelTask, meta: dict[str, str]) -> None:
        """Auto-processing, as docs/sendai.md describes it."""
        task.meta.update(meta)
        while True:
            if task.step_done:
                if task.step == len(STEPS) - 1:
                    task.status, task.step_done = "COMPLETED", False
                    return
                task.step, task.step_done = task.step + 1, False
            step = STEPS[task.step]
            if any(task.meta.get(rule.name) == rule.value for rule in step.filters):
                task.status = "FILTERED"
                return
            missing = [name for name in step.required if not task.meta.get(name, "").strip()]
            if step.review or missing:
                task.status = _REVIEWING
                return
            task.step_done = True

    def missing(self, task: ModelTask, meta: dict[str, str]) -> list[str]:
        merged = {**task.meta, **meta}
        return [n for n in STEPS[task.step].required if not merged.get(n, "").strip()]


class SendAIServiceMachine(RuleBasedStateMachine):
    """The Send AI service against :class:`SendAIModel`.

    Subclass it and override :meth:`make_store` (or call :func:`sendai_service_machine`)
    to run it on another store.
    """

    tasks: Bundle[Any] = Bundle("tasks")
    uploads: Bundle[Any] = Bundle("uploads")

    def __init__(self) -> None:
        super().__init__()
        self.clock: ManualClock = ManualClock()
        self.store: Store = self.make_store(self.clock)
        self.service: SendAITasks = SendAITasks(
            self.store, ids=SeededIds(3), report_ids=SeededIds(4, "r_")
        )
        for team in TEAMS:
            self.service.create_project(team, PROJECT, STEPS)
            self.service.create_project(team, OTHER_PROJECT, [Step("GROUP")])
        self.model: SendAIModel = SendAIModel()
        self.upload_count: int = 0
        self.statuses: dict[str, str] = {}

    def make_store(self, clock: Clock) -> Store:
        """A fresh, empty store on ``clock`` (in memory here; override for another)."""
        return MemoryStore(clock=clock)

    def teardown(self) -> None:
        self.store.close()

    # --- helpers -----------------------------------------------------------------------

    def _snapshot(self) -> dict[str, list[tuple[str, Any]]]:
        with self.store.unit(readonly=True) as unit:
            return {t: list(unit.items(t)) for t in (PROJECTS, UPLOADS, TASKS, REPORTS)}

    def _refused(self, error: type[TaskcoreError], call: Callable[[], object]) -> None:
        """``call`` raises ``error`` and changes nothing the store holds."""
        before = self._snapshot()
        try:
            call()
        except error as raised:
            note(f"refused: {raised!r}")
        else:
            raise AssertionError(f"expected {error.__name__}")
        assert before == self._snapshot(), "a refused call changed the store"

    def _key(self, task: ModelTask, kind: str) -> ApiKey:
        team_index, scopes = _KEYS[kind]
        team = task.team if team_index is None else _other(task.team)
        return ApiKey(team, scopes)

    def _access(self, task: ModelTask, kind: str, scope: str, project: str) -> type | None:
        """The error a call with this key and path must raise, or ``None``."""
        key = self._key(task, kind)
        if not key.allows(scope):
            return Unauthorized
        if key.team_id != task.team or project != PROJECT:
            return TaskNotFound
        return None

    # --- worker side -------------------------------------------------------------------

    @precondition(lambda self: self.upload_count < MAX_UPLOADS)
    @rule(target=tasks, team=st.sampled_from(TEAMS), count=st.integers(1, 2))
    def upload(self, team: str, count: int) -> Any:
        self.upload_count += 1
        upload_id = f"up-{self.upload_count}"
        docs = [Document(f"doc-{i}.pdf", i + 1) for i in range(count)]
        created = self.service.upload(team, PROJECT, upload_id, docs)
        self.model.fully_processed[(team, upload_id)] = False
        for task in created:
            self.model.tasks[task.id] = ModelTask(team, upload_id)
            self.statuses[task.id] = _PROCESSING
        note(f"upload {upload_id} of {team}: {[t.id for t in created]}")
        return multiple(*(task.id for task in created))

    @rule(task_id=tasks, meta=_METAS, fails=st.sampled_from([False] * 5 + [True]))
    def run_step(self, task_id: str, meta: dict[str, str], fails: bool) -> None:
        """Run a step (five times in six) or fail the task."""
        if fails:
            self.fail(task_id)
            return
        task = self.model.tasks[task_id]
        fields = [MetaField(k, v) for k, v in meta.items()]
        if task.status != _PROCESSING:
            run = partial(self.service.run_step, task.team, task_id, meta=fields)
            self._refused(InvalidTaskState, run)
            return
        self.service.run_step(task.team, task_id, meta=fields)
        self.model.run_step(task, meta)

    def fail(self, task_id: str) -> None:
        task = self.model.tasks[task_id]
        if task.status != _PROCESSING:
            self._refused(InvalidTaskState, lambda: self.service.fail(task.team, task_id))
            return
        self.service.fail(task.team, task_id)
        task.status = "FAILED"

    @rule(task_id=tasks, succeeded=st.booleans())
    def export(self, task_id: str, succeeded: bool) -> None:
        task = self.model.tasks[task_id]
        call = partial(self.service.export, task.team, task_id, succeeded=succeeded)
        if task.status != "COMPLETED":
            self._refused(InvalidTaskState, call)
            return
        call()
        task.exported = task.exported or succeeded

    @rule(task_id=tasks, doc_type=st.booleans())
    def push_along(self, task_id: str, doc_type: bool) -> None:
        """The usual next move of a task: run its step, complete it with a ``total``
        (and a ``doc_type``, or none, which stops it at the automatic CLASSIFY step) as
        the team's editor, export or unlock it, so that tasks travel the whole pipeline."""
        task = self.model.tasks[task_id]
        if task.status == _PROCESSING:
            self.run_step(task_id, {"language": "en"}, fails=False)
        elif task.status == _REVIEWING:
            meta = {"total": "5", "doc_type": "invoice"} if doc_type else {"total": "5"}
            self.complete(task_id, "editor", PROJECT, meta)
        elif task.status == "COMPLETED" and doc_type and not task.exported:
            self.export(task_id, succeeded=True)
        elif task.status in _FINALIZED:
            self.unlock(task_id, "editor", PROJECT)

    @rule(task_id=tasks, now=st.sampled_from([True, False, False]))
    def mark_fully_processed(self, task_id: str, now: bool) -> None:
        """Flag the task's upload fully processed (a third of the times its task is
        finalized: rarely enough that unlock's other guard is exercised too)."""
        task = self.model.tasks[task_id]
        if not now or task.status not in _FINALIZED:
            return
        self.service.mark_fully_processed(task.team, task.upload)
        self.model.fully_processed[(task.team, task.upload)] = True

    # --- user side ---------------------------------------------------------------------

    @rule(task_id=tasks, kind=_KINDS,
          project=_PROJECTS)  # fmt: skip
    def get(self, task_id: str, kind: str, project: str) -> None:
        task = self.model.tasks[task_id]
        error = self._access(task, kind, "task.read", project)
        call = partial(self.service.get, self._key(task, kind), project, task_id)
        if error is not None:
            self._refused(error, call)
            return
        assert task.status == call().status.value

    @rule(task_id=tasks, kind=_KINDS,
          project=_PROJECTS)  # fmt: skip
    def unlock(self, task_id: str, kind: str, project: str) -> None:
        task = self.model.tasks[task_id]
        call = partial(self.service.unlock, self._key(task, kind), project, task_id)
        error = self._access(task, kind, "task.edit", project)
        if error is None and (
            task.status not in _FINALIZED
            or task.exported
            or self.model.fully_processed[(task.team, task.upload)]
        ):
            error = InvalidTaskState
        if error is not None:
            self._refused(error, call)
            return
        call()
        task.status, task.step_done = _REVIEWING, False
        self.statuses[task_id] = _REVIEWING  # the one way out of a finalized status

    @rule(task_id=tasks, kind=_KINDS,
          project=_PROJECTS,
          meta=st.none() | _METAS)  # fmt: skip
    def complete(self, task_id: str, kind: str, project: str, meta: dict[str, str] | None) -> None:
        task = self.model.tasks[task_id]
        fields = None if meta is None else [MetaField(k, v) for k, v in meta.items()]
        key = self._key(task, kind)
        call = partial(self.service.complete, key, project, task_id, fields)
        error = self._access(task, kind, "task.edit", project)
        if error is None and task.status != _REVIEWING:
            error = InvalidTaskState
        if error is None and self.model.missing(task, meta or {}):
            error = TaskValidationFailed
        if error is not None:
            self._refused(error, call)
            return
        answered = call()
        assert answered.status.value == _PROCESSING
        task.meta.update(meta or {})
        task.status, task.step_done = _PROCESSING, True

    @rule(task_id=tasks, kind=_KINDS,
          project=_PROJECTS)  # fmt: skip
    def discard(self, task_id: str, kind: str, project: str) -> None:
        task = self.model.tasks[task_id]
        call = partial(self.service.discard, self._key(task, kind), project, task_id)
        error = self._access(task, kind, "task.edit", project)
        if error is None and task.status != _REVIEWING:
            error = InvalidTaskState
        if error is not None:
            self._refused(error, call)
            return
        call()
        task.status = "DISCARDED"

    @rule(task_id=tasks, kind=_KINDS,
          project=_PROJECTS,
          issues=st.integers(0, 2))  # fmt: skip
    def report(self, task_id: str, kind: str, project: str, issues: int) -> None:
        task = self.model.tasks[task_id]
        given = [Issue("quality", f"issue {i}") for i in range(issues)]
        key = self._key(task, kind)
        call = partial(self.service.report, key, project, task_id, given)
        error = self._access(task, kind, "task.edit", project)
        if error is None and not given:
            error = ValidationError
        if error is not None:
            self._refused(error, call)
            return
        reported, record = call()
        assert task.status == reported.status.value
        assert len(given) == len(record.issues)
        task.reports += 1

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def the_service_shows_what_the_model_holds(self) -> None:
        for task_id, task in self.model.tasks.items():
            key = ApiKey(task.team, {"task.read"})
            seen = self.service.get(key, PROJECT, task_id)
            assert seen.status.value in _STATUSES
            assert task.status == seen.status.value, task_id
            assert STEPS[task.step].step_type == seen.step_type
            assert task.meta == {m.name: m.value for m in seen.meta}
            assert task.exported == (seen.exported_at is not None)
            assert task.reports == len(self.service.reports(key, PROJECT, task_id))

    @invariant()
    def a_finalized_task_changes_only_through_unlock(self) -> None:
        for task_id, task in self.model.tasks.items():
            before = self.statuses.get(task_id)
            if before in _FINALIZED:
                assert task.status == before, f"{task_id} left {before} without unlock"
            self.statuses[task_id] = task.status


def _other(team: str) -> str:
    return TEAMS[1] if team == TEAMS[0] else TEAMS[0]


def sendai_service_machine(
    store_factory: Callable[[Clock], Store],
) -> type[SendAIServiceMachine]:
    """Build the Send AI service machine for stores made by ``store_factory``.

    Args:
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        A :class:`SendAIServiceMachine` subclass; its ``TestCase`` runs under pytest.
    """

    return on_store(SendAIServiceMachine, store_factory)
