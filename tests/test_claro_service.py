"""The Claro service by example: the rules the state machine cannot show plainly
(order of checks, idempotency, tenancy, lease expiry, outcomes, webhooks; docs/claro.md,
"The lock manager" and the Claro decisions)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskcore.claro.grid import Grid
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import (
    ACTIVE,
    BATCHES,
    DATASETS,
    DELIVERED,
    GAVE_UP,
    GRIDS,
    IDEMPOTENCY,
    LEASE_EXPIRED,
    OUTBOX,
    OUTBOX_DUE,
    RETENTION,
    SELECTIONS,
    TASKS,
    WEBHOOKS,
    ClaroTasks,
    RowOutcome,
)
from taskcore.claro.task import ClaroTask
from taskcore.claro.webhooks import verify_signature
from taskcore.claro.wire import cancel_response, created_response, status_response
from taskcore.clock import ManualClock, format_instant
from taskcore.errors import (
    DatasetLocked,
    DatasetNotFound,
    IdempotencyConflict,
    InvalidSelection,
    LeaseLost,
    QuotaExceeded,
    TaskcoreError,
    TaskNotCancellable,
    TaskNotFound,
    ValidationError,
    WebhookNotFound,
)
from taskcore.ids import SeededIds
from taskcore.locks import LEASES, TOKENS
from taskcore.quota import Quota, WindowQuota
from taskcore.store import MemoryStore, SqliteStore, Store

ME, OTHER = "acct_me", "acct_other"
ROWS, COLUMNS = ["r1", "r2", "r3"], ["name", "email"]
TABLES = (
    DATASETS, GRIDS, TASKS, SELECTIONS, BATCHES, ACTIVE, WEBHOOKS, OUTBOX, OUTBOX_DUE,
    DELIVERED, GAVE_UP, IDEMPOTENCY, f"{IDEMPOTENCY}.expiry", RETENTION, LEASES, TOKENS,
)  # fmt: skip


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_service(
    store_kind: str, clock: ManualClock, tmp_path: Path
) -> Iterator[Callable[..., ClaroTasks]]:
    stores: list[Store] = []

    def make(*, quota: Quota | None = None, lease_ttl: float = 3600.0) -> ClaroTasks:
        store: Store
        if store_kind == "memory":
            store = MemoryStore(clock=clock)
        else:
            store = SqliteStore(tmp_path / f"claro-{len(stores)}.db", clock=clock)
        stores.append(store)
        service = ClaroTasks(store, ids=SeededIds(5), quota=quota, lease_ttl=lease_ttl)
        for dataset, account in (("ds_a", ME), ("ds_b", ME), ("ds_c", ME), ("ds_x", OTHER)):
            grid = Grid(ROWS, COLUMNS)
            grid.set_filled("r1", "name", True)  # one filled cell: 5 of 6 are empty
            service.create_dataset(account, grid, dataset_id=dataset)
        service.register_webhook(ME, "https://me.example/hook", "s3cret", webhook_id="wh_me")
        service.register_webhook(OTHER, "https://other.example/h", "x", webhook_id="wh_x")
        return service

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def service(make_service: Callable[..., ClaroTasks]) -> ClaroTasks:
    return make_service()


def snapshot(service: ClaroTasks) -> dict[str, list[tuple[str, Any]]]:
    """Every document the service keeps (quota included)."""
    with service.store.unit() as unit:
        return {t: list(unit.items(t)) for t in (*TABLES, WindowQuota.TABLE)}


def refused(service: ClaroTasks, error: type[TaskcoreError], call: Callable[[], object]) -> Any:
    """``call`` raises exactly ``error`` and leaves every document as it was."""
    before = snapshot(service)
    with pytest.raises(error) as caught:
        call()
    assert error is type(caught.value)
    assert before == snapshot(service)
    return caught.value


def new_rows(service: ClaroTasks, dataset: str = "ds_a", **body: Any) -> ClaroTask:
    return service.create_new_rows(ME, dataset, {"rowCount": 2, **body})


def run_to_completion(service: ClaroTasks, task: ClaroTask) -> ClaroTask:
    service.start(task.task_id)
    service.record(task.task_id, succeeded=range(task.total), token=task.lease_token)
    return service.complete(task.task_id, token=task.lease_token)


# --- order of checks on create -----------------------------------------------------------


def test_create_checks_dataset_then_input_then_webhook_then_lock_then_quota(
    make_service: Callable[..., ClaroTasks],
) -> None:
    service = make_service(quota=WindowQuota(limit=2, window_seconds=3600))
    holder = new_rows(service)  # ds_a locked; one of two creations used
    bad = {"rowCount": 0, "webhookId": "wh_missing"}
    refused(service, DatasetNotFound, lambda: service.create_new_rows(ME, "ds_missing", bad))
    refused(service, ValidationError, lambda: service.create_new_rows(ME, "ds_a", bad))
    unknown_hook = {"rowCount": 1, "webhookId": "wh_missing"}
    refused(service, WebhookNotFound, lambda: service.create_new_rows(ME, "ds_a", unknown_hook))
    locked = refused(service, DatasetLocked, lambda: new_rows(service))
    assert (holder.task_id, "ds_a") == (locked.active_task_id, locked.dataset_id)
    # None of the refusals counted: the second creation of the window is still allowed.
    new_rows(service, "ds_b")
    # Now at the limit: a locked dataset is still DATASET_LOCKED (the lock comes first),
    # and a free one is QUOTA_EXCEEDED, left unlocked.
    refused(service, DatasetLocked, lambda: new_rows(service))
    exceeded = refused(service, QuotaExceeded, lambda: new_rows(service, "ds_c"))
    assert (ME, 2) == (exceeded.account_id, exceeded.limit)
    assert service.lease(ME, "ds_c") is None


def test_a_refused_create_never_locks_the_dataset(service: ClaroTasks) -> None:
    refused(service, ValidationError, lambda: service.create_new_rows(ME, "ds_a", {}))
    refused(
        service,
        InvalidSelection,
        lambda: service.create_bulk(ME, "ds_a", {"rowIds": ["r1"], "cellIds": ["r1:name"]}),
    )
    refused(service, InvalidSelection, lambda: service.create_bulk(ME, "ds_a", {"rowIds": []}))
    assert service.lease(ME, "ds_a") is None
    service.add_column(ME, "ds_a", "phone")  # an edit goes through: nothing holds it


# --- idempotency -------------------------------------------------------------------------


def test_the_same_request_under_an_idempotency_key_returns_the_same_task(
    service: ClaroTasks,
) -> None:
    first = service.create_new_rows(ME, "ds_a", {"rowCount": 3}, idempotency_key="k1")
    before = snapshot(service)
    again = service.create_new_rows(ME, "ds_a", {"rowCount": 3}, idempotency_key="k1")
    assert first == again
    assert before == snapshot(service)


def test_a_different_request_under_an_idempotency_key_is_a_conflict(service: ClaroTasks) -> None:
    first = service.create_new_rows(ME, "ds_a", {"rowCount": 3}, idempotency_key="k1")
    for call in (
        lambda: service.create_new_rows(ME, "ds_a", {"rowCount": 4}, idempotency_key="k1"),
        lambda: service.create_new_rows(ME, "ds_b", {"rowCount": 3}, idempotency_key="k1"),
        lambda: service.create_bulk(ME, "ds_a", {}, idempotency_key="k1"),
    ):
        conflict = refused(service, IdempotencyConflict, call)
        assert ("k1", first.task_id) == (conflict.key, conflict.task_id)


def test_idempotency_keys_belong_to_one_account(service: ClaroTasks) -> None:
    mine = service.create_new_rows(ME, "ds_a", {"rowCount": 3}, idempotency_key="k1")
    theirs = service.create_new_rows(OTHER, "ds_x", {"rowCount": 3}, idempotency_key="k1")
    assert mine.task_id != theirs.task_id


# --- tenancy -----------------------------------------------------------------------------


def test_another_accounts_dataset_task_and_webhook_are_not_found(service: ClaroTasks) -> None:
    theirs = service.create_new_rows(OTHER, "ds_x", {"rowCount": 1})
    refused(service, DatasetNotFound, lambda: service.dataset(ME, "ds_x"))
    refused(service, DatasetNotFound, lambda: new_rows(service, "ds_x"))
    refused(service, DatasetNotFound, lambda: service.add_column(ME, "ds_x", "c"))
    refused(service, DatasetNotFound, lambda: service.get(ME, "ds_x", theirs.task_id))
    refused(service, TaskNotFound, lambda: service.get(ME, "ds_a", theirs.task_id))
    refused(service, TaskNotFound, lambda: service.cancel(ME, "ds_a", theirs.task_id))
    refused(service, WebhookNotFound, lambda: new_rows(service, webhookId="wh_x"))


def test_a_task_id_under_another_datasets_path_is_task_not_found(service: ClaroTasks) -> None:
    task = new_rows(service, "ds_a")
    error = refused(service, TaskNotFound, lambda: service.get(ME, "ds_b", task.task_id))
    assert task.task_id == error.task_id
    refused(service, TaskNotFound, lambda: service.cancel(ME, "ds_b", task.task_id))
    assert ClaroStatus.QUEUED == service.get(ME, "ds_a", task.task_id).status


# --- cancel ------------------------------------------------------------------------------


@pytest.mark.parametrize("started", [False, True], ids=["queued", "processing"])
def test_cancel_works_from_queued_and_processing_and_frees_the_dataset(
    service: ClaroTasks, clock: ManualClock, started: bool
) -> None:
    task = new_rows(service)
    if started:
        service.start(task.task_id)
    clock.advance(5)
    cancelled = service.cancel(ME, "ds_a", task.task_id)
    assert (ClaroStatus.CANCELLED, clock.now()) == (cancelled.status, cancelled.cancelled_at)
    assert cancelled == service.get(ME, "ds_a", task.task_id)  # still readable
    assert service.lease(ME, "ds_a") is None
    assert [] == service.outbox(pending_only=False)


@pytest.mark.parametrize(
    ("end", "status", "message"),
    [
        ("complete", "completed", "Task is already completed or failed"),
        ("fail", "failed", "Task is already completed or failed"),
        ("cancel", "cancelled", "Task is already cancelled"),
    ],
)
def test_cancel_is_refused_once_the_task_ended(
    service: ClaroTasks, end: str, status: str, message: str
) -> None:
    task = new_rows(service, webhookId="wh_me")
    if end == "complete":
        service.start(task.task_id)
        service.record_rows(task.task_id, [RowOutcome(0), RowOutcome(1)], token=task.lease_token)
        service.complete(task.task_id, token=task.lease_token)
    elif end == "fail":
        service.fail(task.task_id, token=task.lease_token)
    else:
        service.cancel(ME, "ds_a", task.task_id)
    error = refused(service, TaskNotCancellable, lambda: service.cancel(ME, "ds_a", task.task_id))
    assert (status, message) == (error.current_status, str(error))
    assert status == error.details["currentStatus"]


# --- lease expiry ------------------------------------------------------------------------


def test_a_dead_workers_task_fails_with_lease_expired_when_a_create_takes_the_dataset_over(
    make_service: Callable[..., ClaroTasks], clock: ManualClock
) -> None:
    service = make_service(lease_ttl=60.0)
    dead = new_rows(service, webhookId="wh_me")
    service.start(dead.task_id)
    service.record_rows(dead.task_id, [RowOutcome(0)], token=dead.lease_token)
    lapsed_at = clock.now() + timedelta(seconds=60)
    clock.advance(59)
    refused(service, DatasetLocked, lambda: new_rows(service))  # still live
    clock.advance(2)
    # Lapsed, and nobody has touched the dataset yet: a read already shows it failed,
    # dated when the lease lapsed, and the dataset free.
    seen = service.get(ME, "ds_a", dead.task_id)
    assert (ClaroStatus.FAILED, LEASE_EXPIRED, lapsed_at) == (
        seen.status,
        seen.failure_reason,
        seen.failed_at,
    )
    assert service.lease(ME, "ds_a") is None
    successor = new_rows(service)
    assert dead.lease_token + 1 == successor.lease_token
    assert seen == service.get(ME, "ds_a", dead.task_id)  # settled exactly as it was shown
    assert successor.task_id == service.lease(ME, "ds_a").holder_task_id  # type: ignore[union-attr]
    # The dead worker's late calls are refused as a lost lease and change nothing.
    for late in (
        lambda: service.record_rows(dead.task_id, [RowOutcome(1)], token=dead.lease_token),
        lambda: service.complete(dead.task_id, token=dead.lease_token),
        lambda: service.fail(dead.task_id, token=dead.lease_token),
    ):
        lost = refused(service, LeaseLost, late)
        assert (dead.task_id, "expired") == (lost.task_id, lost.reason)
    [record] = service.outbox()
    assert dead.task_id == record.task_id
    payload = record.payload()
    assert ("failed", LEASE_EXPIRED, format_instant(lapsed_at)) == (
        payload["status"],
        payload["failureReason"],
        payload["failedAt"],
    )
    # The row it recorded before dying is applied to the dataset when it ended.
    assert len(ROWS) + 1 == service.dataset(ME, "ds_a").row_count


def test_an_edit_after_the_lease_lapsed_goes_through_and_fails_the_task(
    make_service: Callable[..., ClaroTasks], clock: ManualClock
) -> None:
    service = make_service(lease_ttl=60.0)
    dead = service.create_bulk(ME, "ds_a", {}, idempotency_key="k")
    refused(
        service, DatasetLocked, lambda: service.edit_cell(ME, "ds_a", "r1", "email", filled=True)
    )
    clock.advance(61)
    service.edit_cell(ME, "ds_a", "r1", "email", filled=True)
    assert not service.dataset(ME, "ds_a").is_empty("r1", "email")
    failed = service.get(ME, "ds_a", dead.task_id)
    assert (ClaroStatus.FAILED, LEASE_EXPIRED) == (failed.status, failed.failure_reason)
    assert [] == service.outbox(pending_only=False)  # it had no webhook


def test_a_worker_that_keeps_recording_keeps_its_lease(
    make_service: Callable[..., ClaroTasks], clock: ManualClock
) -> None:
    service = make_service(lease_ttl=60.0)
    task = service.create_bulk(ME, "ds_a", {})
    service.start(task.task_id)
    for index in range(task.total):
        clock.advance(50)
        service.record(task.task_id, succeeded=[index], token=task.lease_token)
    refused(service, DatasetLocked, lambda: new_rows(service))
    assert ClaroStatus.COMPLETED == service.complete(task.task_id, token=task.lease_token).status


# --- outcomes, webhooks, zero targets ----------------------------------------------------


def test_a_completed_bulk_task_fills_its_successful_cells(service: ClaroTasks) -> None:
    task = service.create_bulk(ME, "ds_a", {"columnIds": ["email"]})
    cells = [(t.row_id, t.column_id) for t in service.targets(task.task_id)]
    assert [("r1", "email"), ("r2", "email"), ("r3", "email")] == cells
    service.start(task.task_id)
    service.record(task.task_id, succeeded=[0, 2], failed=[1], token=task.lease_token)
    done = service.complete(task.task_id, token=task.lease_token)
    assert {"processedCells": 3, "successfulCells": 2, "failedCells": 1} == done.results.to_wire()
    grid = service.dataset(ME, "ds_a")
    assert [False, True, False] == [grid.is_empty(r, "email") for r in ROWS]


def test_a_completed_new_rows_task_adds_its_rows(service: ClaroTasks) -> None:
    task = new_rows(service)
    row_ids = [t.row_id for t in service.targets(task.task_id)]
    service.start(task.task_id)
    service.record_rows(
        task.task_id, [RowOutcome(1, {"email"}), RowOutcome(0)], token=task.lease_token
    )
    done = service.complete(task.task_id, token=task.lease_token)
    assert {
        "processedCells": 4,
        "successfulCells": 3,
        "failedCells": 1,
        "newRowsCreated": 2,
    } == done.results.to_wire()
    grid = service.dataset(ME, "ds_a")
    assert [*ROWS, *row_ids] == list(grid.row_ids)
    assert [False, False, False, True] == [grid.is_empty(r, c) for r in row_ids for c in COLUMNS]


def test_the_webhook_record_of_a_completed_task_is_signed_and_sent_once(
    service: ClaroTasks, clock: ManualClock
) -> None:
    task = service.create_bulk(ME, "ds_a", {"rowIds": ["r2"], "webhookId": "wh_me"})
    clock.advance(30)
    done = run_to_completion(service, task)
    [record] = service.outbox()
    assert ("wh_me", "https://me.example/hook") == (record.webhook_id, record.url)
    assert verify_signature("s3cret", record.body, record.signature)
    assert not verify_signature("wrong", record.body, record.signature)
    assert {
        "taskId": task.task_id,
        "datasetId": "ds_a",
        "status": "completed",
        "type": "bulk_processing",
        "completedAt": format_instant(done.completed_at),  # type: ignore[arg-type]
        "results": {"processedCells": 2, "successfulCells": 2, "failedCells": 0},
    } == record.payload()
    service.mark_delivered(task.task_id)
    assert [] == service.outbox()
    assert [True] == [r.delivered for r in service.outbox(pending_only=False)]
    refused(service, TaskNotFound, lambda: service.mark_delivered("task_missing"))


def test_zero_target_cells_are_accepted_and_complete_right_after_start(
    service: ClaroTasks,
) -> None:
    service.edit_cell(ME, "ds_a", "r2", "name", filled=True)
    task = service.create_bulk(ME, "ds_a", {"columnIds": ["name"], "rowIds": ["r1", "r2"]})
    assert {"completed": 0, "total": 0, "percentage": 100} == task.progress.to_wire()
    assert [] == list(service.targets(task.task_id))
    service.start(task.task_id)
    done = service.complete(task.task_id, token=task.lease_token)
    assert (ClaroStatus.COMPLETED, 100) == (done.status, done.progress.percentage)
    assert service.lease(ME, "ds_a") is None


def test_a_batch_recorded_through_another_service_instance_is_not_recorded_again(
    clock: ManualClock, tmp_path: Path
) -> None:
    # Two workers' processes share one database: each has its own service object.
    def open_service() -> ClaroTasks:
        return ClaroTasks(SqliteStore(tmp_path / "shared.db", clock=clock), ids=SeededIds(9))

    first = open_service()
    second = open_service()
    first.create_dataset(ME, Grid(ROWS, COLUMNS), dataset_id="ds_a")
    task = first.create_bulk(ME, "ds_a", {})
    first.start(task.task_id)
    first.record(task.task_id, succeeded=[0, 1], token=task.lease_token)
    refused(
        second,
        ValidationError,
        lambda: second.record(task.task_id, failed=[1, 2], token=task.lease_token),
    )
    second.record(task.task_id, failed=[2, 3], token=task.lease_token)
    refused(
        first,
        ValidationError,
        lambda: first.record(task.task_id, succeeded=[3], token=task.lease_token),
    )
    first.record(task.task_id, succeeded=[4, 5], token=task.lease_token)
    assert (6, 4, 2) == (
        first.get(ME, "ds_a", task.task_id).completed,
        second.get(ME, "ds_a", task.task_id).successful_cells,
        second.complete(task.task_id, token=task.lease_token).failed_cells,
    )
    first.store.close()
    second.store.close()


def test_a_dataset_id_is_taken_once(service: ClaroTasks) -> None:
    error = refused(
        service, ValidationError, lambda: service.create_dataset(ME, Grid(), dataset_id="ds_a")
    )
    assert "datasetId" == error.field


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (1, 0.0)])
def test_a_window_quota_needs_a_positive_limit_and_window(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        WindowQuota(limit, window)


def test_a_task_reads_with_the_fields_of_its_status(
    service: ClaroTasks, clock: ManualClock
) -> None:
    """docs/claro.md, "Wire format": which optional fields each status shows."""
    task = new_rows(service, webhookId="wh_me")
    created = created_response(task)
    assert ["rowCount", "estimatedDuration", "createdAt", "webhookId"] == list(created)[4:]
    queued = status_response(service.get(ME, "ds_a", task.task_id), clock.now())
    assert {"progress", "estimatedDuration"} <= set(queued)
    assert not {"startedAt", "results", "estimatedCompletion"} & set(queued)
    service.start(task.task_id)
    clock.advance(60)
    service.record_rows(task.task_id, [RowOutcome(0)], token=task.lease_token)
    processing = status_response(service.get(ME, "ds_a", task.task_id), clock.now())
    assert {"completed": 1, "total": 2, "percentage": 50} == processing["progress"]
    assert {"startedAt", "estimatedCompletion"} <= set(processing)
    assert not {"results", "estimatedDuration"} & set(processing)
    service.record_rows(task.task_id, [RowOutcome(1)], token=task.lease_token)
    done = status_response(service.complete(task.task_id, token=task.lease_token), clock.now())
    assert {"results", "completedAt", "webhookId"} <= set(done)
    bulk = service.create_bulk(ME, "ds_b", {"processOnlyEmpty": False})
    assert (6, False) == (created_response(bulk)["targetCells"], bulk.process_only_empty)
    cancelled = service.cancel(ME, "ds_b", bulk.task_id)
    assert {"message", "taskId", "status", "cancelledAt"} == set(cancel_response(cancelled))
    assert "cancelledAt" in status_response(cancelled, clock.now())
    other = service.create_bulk(ME, "ds_c", {})
    failed = status_response(
        service.fail(other.task_id, "model_error", token=other.lease_token), clock.now()
    )
    assert ("model_error", True) == (failed["failureReason"], "failedAt" in failed)
    assert not {"results", "completedAt"} & set(failed)
