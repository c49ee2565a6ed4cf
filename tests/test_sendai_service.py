"""The Send AI service on both stores: the pipeline's worker side, the five user
operations, scopes and tenancy; every refusal changes nothing (docs/sendai.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from sendai_setup import (
    ALIASED,
    EDITOR,
    OTHER_PROJECT,
    OTHER_TEAM,
    PROJECT,
    READER,
    STRANGER,
    TEAM,
    WRITER,
    make_service,
    make_store,
    snapshot,
    upload,
)
from taskcore.clock import ManualClock
from taskcore.errors import IdCollision, TaskcoreError, TaskNotFound, Unauthorized, ValidationError
from taskcore.sendai import (
    FailingTracker,
    InvalidTaskState,
    Issue,
    MemoryTracker,
    MetaField,
    ProjectNotFound,
    SendAIStatus,
    SendAITask,
    SendAITasks,
    Step,
    TaskValidationFailed,
    UploadNotFound,
)
from taskcore.sendai.service import MAX_REPORTS_PER_TASK, Document

S = SendAIStatus
TOTAL = [MetaField("total", "42.00")]


@pytest.fixture(params=["memory", "sqlite"])
def clock_and_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ManualClock, SendAITasks]]:
    clock = ManualClock()
    store = make_store(request.param, tmp_path, clock)
    with store:
        yield clock, make_service(store)


@pytest.fixture
def service(clock_and_service: tuple[ManualClock, SendAITasks]) -> SendAITasks:
    return clock_and_service[1]


def reviewing(service: SendAITasks, upload_id: str = "up-1") -> SendAITask:
    (task,) = upload(service, upload_id)
    return service.run_step(TEAM, task.id)


def completed(service: SendAITasks, upload_id: str = "up-1") -> SendAITask:
    task = reviewing(service, upload_id)
    service.complete(EDITOR, PROJECT, task.id, TOTAL)
    task = service.run_step(TEAM, task.id)
    service.complete(EDITOR, PROJECT, task.id)
    return service.run_step(TEAM, task.id)


def refused(service: SendAITasks, call: object, error: type[TaskcoreError]) -> TaskcoreError:
    """Run ``call`` (a zero-argument callable), expect ``error``, and check nothing
    changed; return the error."""
    before = snapshot(service.store)
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert before == snapshot(service.store)
    return caught.value


# -- worker side ------------------------------------------------------------------------


def test_an_upload_brings_its_documents_into_the_first_step_processing(
    service: SendAITasks,
) -> None:
    tasks = upload(service, count=3)
    assert [S.PROCESSING] * 3 == [t.status for t in tasks]
    assert {"EXTRACT"} == {t.step_type.value for t in tasks}
    assert tasks == list(service.tasks_of_upload(READER, "up-1"))


def test_running_a_step_stops_the_task_in_reviewing(service: SendAITasks) -> None:
    task = reviewing(service)
    assert (S.REVIEWING, "EXTRACT") == (task.status, task.step_type.value)


def test_a_matching_filter_rule_filters_the_task(service: SendAITasks) -> None:
    (task,) = upload(service)
    task = service.run_step(TEAM, task.id, meta=[MetaField("language", "xx")])
    assert S.FILTERED == task.status


def test_a_step_without_review_moves_a_valid_task_straight_on(service: SendAITasks) -> None:
    service.create_project(TEAM, "auto", [Step("EXTRACT", ["total"], review=False), Step("GROUP")])
    (task,) = service.upload(TEAM, "auto", "up-auto", [Document("a.pdf")])
    task = service.run_step(TEAM, task.id, meta=TOTAL)
    assert (S.REVIEWING, "GROUP") == (task.status, task.step_type.value)


def test_a_step_without_review_still_stops_an_invalid_task(service: SendAITasks) -> None:
    service.create_project(TEAM, "auto", [Step("EXTRACT", ["total"], review=False)])
    (task,) = service.upload(TEAM, "auto", "up-auto", [Document("a.pdf")])
    assert S.REVIEWING == service.run_step(TEAM, task.id).status


def test_a_completed_task_moves_to_the_next_step_then_completed(service: SendAITasks) -> None:
    task = reviewing(service)
    assert S.PROCESSING == service.complete(EDITOR, PROJECT, task.id, TOTAL).status
    task = service.run_step(TEAM, task.id)
    assert (S.REVIEWING, "CLASSIFY") == (task.status, task.step_type.value)
    service.complete(EDITOR, PROJECT, task.id)
    assert S.COMPLETED == service.run_step(TEAM, task.id).status


def test_a_worker_fails_a_processing_task(service: SendAITasks) -> None:
    (task,) = upload(service)
    assert S.FAILED == service.fail(TEAM, task.id).status
    refused(service, lambda: service.run_step(TEAM, task.id), InvalidTaskState)


def test_running_a_step_of_a_task_that_is_not_processing_is_refused(
    service: SendAITasks,
) -> None:
    task = reviewing(service)
    refused(service, lambda: service.run_step(TEAM, task.id), InvalidTaskState)


def test_export_stamps_a_completed_task_and_a_failed_export_stamps_export_failed_at(
    clock_and_service: tuple[ManualClock, SendAITasks],
) -> None:
    clock, service = clock_and_service
    task = completed(service)
    failed = service.export(TEAM, task.id, succeeded=False)
    assert (None, clock.now()) == (failed.exported_at, failed.export_failed_at)
    clock.advance(timedelta(seconds=5))
    assert clock.now() == service.export(TEAM, task.id).exported_at


def test_only_a_completed_task_is_exported(service: SendAITasks) -> None:
    task = reviewing(service)
    refused(service, lambda: service.export(TEAM, task.id), InvalidTaskState)


def test_an_upload_needs_an_existing_project_and_a_free_id(service: SendAITasks) -> None:
    refused(service, lambda: service.upload(TEAM, "nope", "u", [Document("a")]), ProjectNotFound)
    upload(service)
    refused(service, lambda: upload(service), ValidationError)
    refused(service, lambda: service.upload(TEAM, PROJECT, "u2", []), ValidationError)
    refused(service, lambda: service.upload(TEAM, PROJECT, "u2", [Document("a", 0)]),
            ValidationError)  # fmt: skip


def test_a_project_has_at_least_one_step(service: SendAITasks) -> None:
    refused(service, lambda: service.create_project(TEAM, "empty", []), ValidationError)


def test_a_project_is_never_redefined(service: SendAITasks) -> None:
    refused(service, lambda: service.create_project(TEAM, PROJECT, [Step("GROUP")]),
            ValidationError)  # fmt: skip


@pytest.mark.parametrize("name", ["", "x" * 1_001])
def test_a_document_name_has_1_to_1000_characters(service: SendAITasks, name: str) -> None:
    refused(service, lambda: service.upload(TEAM, PROJECT, "u", [Document(name)]),
            ValidationError)  # fmt: skip


def test_flagging_an_unknown_upload_is_not_found(service: SendAITasks) -> None:
    refused(service, lambda: service.mark_fully_processed(TEAM, "nope"), UploadNotFound)


# -- complete ---------------------------------------------------------------------------


def test_complete_applies_meta_before_validating(service: SendAITasks) -> None:
    task = reviewing(service)
    done = service.complete(EDITOR, PROJECT, task.id, [*TOTAL, MetaField("vendor", "ACME")])
    assert [("total", "42.00"), ("vendor", "ACME")] == [(m.name, m.value) for m in done.meta]


def test_complete_failing_validation_names_the_fields_and_keeps_reviewing(
    service: SendAITasks,
) -> None:
    task = reviewing(service)
    error = refused(
        service,
        lambda: service.complete(EDITOR, PROJECT, task.id, [MetaField("total", " ")]),
        TaskValidationFailed,
    )
    assert isinstance(error, TaskValidationFailed)
    assert (400, ("total",)) == (error.status, error.failed_fields)
    assert S.REVIEWING == service.get(READER, PROJECT, task.id).status


@pytest.mark.parametrize("status", [S.PROCESSING, S.COMPLETED, S.FAILED, S.DISCARDED, S.FILTERED])
def test_complete_and_discard_are_refused_outside_reviewing(
    service: SendAITasks, status: SendAIStatus
) -> None:
    task = in_status(service, status)
    for call in (service.complete, service.discard):
        error = refused(service, lambda c=call: c(EDITOR, PROJECT, task.id), InvalidTaskState)
        assert isinstance(error, InvalidTaskState)
        assert (400, status.value) == (error.status, error.current_status)


def in_status(service: SendAITasks, status: SendAIStatus) -> SendAITask:
    (task,) = upload(service, f"up-{status.value}")
    if status is S.PROCESSING:
        return task
    if status is S.FAILED:
        return service.fail(TEAM, task.id)
    if status is S.FILTERED:
        return service.run_step(TEAM, task.id, meta=[MetaField("language", "xx")])
    task = service.run_step(TEAM, task.id)
    if status is S.DISCARDED:
        return service.discard(EDITOR, PROJECT, task.id)
    if status is S.COMPLETED:
        service.complete(EDITOR, PROJECT, task.id, TOTAL)
        service.run_step(TEAM, task.id)
        service.complete(EDITOR, PROJECT, task.id)
        return service.run_step(TEAM, task.id)
    return task


# -- unlock -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.COMPLETED, S.DISCARDED, S.FILTERED])
def test_unlock_reopens_a_finalized_task_for_review(
    clock_and_service: tuple[ManualClock, SendAITasks], status: SendAIStatus
) -> None:
    clock, service = clock_and_service
    task = in_status(service, status)
    unlocked = service.unlock(EDITOR, PROJECT, task.id)
    assert (S.REVIEWING, clock.now()) == (unlocked.status, unlocked.last_opened_at)


@pytest.mark.parametrize("status", [S.PROCESSING, S.REVIEWING, S.FAILED])
def test_unlock_is_refused_for_a_task_that_is_not_finalized(
    service: SendAITasks, status: SendAIStatus
) -> None:
    task = in_status(service, status)
    error = refused(service, lambda: service.unlock(EDITOR, PROJECT, task.id), InvalidTaskState)
    assert f"Task cannot be unlocked: status is {status.value}" == str(error)


def test_an_exported_task_never_unlocks(service: SendAITasks) -> None:
    task = completed(service)
    service.export(TEAM, task.id)
    error = refused(service, lambda: service.unlock(EDITOR, PROJECT, task.id), InvalidTaskState)
    assert isinstance(error, InvalidTaskState)
    assert ("exported", "Task cannot be unlocked: it has been exported") == (
        error.reason,
        str(error),
    )


def test_a_failed_export_leaves_the_task_unlockable(service: SendAITasks) -> None:
    task = completed(service)
    service.export(TEAM, task.id, succeeded=False)
    assert S.REVIEWING == service.unlock(EDITOR, PROJECT, task.id).status


def test_a_task_of_a_fully_processed_upload_never_unlocks(service: SendAITasks) -> None:
    task = completed(service)
    service.mark_fully_processed(TEAM, "up-1")
    error = refused(service, lambda: service.unlock(EDITOR, PROJECT, task.id), InvalidTaskState)
    assert isinstance(error, InvalidTaskState)
    assert "upload_fully_processed" == error.reason


def test_unlock_correct_complete_reprocesses_the_task(service: SendAITasks) -> None:
    task = completed(service)
    service.unlock(EDITOR, PROJECT, task.id)
    fixed = service.complete(EDITOR, PROJECT, task.id, [MetaField("total", "43.00")])
    assert S.PROCESSING == fixed.status
    assert S.COMPLETED == service.run_step(TEAM, task.id).status


# -- report -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(SendAIStatus))
def test_a_report_is_kept_and_never_changes_status(
    service: SendAITasks, status: SendAIStatus
) -> None:
    task = in_status(service, status)
    reported, report = service.report(EDITOR, PROJECT, task.id, [Issue("quality", "blurry")],
                                      "page 2 unreadable")  # fmt: skip
    assert status == reported.status == service.get(READER, PROJECT, task.id).status
    assert (report,) == service.reports(READER, PROJECT, task.id)
    assert () == report.failed_issues


def test_every_report_call_is_one_record(service: SendAITasks) -> None:
    task = reviewing(service)
    for n in range(3):
        service.report(EDITOR, PROJECT, task.id, [Issue("n", str(n))])
    assert ["0", "1", "2"] == [r.issues[0].value for r in service.reports(READER, PROJECT, task.id)]


def test_reports_kept_per_task_are_bounded_oldest_first_out(service: SendAITasks) -> None:
    task = reviewing(service)
    for n in range(MAX_REPORTS_PER_TASK + 2):
        service.report(EDITOR, PROJECT, task.id, [Issue("n", str(n))])
    kept = service.reports(READER, PROJECT, task.id)
    assert MAX_REPORTS_PER_TASK == len(kept)
    assert "2" == kept[0].issues[0].value


def test_an_empty_report_is_refused(service: SendAITasks) -> None:
    task = reviewing(service)
    refused(service, lambda: service.report(EDITOR, PROJECT, task.id, []), ValidationError)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_issues_the_tracker_refuses_are_named_and_kept_on_the_report(
    kind: str, tmp_path: Path
) -> None:
    tracker = FailingTracker(lambda issue: issue.label == "external")
    with make_store(kind, tmp_path, ManualClock()) as store:
        service = make_service(store, tracker)
        task = reviewing(service)
        issues = [Issue("quality", "blurry"), Issue("external", "x")]
        _, report = service.report(EDITOR, PROJECT, task.id, issues)
        assert (Issue("external", "x"),) == report.failed_issues
        assert (report,) == service.reports(READER, PROJECT, task.id)
        assert [(TEAM, task.id, Issue("quality", "blurry"))] == tracker.filed


def test_a_tracker_that_raises_counts_as_refusing(tmp_path: Path) -> None:
    class Broken(MemoryTracker):
        def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
            raise ConnectionError("tracker down")

    service = make_service(make_store("memory", tmp_path, ManualClock()), Broken())
    task = reviewing(service)
    _, report = service.report(EDITOR, PROJECT, task.id, [Issue("a", "b")])
    assert (Issue("a", "b"),) == report.failed_issues


# -- scopes and tenancy -----------------------------------------------------------------


def test_reads_need_task_read_and_changes_need_task_edit(service: SendAITasks) -> None:
    task = reviewing(service)
    refused(service, lambda: service.get(WRITER, PROJECT, task.id), Unauthorized)
    refused(service, lambda: service.tasks_of_upload(WRITER, "up-1"), Unauthorized)
    for call in (service.unlock, service.complete, service.discard):
        refused(service, lambda c=call: c(READER, PROJECT, task.id), Unauthorized)
    refused(service, lambda: service.report(READER, PROJECT, task.id, [Issue("a", "b")]),
            Unauthorized)  # fmt: skip


def test_the_scope_aliases_are_accepted(service: SendAITasks) -> None:
    task = reviewing(service)
    assert task == service.get(ALIASED, PROJECT, task.id)
    assert S.DISCARDED == service.discard(ALIASED, PROJECT, task.id).status


def test_a_missing_scope_is_checked_before_the_task_exists(service: SendAITasks) -> None:
    refused(service, lambda: service.discard(READER, PROJECT, "nope"), Unauthorized)


def test_another_teams_task_is_not_found(service: SendAITasks) -> None:
    task = reviewing(service)
    for call in (service.get, service.unlock, service.complete, service.discard):
        refused(service, lambda c=call: c(STRANGER, PROJECT, task.id), TaskNotFound)
    refused(service, lambda: service.tasks_of_upload(STRANGER, "up-1"), UploadNotFound)
    refused(service, lambda: service.reports(STRANGER, PROJECT, task.id), TaskNotFound)


def test_a_task_under_another_projects_path_is_not_found(service: SendAITasks) -> None:
    task = reviewing(service)
    error = refused(service, lambda: service.discard(EDITOR, OTHER_PROJECT, task.id),
                    TaskNotFound)  # fmt: skip
    assert 404 == error.status


def test_teams_do_not_share_ids(service: SendAITasks) -> None:
    upload(service)
    (theirs,) = service.upload(OTHER_TEAM, PROJECT, "up-1", [Document("b.pdf")])
    assert (theirs,) == service.tasks_of_upload(STRANGER, "up-1")
    assert theirs.id not in {t.id for t in service.tasks_of_upload(READER, "up-1")}


def test_an_upload_that_draws_no_free_task_id_is_refused(tmp_path: Path) -> None:
    service = SendAITasks(make_store("memory", tmp_path, ManualClock()), ids=lambda: "task_same")
    service.create_project(TEAM, PROJECT, [Step("EXTRACT")])
    service.upload(TEAM, PROJECT, "up-1", [Document("a.pdf")])
    error = refused(
        service, lambda: service.upload(TEAM, PROJECT, "up-2", [Document("b.pdf")]), IdCollision
    )
    assert "ID_COLLISION" == error.code


def test_a_partly_refused_report_leaves_the_earlier_reports_as_they_were(tmp_path: Path) -> None:
    tracker = FailingTracker(lambda issue: issue.value == "refused")
    service = make_service(make_store("memory", tmp_path, ManualClock()), tracker)
    task = reviewing(service)
    _, first = service.report(EDITOR, PROJECT, task.id, [Issue("a", "taken")])
    _, second = service.report(EDITOR, PROJECT, task.id, [Issue("a", "refused")])
    assert (first, second) == service.reports(READER, PROJECT, task.id)
    assert ((), (Issue("a", "refused"),)) == (first.failed_issues, second.failed_issues)


def test_a_task_changed_with_but_is_the_task_evolve_would_build(service: SendAITasks) -> None:
    task = reviewing(service)
    changes: dict[str, Any] = {"status": S.DISCARDED, "meta": tuple(TOTAL), "step_done": True}
    assert attrs.evolve(task, **changes) == task.but(**changes)
    with pytest.raises(TypeError, match="not task fields"):
        task.but(colour="red")
