"""Errors are data: codes, statuses, attributes, wire bodies and exact messages."""

from __future__ import annotations

import pytest

from taskcore import (
    CATALOGUE,
    DatasetLocked,
    DatasetNotFound,
    InvalidSelection,
    NotFound,
    QuotaExceeded,
    TaskcoreError,
    TaskNotFound,
    Unauthorized,
    ValidationError,
    WebhookNotFound,
)
from taskcore.errors import catalogue


def test_dataset_locked_matches_the_seed_example() -> None:
    error = DatasetLocked(
        dataset_id="ds_1", active_task_id="task_123e4567-e89b-12d3-a456-426614174000"
    )
    assert {
        "error": "Dataset is locked",
        "code": "DATASET_LOCKED",
        "details": {
            "message": "Dataset is currently being processed by another task",
            "activeTaskId": "task_123e4567-e89b-12d3-a456-426614174000",
        },
    } == error.to_wire()
    assert "task_123e4567-e89b-12d3-a456-426614174000" == error.active_task_id
    assert "Dataset ds_1 is locked by task task_123e4567-e89b-12d3-a456-426614174000" == str(error)


def test_task_not_found_matches_the_seed_example() -> None:
    error = TaskNotFound("task_invalid-id")
    assert {
        "error": "Task not found",
        "code": "TASK_NOT_FOUND",
        "details": {"taskId": "task_invalid-id"},
    } == error.to_wire()
    assert isinstance(error, LookupError)
    assert isinstance(error, NotFound)
    assert "Task task_invalid-id not found" == str(error)


def test_invalid_selection_matches_the_seed_example() -> None:
    error = InvalidSelection(InvalidSelection.COMBINED_MESSAGE)
    assert {
        "error": "Invalid cell selection",
        "code": "INVALID_SELECTION",
        "details": {
            "message": "Cannot combine cellIds with rowIds or columnIds. Use either cellIds "
            "alone, or rowIds/columnIds, or no IDs to process all empty cells"
        },
    } == error.to_wire()


def test_invalid_selection_names_unknown_ids_and_field() -> None:
    error = InvalidSelection("Unknown row ids: row_9", field="rowIds", unknown_ids=["row_9"])
    assert {
        "message": "Unknown row ids: row_9",
        "field": "rowIds",
        "unknownIds": ["row_9"],
    } == (error.details)


def test_not_found_errors_carry_their_ids() -> None:
    assert {"datasetId": "ds_9"} == DatasetNotFound("ds_9").details
    assert {"webhookId": "wh_9"} == WebhookNotFound("wh_9").details
    assert "ds_9" == DatasetNotFound("ds_9").dataset_id
    assert "wh_9" == WebhookNotFound("wh_9").webhook_id


def test_validation_error_names_its_field_when_it_has_one() -> None:
    assert {
        "message": "bad",
        "field": "rowCount",
    } == ValidationError("bad", field="rowCount").details
    assert {"message": "bad"} == ValidationError("bad").details
    assert "ValidationError('bad')" == repr(ValidationError("bad"))


def test_quota_exceeded_says_the_limit_and_when_to_retry() -> None:
    error = QuotaExceeded(account_id="acc", limit=10, window_seconds=60, retry_after_seconds=12.5)
    assert "Task creation limit reached: 10 tasks per 60 seconds" == str(error)
    assert {
        "message": "Task creation limit reached: 10 tasks per 60 seconds",
        "limit": 10,
        "windowSeconds": 60,
        "retryAfterSeconds": 13,  # whole seconds, rounded up
    } == error.details


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("DATASET_NOT_FOUND", 404),
        ("TASK_NOT_FOUND", 404),
        ("WEBHOOK_NOT_FOUND", 404),
        ("INVALID_SELECTION", 400),
        ("VALIDATION_ERROR", 400),
        ("DATASET_LOCKED", 409),
        ("TASK_NOT_CANCELLABLE", 409),
        ("QUOTA_EXCEEDED", 429),
        ("UNAUTHORIZED", 401),
    ],
)
def test_http_statuses_follow_the_design_decisions(code: str, status: int) -> None:
    assert status == CATALOGUE[code].status


def test_catalogue_holds_every_concrete_error_once_sorted() -> None:
    codes = list(catalogue())
    assert sorted(codes) == codes
    assert all(issubclass(e, TaskcoreError) for e in CATALOGUE.values())
    assert NotFound not in CATALOGUE.values()
    assert Unauthorized is CATALOGUE["UNAUTHORIZED"]


def test_base_error_has_a_message_body() -> None:
    error = TaskcoreError("boom")
    assert {
        "error": "Internal error",
        "code": "TASKCORE_ERROR",
        "details": {"message": "boom"},
    } == (error.to_wire())


def test_details_leave_out_values_that_are_none_or_empty() -> None:
    from taskcore import IllegalTransition

    refused = IllegalTransition(lifecycle="l", state="done", event="go", allowed=[])
    assert {"message", "lifecycle", "currentStatus", "event"} == set(refused.details)
    guarded = IllegalTransition(
        lifecycle="l", state="s", event="go", allowed=["go"], failed_guards=["ready"]
    )
    assert (["go"], ["ready"]) == (
        guarded.details["allowedEvents"],
        guarded.details["failedGuards"],
    )
