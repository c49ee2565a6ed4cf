"""Every status x user operation x guard outcome through the service, on both stores:
the table's answer, and for every refusal a 400 that changed nothing (Send AI Task
Management API, "Task Lifecycle"; docs/sendai.md)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sendai_setup import EDITOR, PROJECT, READER, TEAM, make_service, make_store, snapshot
from taskcore.clock import ManualClock
from taskcore.sendai import (
    Document,
    InvalidTaskState,
    Issue,
    MetaField,
    SendAIStatus,
    SendAITask,
    SendAITasks,
    TaskValidationFailed,
)

S = SendAIStatus
FINALIZED = {S.COMPLETED, S.DISCARDED, S.FILTERED}
OPERATIONS = ["complete", "discard", "unlock", "report"]
# (status, exported, upload fully processed, complete's meta valid): exported only where
# a task can be exported (COMPLETED).
CASES = [
    (status, exported, processed, valid)
    for status, exported, processed, valid in itertools.product(
        SendAIStatus, [False, True], [False, True], [False, True]
    )
    if status is S.COMPLETED or not exported
]


@pytest.fixture(params=["memory", "sqlite"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SendAITasks]:
    with make_store(request.param, tmp_path, ManualClock()) as store:
        yield make_service(store)


def task_in(service: SendAITasks, status: SendAIStatus, exported: bool, processed: bool) -> str:
    (task,) = service.upload(TEAM, PROJECT, "up", [Document("a.pdf")])
    if status is S.FAILED:
        service.fail(TEAM, task.id)
    elif status is S.FILTERED:
        service.run_step(TEAM, task.id, meta=[MetaField("language", "xx")])
    elif status is not S.PROCESSING:
        service.run_step(TEAM, task.id)
        if status is S.DISCARDED:
            service.discard(EDITOR, PROJECT, task.id)
        elif status is S.COMPLETED:
            service.complete(EDITOR, PROJECT, task.id, [MetaField("total", "1")])
            service.run_step(TEAM, task.id)
            service.complete(EDITOR, PROJECT, task.id)
            service.run_step(TEAM, task.id)
            if exported:
                service.export(TEAM, task.id)
    if processed:
        service.mark_fully_processed(TEAM, "up")
    assert status == service.get(READER, PROJECT, task.id).status
    return task.id


def expected(
    status: SendAIStatus, operation: str, exported: bool, processed: bool, valid: bool
) -> SendAIStatus | type[InvalidTaskState]:
    if operation == "report":
        return status
    if operation == "discard":
        return S.DISCARDED if status is S.REVIEWING else InvalidTaskState
    if operation == "complete":
        if status is not S.REVIEWING:
            return InvalidTaskState
        return S.PROCESSING if valid else TaskValidationFailed
    unlockable = status in FINALIZED and not exported and not processed
    return S.REVIEWING if unlockable else InvalidTaskState


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(("status", "exported", "processed", "valid"), CASES, ids=repr)
def test_every_status_operation_and_guard_outcome(
    service: SendAITasks,
    status: SendAIStatus,
    exported: bool,
    processed: bool,
    valid: bool,
    operation: str,
) -> None:
    task_id = task_in(service, status, exported, processed)
    meta = [MetaField("total", "2" if valid else "")]
    calls: dict[str, Callable[[], SendAITask]] = {
        "complete": lambda: service.complete(EDITOR, PROJECT, task_id, meta),
        "discard": lambda: service.discard(EDITOR, PROJECT, task_id),
        "unlock": lambda: service.unlock(EDITOR, PROJECT, task_id),
        "report": lambda: service.report(EDITOR, PROJECT, task_id, [Issue("a", "b")])[0],
    }
    outcome = expected(status, operation, exported, processed, valid)
    if isinstance(outcome, SendAIStatus):
        assert outcome == calls[operation]().status
        assert outcome == service.get(READER, PROJECT, task_id).status
        return
    before = snapshot(service.store)
    with pytest.raises(InvalidTaskState) as caught:
        calls[operation]()
    assert outcome is type(caught.value)
    assert (400, status.value) == (caught.value.status, caught.value.current_status)
    assert before == snapshot(service.store)
