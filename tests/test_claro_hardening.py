"""The Claro service's edges, each a defect found by probing it from outside: named cell
ids, tenancy, colliding ids and keys, fenced worker writes, lapsed leases seen by
readers, idempotent replays, webhook re-registration, retention and bounded caches.
Every test runs on both stores."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskcore.claro.grid import CellTable, Grid
from taskcore.claro.http import claro_router
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import (
    BATCHES,
    DELIVERED,
    IDEMPOTENCY,
    LEASE_EXPIRED,
    OUTBOX,
    SELECTIONS,
    TASKS,
    WEBHOOKS,
    ClaroTasks,
    RowOutcome,
)
from taskcore.claro.webhooks import verify_signature
from taskcore.clock import ManualClock
from taskcore.errors import (
    DatasetNotFound,
    IdCollision,
    IdempotencyConflict,
    IllegalTransition,
    LeaseLost,
    TaskcoreError,
    ValidationError,
    WebhookNotFound,
)
from taskcore.http import Request
from taskcore.ids import SeededIds
from taskcore.quota import WindowQuota
from taskcore.store import MemoryStore, SqliteStore, Store

A, B = "acct_a", "acct_b"

# The Claro API reference's own bulk example ("Create Bulk Processing Task", "Process
# specific cells"): cells named cell_1 and cell_2.
SEED_CELLS = {"cell_1": ("row_1", "col_a"), "cell_2": ("row_2", "col_b")}


@pytest.fixture(params=["memory", "sqlite"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Opens stores of the parameter's kind on one clock (SQLite: one shared file)."""
    clock = ManualClock()
    stores: list[Store] = []
    memory = MemoryStore(clock=clock)

    def open_(*, fresh: bool = False) -> Store:
        if request.param == "memory":
            store: Store = MemoryStore(clock=clock) if fresh else memory
        else:
            store = SqliteStore(tmp_path / "claro.db", clock=clock)
        stores.append(store)
        return store

    yield open_
    for store in {id(s): s for s in [*stores, memory]}.values():
        store.close()


def clock_of(service: ClaroTasks) -> ManualClock:
    clock = service.store.clock  # type: ignore[attr-defined]
    assert isinstance(clock, ManualClock)
    return clock


def snapshot(service: ClaroTasks) -> dict[str, Any]:
    with service.store.unit() as unit:
        return {
            table: list(unit.items(table))
            for table in (TASKS, SELECTIONS, BATCHES, WEBHOOKS, OUTBOX, DELIVERED, IDEMPOTENCY)
        }


def refused(service: ClaroTasks, error: type[TaskcoreError], call: Callable[[], object]) -> Any:
    before = snapshot(service)
    with pytest.raises(error) as caught:
        call()
    assert error is type(caught.value)
    assert before == snapshot(service)
    return caught.value


def named_grid() -> Grid:
    return Grid(["row_1", "row_2"], ["col_a", "col_b"], codec=CellTable(SEED_CELLS))


# --- named cell ids ------------------------------------------------------------------------


def test_the_references_cell_ids_example_works_across_a_restart(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    dataset = service.create_dataset(A, named_grid())
    restarted = ClaroTasks(open_store())  # a new service object: nothing cached
    task = restarted.create_bulk(A, dataset, {"cellIds": ["cell_1", "cell_2"]})
    assert 2 == task.total
    assert ["cell_1", "cell_2"] == [t.cell_id for t in restarted.targets(task.task_id)]
    assert SEED_CELLS == restarted.dataset(A, dataset).codec.names  # type: ignore[attr-defined]


def test_the_references_cell_ids_example_works_over_http(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    dataset = service.create_dataset(A, named_grid())
    router = claro_router(ClaroTasks(open_store()), {"key": A})
    response = router.handle(
        Request(
            "POST",
            f"/api/v2/datasets/{dataset}/tasks/bulk",
            {"Authorization": "Bearer key"},
            b'{"cellIds": ["cell_1", "cell_2"]}',
        )
    )
    assert (201, 2) == (response.status, response.json()["targetCells"])


def test_named_cells_survive_a_structure_edit(open_store: Callable[..., Store]) -> None:
    service = ClaroTasks(open_store())
    dataset = service.create_dataset(A, named_grid())
    service.add_column(A, dataset, "col_c")
    assert 1 == service.create_bulk(A, dataset, {"cellIds": ["cell_2"]}).total


def test_a_grid_whose_cell_ids_cannot_be_stored_is_refused() -> None:
    class Reversed:
        def cell_id(self, row_id: str, column_id: str) -> str:
            return f"{column_id}@{row_id}"

        def locate(self, cell_id: str) -> tuple[str, str] | None:
            column, _, row = cell_id.partition("@")
            return (row, column) if row else None

    service = ClaroTasks()
    with pytest.raises(ValidationError) as caught:
        service.create_dataset(A, Grid(["r"], ["c"], codec=Reversed()))
    assert "codec" == caught.value.field


# --- tenancy and keys ------------------------------------------------------------------------


def test_another_account_cannot_replace_a_webhook_by_reusing_its_id(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    dataset = service.create_dataset(A, Grid(["r1"], ["c1"]))
    service.register_webhook(A, "https://a.example/hook", "a-secret", webhook_id="wh_1")
    service.register_webhook(B, "https://evil.example/hook", "b-secret", webhook_id="wh_1")
    task = service.create_bulk(A, dataset, {"webhookId": "wh_1"})
    token = service.start(task.task_id).lease_token
    service.record(task.task_id, token=token, succeeded=[0])
    service.complete(task.task_id, token=token)
    [record] = service.outbox()
    assert "https://a.example/hook" == record.url
    assert verify_signature("a-secret", record.body, record.signature)


def test_idempotency_keys_built_from_parts_never_collide(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    for account in ("a", "a/b"):
        service.create_dataset(account, Grid(["r1"], ["c1"]), dataset_id="ds")
    first = service.create_new_rows("a", "ds", {"rowCount": 1}, idempotency_key="b/c")
    second = service.create_new_rows("a/b", "ds", {"rowCount": 1}, idempotency_key="c")
    assert first.task_id != second.task_id
    assert ("a", "a/b") == (first.account_id, second.account_id)


def test_a_dataset_id_of_another_account_is_no_existence_oracle(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds_1")
    # B may use the same id: it is B's own dataset, and A's is untouched.
    assert "ds_1" == service.create_dataset(B, Grid(["x"], ["y"]), dataset_id="ds_1")
    assert ["r1"] == list(service.dataset(A, "ds_1").row_ids)
    assert ["x"] == list(service.dataset(B, "ds_1").row_ids)
    with pytest.raises(ValidationError):  # only the account's own id is taken
        service.create_dataset(A, Grid(), dataset_id="ds_1")
    refused(service, DatasetNotFound, lambda: service.dataset(B, "ds_2"))


def test_a_repeating_id_factory_never_overwrites_another_accounts_task(
    open_store: Callable[..., Store],
) -> None:
    first = ClaroTasks(open_store(), ids=SeededIds(5))
    first.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    mine = first.create_new_rows(A, "ds", {"rowCount": 1})
    second = ClaroTasks(open_store(), ids=SeededIds(5))  # a restart with the same seed
    second.create_dataset(B, Grid(["r1"], ["c1"]), dataset_id="ds")
    theirs = second.create_new_rows(B, "ds", {"rowCount": 1})
    assert mine.task_id != theirs.task_id
    assert mine == first.get(A, "ds", mine.task_id)


def test_an_id_factory_that_only_repeats_is_refused_and_changes_nothing(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), ids=lambda: "task_same")
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds1")
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds2")
    service.create_new_rows(A, "ds1", {"rowCount": 1})
    error = refused(
        service, IdCollision, lambda: service.create_new_rows(A, "ds2", {"rowCount": 1})
    )
    assert ("task", 500) == (error.kind, error.status)
    assert service.lease(A, "ds2") is None


# --- fenced worker writes, lapsed leases -------------------------------------------------------


def test_a_stale_worker_cannot_complete_after_another_task_took_the_dataset(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), lease_ttl=60)
    service.create_dataset(A, Grid(["r1", "r2"], ["c1"]), dataset_id="ds")
    stale = service.create_bulk(A, "ds", {})
    token = service.start(stale.task_id).lease_token
    service.record(stale.task_id, token=token, succeeded=[0])  # while the lease is live
    clock_of(service).advance(61)
    successor = service.create_bulk(A, "ds", {})
    assert 1 == successor.total  # r1 was filled when the stale task ended; r2 is left
    late = lambda: service.record(stale.task_id, token=token, succeeded=[1])  # noqa: E731
    refused(service, LeaseLost, late)
    lost = refused(service, LeaseLost, lambda: service.complete(stale.task_id, token=token))
    assert ("expired", "LEASE_LOST", 409) == (lost.reason, lost.code, lost.status)
    assert "lost its lease" in str(lost)
    assert ClaroStatus.FAILED == service.get(A, "ds", stale.task_id).status
    assert service.dataset(A, "ds").is_empty("r2", "c1")


def test_a_lapsed_write_settles_the_task_then_says_the_lease_was_lost(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), lease_ttl=60)
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    task = service.create_bulk(A, "ds", {})
    token = service.start(task.task_id).lease_token
    clock_of(service).advance(61)
    with pytest.raises(LeaseLost):
        service.record(task.task_id, token=token, succeeded=[0])
    stored = service.get(A, "ds", task.task_id)
    assert (ClaroStatus.FAILED, LEASE_EXPIRED) == (stored.status, stored.failure_reason)
    assert service.lease(A, "ds") is None


@pytest.mark.parametrize("token", [True, 1.0, "1", None])
def test_a_token_that_is_not_an_integer_is_a_validation_error(
    open_store: Callable[..., Store], token: object
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    task = service.create_bulk(A, "ds", {})
    service.start(task.task_id)
    error = refused(service, ValidationError, lambda: service.complete(task.task_id, token=token))  # type: ignore[arg-type]
    assert "token" == error.field


def test_a_polling_client_sees_a_dead_workers_task_fail(open_store: Callable[..., Store]) -> None:
    service = ClaroTasks(open_store(), lease_ttl=60)
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    task = service.create_bulk(A, "ds", {})
    service.start(task.task_id)
    started = clock_of(service).now()
    clock_of(service).advance(86_400)
    status = service.status(A, "ds", task.task_id)
    assert ("failed", LEASE_EXPIRED) == (status["status"], status["failureReason"])
    assert "estimatedCompletion" not in status
    assert service.get(A, "ds", task.task_id).failed_at == started + timedelta(seconds=60)
    # Cancelling it now is refused as for any failed task.
    with pytest.raises(IllegalTransition) as caught:
        service.cancel(A, "ds", task.task_id)
    assert "failed" == caught.value.state


def test_the_outbox_poll_settles_lapsed_tasks_and_sends_their_failure(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), lease_ttl=60)
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    service.register_webhook(A, "https://a.example/h", "s", webhook_id="wh")
    task = service.create_bulk(A, "ds", {"webhookId": "wh"})
    clock_of(service).advance(61)
    [record] = service.outbox()
    assert (task.task_id, "failed") == (record.task_id, record.payload()["status"])
    assert [] == service.settle_expired()


# --- idempotent replays ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, 5, [1], "x"])
def test_a_reused_key_with_a_body_that_is_not_an_object_is_a_validation_error(
    open_store: Callable[..., Store], body: object
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    service.create_new_rows(A, "ds", {"rowCount": 1}, idempotency_key="k")
    refused(
        service,
        ValidationError,
        lambda: service.create_new_rows(A, "ds", body, idempotency_key="k"),
    )
    refused(
        service, ValidationError, lambda: service.create_bulk(A, "ds", body, idempotency_key="k")
    )


def test_a_replay_compares_the_parsed_request_not_its_spelling(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1", "r2"], ["c1"]), dataset_id="ds")
    first = service.create_bulk(A, "ds", {"rowIds": ["r1"]}, idempotency_key="k")
    again = service.create_bulk(
        A, "ds", {"processOnlyEmpty": True, "rowIds": ["r1", "r1"]}, idempotency_key="k"
    )
    assert first == again
    conflict = refused(
        service,
        IdempotencyConflict,
        lambda: service.create_bulk(A, "ds", {"rowIds": ["r2"]}, idempotency_key="k"),
    )
    assert first.task_id == conflict.task_id


def test_a_replay_returns_the_original_response_after_the_task_moved_on(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    router = claro_router(service, {"key": A})

    def create() -> Any:
        return router.handle(
            Request(
                "POST",
                "/api/v2/datasets/ds/tasks/new-rows",
                {"Authorization": "Bearer key", "Idempotency-Key": "k-1"},
                b'{"rowCount": 1}',
            )
        )

    first = create()
    task_id = first.json()["taskId"]
    token = service.start(task_id).lease_token
    service.record_rows(task_id, [RowOutcome(0)], token=token)
    service.complete(task_id, token=token)
    again = create()
    assert (201, first.body) == (again.status, again.body)
    assert "queued" == again.json()["status"]


def test_an_idempotency_key_is_forgotten_after_its_retention(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), idempotency_retention=timedelta(hours=24))
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds1")
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds2")
    first = service.create_new_rows(A, "ds1", {"rowCount": 1}, idempotency_key="k")
    clock_of(service).advance(24 * 3600)
    other = service.create_new_rows(A, "ds2", {"rowCount": 2}, idempotency_key="k")
    assert first.task_id != other.task_id  # the key was free again
    with service.store.unit() as unit:
        kept = [doc["ref"] for _, doc in unit.items(IDEMPOTENCY)]
    assert [other.task_id] == kept  # the expired one was pruned on the side


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there", "\ud800"])
def test_a_malformed_idempotency_key_is_a_validation_error(
    open_store: Callable[..., Store], key: str
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    error = refused(
        service,
        ValidationError,
        lambda: service.create_new_rows(A, "ds", {"rowCount": 1}, idempotency_key=key),
    )
    assert "Idempotency-Key" == error.field


# --- webhooks ----------------------------------------------------------------------------------


def test_pending_notifications_follow_a_re_registered_webhook(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    service.register_webhook(A, "https://old.example/h", "old", webhook_id="wh")
    done = []
    for _ in range(2):
        task = service.create_bulk(A, "ds", {"webhookId": "wh"})
        token = service.start(task.task_id).lease_token
        service.record(task.task_id, token=token, succeeded=[0])
        service.complete(task.task_id, token=token)
        service.edit_cell(A, "ds", "r1", "c1", filled=False)
        done.append(task.task_id)
    service.mark_delivered(done[0])
    service.register_webhook(A, "https://new.example/h", "new", webhook_id="wh")
    [pending] = service.outbox()
    assert (done[1], "https://new.example/h") == (pending.task_id, pending.url)
    assert verify_signature("new", pending.body, pending.signature)
    assert not verify_signature("old", pending.body, pending.signature)
    delivered = [r for r in service.outbox(pending_only=False) if r.delivered]
    assert [(done[0], "https://old.example/h")] == [(r.task_id, r.url) for r in delivered]
    assert verify_signature("old", delivered[0].body, delivered[0].signature)
    service.mark_delivered(done[0])  # a repeated acknowledgement changes nothing


def test_a_webhook_needs_a_url_and_a_secret() -> None:
    with pytest.raises(ValidationError):
        ClaroTasks().register_webhook(A, "", "s")
    refused_service = ClaroTasks()
    refused_service.create_dataset(A, Grid(["r"], ["c"]), dataset_id="ds")
    refused(
        refused_service,
        WebhookNotFound,
        lambda: refused_service.create_new_rows(A, "ds", {"rowCount": 1, "webhookId": "nope"}),
    )


# --- retention and bounds ----------------------------------------------------------------------


def test_delivered_notifications_and_batches_do_not_outlive_their_retention(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), delivered_retention=3600)
    service.create_dataset(A, Grid([f"r{i}" for i in range(3)], ["c1"]), dataset_id="ds")
    service.register_webhook(A, "https://a.example/h", "s", webhook_id="wh")
    for _ in range(3):
        task = service.create_bulk(A, "ds", {"webhookId": "wh", "processOnlyEmpty": False})
        token = service.start(task.task_id).lease_token
        service.record(task.task_id, token=token, succeeded=[0], failed=[1])
        service.record(task.task_id, token=token, succeeded=[2])
        service.complete(task.task_id, token=token)
        service.mark_delivered(task.task_id)
    with service.store.unit() as unit:
        assert [] == list(unit.items(BATCHES))  # applied and dropped when each task ended
        assert [] == list(unit.items(OUTBOX))
        assert 3 == len(list(unit.items(DELIVERED)))
    clock_of(service).advance(3601)
    assert 3 == service.prune()
    assert [] == service.outbox(pending_only=False)


def test_ended_tasks_are_pruned_after_the_task_retention(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store(), task_retention=timedelta(days=7))
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    task = service.create_bulk(A, "ds", {})
    service.cancel(A, "ds", task.task_id)
    clock_of(service).advance(7 * 86_400 + 1)
    service.prune()
    with service.store.unit() as unit:
        assert (None, None) == (unit.get(TASKS, task.task_id), unit.get(SELECTIONS, task.task_id))


def test_a_bulk_selection_is_stored_once_apart_from_the_task(
    open_store: Callable[..., Store],
) -> None:
    service = ClaroTasks(open_store())
    rows = [f"r{i}" for i in range(2000)]
    service.create_dataset(A, Grid(rows, ["c1", "c2"]), dataset_id="ds")
    cells = [f"{r}:c1" for r in rows]
    task = service.create_bulk(A, "ds", {"cellIds": cells})
    token = service.start(task.task_id).lease_token
    service.record(task.task_id, token=token, succeeded=range(10))
    with service.store.unit() as unit:
        assert len(json.dumps(unit.get(TASKS, task.task_id))) < 1000
        assert cells == (unit.get(SELECTIONS, task.task_id) or {})["cellIds"]


def test_in_process_caches_are_bounded(open_store: Callable[..., Store]) -> None:
    service = ClaroTasks(open_store(), cache_size=4)
    for n in range(12):
        dataset = service.create_dataset(A, Grid(["r1", "r2"], ["c1"]), dataset_id=f"ds{n}")
        task = service.create_bulk(A, dataset, {})
        token = service.start(task.task_id).lease_token
        service.record(task.task_id, token=token, succeeded=[0])
    assert len(service._grids) <= 4
    assert len(service._recorded) <= 4


# --- a busy database over HTTP -----------------------------------------------------------------


def test_a_busy_database_is_a_503_with_retry_after_on_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SqliteStore(path, busy_timeout=0.05, max_idle_connections=0) as store:
        service = ClaroTasks(store)
        service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
        task = service.create_bulk(A, "ds", {})
        router = claro_router(service, {"key": A})
        auth = {"Authorization": "Bearer key"}
        before = snapshot(service)
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("SELECT * FROM documents").fetchall()
            for request in (
                Request("GET", f"/api/v2/datasets/ds/tasks/{task.task_id}", auth),
                Request("DELETE", f"/api/v2/datasets/ds/tasks/{task.task_id}", auth),
                Request("POST", "/api/v2/datasets/ds/tasks/new-rows", auth, b'{"rowCount": 1}'),
            ):
                response = router.handle(request)
                assert (503, "STORE_BUSY") == (response.status, response.json()["code"])
                assert response.headers["retry-after"].isdigit()
        finally:
            holder.close()
        assert before == snapshot(service)
        assert ClaroStatus.QUEUED == service.get(A, "ds", task.task_id).status


# --- found by probing the hardened slice ---------------------------------------------------


def test_new_rows_tasks_whose_ids_share_a_prefix_create_distinct_rows(
    open_store: Callable[..., Store],
) -> None:
    counter = iter(range(1, 100))
    service = ClaroTasks(open_store(), ids=lambda: f"task_{next(counter):012d}", lease_ttl=60)
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    for _ in range(2):
        task = service.create_new_rows(A, "ds", {"rowCount": 1})
        token = service.start(task.task_id).lease_token
        service.record_rows(task.task_id, [RowOutcome(0)], token=token)
        assert ClaroStatus.COMPLETED == service.complete(task.task_id, token=token).status
    assert 3 == service.dataset(A, "ds").row_count
    clock_of(service).advance(61)
    assert [] == service.outbox()


def test_a_task_id_whose_rows_already_exist_is_drawn_again(
    open_store: Callable[..., Store],
) -> None:
    ids = iter(["task_x", "task_y"])
    service = ClaroTasks(open_store(), ids=lambda: next(ids))
    service.create_dataset(A, Grid(["r1", "row_x_00000"], ["c1"]), dataset_id="ds")
    task = service.create_new_rows(A, "ds", {"rowCount": 1})
    assert ("task_y", ["row_y_00000"]) == (
        task.task_id,
        [t.row_id for t in service.targets(task.task_id)],
    )


def test_a_pruned_tasks_id_is_not_reused_while_its_notification_is_kept(
    open_store: Callable[..., Store],
) -> None:
    def open_service() -> ClaroTasks:
        return ClaroTasks(open_store(), ids=SeededIds(0), task_retention=60)

    service = open_service()
    for account in (A, B):
        service.create_dataset(account, Grid(["r1"], ["c1"]), dataset_id="ds")
        service.register_webhook(account, f"https://{account}.example/h", "s", webhook_id="wh")

    def run(service: ClaroTasks, account: str) -> str:
        task = service.create_bulk(account, "ds", {"webhookId": "wh"})
        token = service.start(task.task_id).lease_token
        service.record(task.task_id, token=token, succeeded=[0])
        service.complete(task.task_id, token=token)
        return task.task_id

    first = run(service, A)
    clock_of(service).advance(120)
    service.prune()
    second = run(open_service(), B)  # a restart: the seeded ids repeat
    assert first != second
    urls = {r.task_id: r.url for r in service.outbox()}
    assert {first: "https://acct_a.example/h", second: "https://acct_b.example/h"} == urls


@pytest.mark.parametrize(
    ("url", "secret", "field"),
    [
        ("https://a.example/h", "\ud800", "secret"),
        ("https://a.example/h", "", "secret"),
        ("https://a.example/\n", "s", "url"),
        ("ftp://a.example/h", "s", "url"),
        ("", "s", "url"),
    ],
)
def test_a_webhook_that_could_not_be_signed_or_sent_is_refused(
    url: str, secret: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ClaroTasks().register_webhook(A, url, secret)
    assert field == caught.value.field


@pytest.mark.parametrize("signature", [b"sha256=00", None, 5])
def test_verify_signature_is_false_for_a_signature_that_is_not_text(signature: object) -> None:
    assert not verify_signature("s", b"{}", signature)


@pytest.mark.parametrize("dataset_id", ["", "a/b", ".", "..", "x\n", "\ud800", "d" * 256])
def test_a_dataset_id_no_path_could_name_is_refused(dataset_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClaroTasks().create_dataset(A, Grid(), dataset_id=dataset_id)
    assert "datasetId" == caught.value.field


@pytest.mark.parametrize(
    "settings",
    [
        {"lease_ttl": 1e12},
        {"lease_ttl": float("inf")},
        {"quota": None, "idempotency_retention": 1e15},
        {"task_retention": -5},
        {"delivered_retention": 0},
        {"delivered_retention": float("nan")},
    ],
)
def test_settings_that_would_overflow_the_calendar_are_refused_at_once(
    settings: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="must be"):
        ClaroTasks(**settings)


def test_a_quota_window_that_would_overflow_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        WindowQuota(1, 1e15)


def test_prune_drops_at_most_its_limit(open_store: Callable[..., Store]) -> None:
    service = ClaroTasks(open_store(), task_retention=10, idempotency_retention=10)
    for n in range(3):
        service.create_dataset(A, Grid(["r"], ["c"]), dataset_id=f"d{n}")
        task = service.create_new_rows(A, f"d{n}", {"rowCount": 1}, idempotency_key=f"k{n}")
        service.fail(task.task_id, token=task.lease_token)
    clock_of(service).advance(11)
    assert [1, 1, 1, 1, 1, 1, 0] == [service.prune(1) for _ in range(7)]


def test_an_unknown_failed_column_names_the_argument(open_store: Callable[..., Store]) -> None:
    service = ClaroTasks(open_store())
    service.create_dataset(A, Grid(["r"], ["c"]), dataset_id="ds")
    task = service.create_new_rows(A, "ds", {"rowCount": 1})
    token = service.start(task.task_id).lease_token
    error = refused(
        service,
        ValidationError,
        lambda: service.record_rows(task.task_id, [RowOutcome(0, {"nope"})], token=token),
    )
    assert "failed_columns" == error.field


def test_task_ids_are_handed_out_in_the_factorys_order_whatever_fails(
    open_store: Callable[..., Store],
) -> None:
    # A create draws its task id ahead (to read what it names with its first keys); a
    # create that fails, or answers a replay, leaves it to the next create.
    counter = iter(range(1, 100))
    service = ClaroTasks(open_store(), ids=lambda: f"task_{next(counter):04d}")
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="ds")
    service.create_dataset(A, Grid(["r1"], ["c1"]), dataset_id="other")
    with pytest.raises(DatasetNotFound):
        service.create_bulk(A, "missing", {})
    with pytest.raises(ValidationError):
        service.create_bulk(A, "ds", {"selection": "not an object"})
    first = service.create_bulk(A, "ds", {}, idempotency_key="k")
    assert first == service.create_bulk(A, "ds", {}, idempotency_key="k")  # a replay
    second = service.create_new_rows(A, "other", {"rowCount": 1})
    assert ["task_0001", "task_0002"] == [first.task_id, second.task_id]
