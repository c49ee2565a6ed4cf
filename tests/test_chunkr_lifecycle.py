"""The Chunkr task lifecycle: every status x every operation x every kind of run (new
task, re-run of a Succeeded task, re-run of a Failed task), against an expectation
written from the Chunkr reference and docs/chunkr.md, independently of the table."""

from __future__ import annotations

import attrs
import pytest

from taskcore.chunkr import CHUNKR_TASK, ChunkrEvent, ChunkrStatus
from taskcore.chunkr.errors import TaskNotCancellable, TaskNotDeletable, TaskNotUpdatable
from taskcore.errors import IllegalTransition

S = ChunkrStatus
E = ChunkrEvent


@attrs.frozen
class Run:
    rerun_of: ChunkrStatus | None


NEW, OF_SUCCEEDED, OF_FAILED = Run(None), Run(S.SUCCEEDED), Run(S.FAILED)
RUNS = [NEW, OF_SUCCEEDED, OF_FAILED]


def expected(status: ChunkrStatus, event: ChunkrEvent, run: Run) -> ChunkrStatus | None:
    """What the Chunkr reference and docs/chunkr.md say; ``None`` = refused."""
    back = run.rerun_of  # where a re-run reverts to
    if event is E.START:
        return S.PROCESSING if status is S.STARTING else None
    if event is E.SUCCEED:
        return S.SUCCEEDED if status is S.PROCESSING else None
    if event is E.FAIL:
        return (back or S.FAILED) if status is S.PROCESSING else None
    if event is E.CANCEL:
        return (back or S.CANCELLED) if status is S.STARTING else None
    if event is E.UPDATE:
        return S.STARTING if status in (S.SUCCEEDED, S.FAILED) else None
    assert event is E.DELETE
    return status if status in (S.SUCCEEDED, S.FAILED, S.CANCELLED) else None


REFUSALS: dict[ChunkrEvent, type[IllegalTransition]] = {
    E.CANCEL: TaskNotCancellable,
    E.UPDATE: TaskNotUpdatable,
    E.DELETE: TaskNotDeletable,
}
VERBS = {E.CANCEL: "cancelled", E.UPDATE: "updated", E.DELETE: "deleted"}


@pytest.mark.parametrize("run", RUNS, ids=["new", "rerun_of_succeeded", "rerun_of_failed"])
@pytest.mark.parametrize("event", list(E))
@pytest.mark.parametrize("status", list(S))
def test_every_status_operation_and_run(status: ChunkrStatus, event: ChunkrEvent, run: Run) -> None:
    want = expected(status, event, run)
    if want is not None:
        assert want == CHUNKR_TASK.fire(status, event, run)
        assert want == CHUNKR_TASK.reference_fire(status, event, run)
        return
    with pytest.raises(IllegalTransition) as raised:
        CHUNKR_TASK.fire(status, event, run)
    assert REFUSALS.get(event, IllegalTransition) is type(raised.value)
    assert status.value == raised.value.state
    assert event.value == raised.value.event
    assert CHUNKR_TASK.reference_fire(status, event, run) is None
    if event in VERBS:
        assert 400 == raised.value.status
        assert f"Task cannot be {VERBS[event]}: status is {status.value}" == str(raised.value)


def test_cancelling_a_queued_update_reverts_to_the_status_it_came_from() -> None:
    assert S.SUCCEEDED == CHUNKR_TASK.fire(S.STARTING, E.CANCEL, OF_SUCCEEDED)
    assert S.FAILED == CHUNKR_TASK.fire(S.STARTING, E.CANCEL, OF_FAILED)
    assert S.CANCELLED == CHUNKR_TASK.fire(S.STARTING, E.CANCEL, NEW)


def test_a_failed_rerun_reverts_and_a_new_task_fails() -> None:
    assert S.SUCCEEDED == CHUNKR_TASK.fire(S.PROCESSING, E.FAIL, OF_SUCCEEDED)
    assert S.FAILED == CHUNKR_TASK.fire(S.PROCESSING, E.FAIL, OF_FAILED)
    assert S.FAILED == CHUNKR_TASK.fire(S.PROCESSING, E.FAIL, NEW)


def test_the_table_names_its_guards_and_starts_at_starting() -> None:
    assert S.STARTING == CHUNKR_TASK.initial
    assert ["rerun_of_succeeded", "rerun_of_failed"] == [g.name for g in CHUNKR_TASK.guards()]
    assert frozenset() == CHUNKR_TASK.terminal  # every ended status may still be deleted
    assert (E.DELETE,) == CHUNKR_TASK.allowed(S.CANCELLED)
