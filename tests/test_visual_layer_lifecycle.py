"""The Visual Layer task lifecycle: every status x every event x every task type x
commit phase, against an expectation written from the Visual Layer Task Manager docs and
docs/visual-layer.md, independently of the table."""

from __future__ import annotations

import itertools

import attrs
import pytest

from taskcore.errors import IllegalTransition
from taskcore.visual_layer import (
    VL_TASK,
    TaskNotAbortable,
    TaskNotRetryable,
    TaskType,
    VisualLayerEvent,
    VisualLayerStatus,
)

S = VisualLayerStatus
E = VisualLayerEvent


@attrs.frozen
class Ctx:
    task_type: TaskType
    in_commit_phase: bool


CONTEXTS = [Ctx(t, c) for t, c in itertools.product(TaskType, (False, True))]


def expected(status: S, event: E, ctx: Ctx) -> S | None:
    """What the docs and docs/visual-layer.md say; ``None`` = refused."""
    creation = ctx.task_type is TaskType.DATASET_CREATION
    if event is E.START:
        return S.RUNNING if status is S.INITIALIZING else None
    if event in (E.PROGRESS, E.ENTER_COMMIT):
        return S.RUNNING if status is S.RUNNING else None
    if event is E.COMPLETE:
        return S.COMPLETED if status is S.RUNNING else None
    if event is E.FAIL:
        return S.FAILED if status in (S.INITIALIZING, S.RUNNING) else None
    if event is E.ABORT:
        ok = status in (S.INITIALIZING, S.RUNNING) and creation and not ctx.in_commit_phase
        return S.ABORTED if ok else None
    assert event is E.RETRY
    return S.INITIALIZING if status in (S.FAILED, S.ABORTED) and creation else None


@pytest.mark.parametrize(
    "ctx", CONTEXTS, ids=[f"{c.task_type}-{c.in_commit_phase}" for c in CONTEXTS]
)
@pytest.mark.parametrize("event", list(E))
@pytest.mark.parametrize("status", list(S))
def test_every_status_event_type_and_phase(status: S, event: E, ctx: Ctx) -> None:
    want = expected(status, event, ctx)
    if want is not None:
        assert want == VL_TASK.fire(status, event, ctx)
        assert want == VL_TASK.reference_fire(status, event, ctx)
        return
    with pytest.raises(IllegalTransition) as raised:
        VL_TASK.fire(status, event, ctx)
    assert VL_TASK.reference_fire(status, event, ctx) is None
    assert status.value == raised.value.state
    assert event.value == raised.value.event
    if event is E.ABORT:
        assert TaskNotAbortable is type(raised.value)
        assert 409 == raised.value.status
        assert str(raised.value).startswith("Task cannot be aborted")
    elif event is E.RETRY:
        assert TaskNotRetryable is type(raised.value)
        assert 400 == raised.value.status
        assert str(raised.value).startswith("Task cannot be retried")
    else:
        assert IllegalTransition is type(raised.value)


def test_the_table_names_its_guards_and_starts_initializing() -> None:
    assert S.INITIALIZING == VL_TASK.initial
    assert ["dataset_creation_outside_commit_phase", "dataset_creation"] == [
        g.name for g in VL_TASK.guards()
    ]
    assert frozenset({S.COMPLETED}) == VL_TASK.terminal
    assert (E.RETRY,) == VL_TASK.allowed(S.FAILED)


def test_abort_in_the_commit_phase_names_the_guard() -> None:
    with pytest.raises(TaskNotAbortable) as raised:
        VL_TASK.fire(S.RUNNING, E.ABORT, Ctx(TaskType.DATASET_CREATION, True))
    assert ("dataset_creation_outside_commit_phase",) == raised.value.failed_guards
    assert "commit phase" in str(raised.value)
