"""The Claro task service (seed ``000_d988adf86e3a34c4.txt``): the shell that composes
the lifecycle, the selection resolver, the dataset lock, webhooks and quota.

Theory of operation (DESIGN.md, "Architecture" and "The lock manager"):

- Every call is one unit of work of the store: read, decide with the pure core, write.
  A refused call raises before its unit commits, so it changes nothing: not the task,
  not the lease, not the dataset, not the quota, not the outbox.  Thread- and
  process-safety come from the store (units serialised in memory, ``BEGIN IMMEDIATE`` in
  SQLite).
- Creating a task takes the dataset's lease; every terminal transition (complete, fail,
  cancel) releases it, applies the task's outcomes to the dataset and (completed or
  failed, with a webhook) writes the signed outbox record, all in the same unit.
- Outcomes are recorded by *target index*: the n-th target of the task, in the order
  :meth:`ClaroTasks.targets` lists them (row-major cells for bulk, new-row numbers for
  new rows).  Checking a batch is set arithmetic, so recording costs little more than
  counting.  The dataset is locked for the task's whole life, so its targets cannot
  move; outcomes are applied to the grid when the task ends.
- A lease that lapsed (its worker died) is settled the next time its dataset is touched:
  the task fails with ``lease_expired`` and the dataset is released, in that same unit.

Order of checks on create (DESIGN.md): dataset exists -> input valid -> webhook exists
-> dataset unlocked -> quota.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

from taskcore.claro._recorded import RecordedTargets, decode_group, encode_group
from taskcore.claro.estimate import Estimator, RateEstimator
from taskcore.claro.grid import Grid
from taskcore.claro.lifecycle import CLARO_TASK, ClaroEvent, ClaroStatus
from taskcore.claro.task import Category, ClaroTask, TaskType
from taskcore.claro.webhooks import OutboxRecord, Webhook
from taskcore.claro.wire import parse_bulk, parse_new_rows, status_response, webhook_payload
from taskcore.clock import format_instant
from taskcore.errors import (
    DatasetNotFound,
    IdempotencyConflict,
    TaskNotFound,
    ValidationError,
    WebhookNotFound,
)
from taskcore.ids import IdFactory, UuidIds
from taskcore.locks import LockManager
from taskcore.quota import Quota, Unlimited
from taskcore.store import MemoryStore, Store, Unit

__all__ = ["ClaroTasks", "RowOutcome", "Target"]

DATASETS = "claro.datasets"
GRIDS = "claro.grids"
TASKS = "claro.tasks"
BATCHES = "claro.batches"
WEBHOOKS = "claro.webhooks"
OUTBOX = "claro.outbox"
IDEMPOTENCY = "claro.idempotency"

LEASE_EXPIRED = "lease_expired"
"""``failureReason`` of a task whose dataset lease lapsed."""


@attrs.frozen
class Target:
    """One target of a task: its index (what a worker records) and where it is."""

    index: int
    row_id: str
    column_id: str | None = None
    cell_id: str | None = None


def _column_set(columns: Iterable[str]) -> frozenset[str]:
    # A typed converter: with the bare ``frozenset`` builtin, mypy cannot solve its type
    # variable and refuses every argument (``RowOutcome(0, {"email"})`` did not type-check).
    return frozenset(columns)


@attrs.frozen
class RowOutcome:
    """A new row's outcome: created, with the columns whose cells failed."""

    index: int
    failed_columns: frozenset[str] = attrs.field(default=frozenset(), converter=_column_set)


def _need(unit: Unit, table: str, key: str) -> Any:
    """A document the service wrote itself and so knows exists."""
    value = unit.get(table, key)
    if value is None:  # pragma: no cover - a store that lost a committed document
        raise RuntimeError(f"store lost {table}/{key}")
    return value


def _fingerprint(kind: str, dataset_id: str, body: Any) -> str:
    canonical = json.dumps([kind, dataset_id, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ClaroTasks:
    """The Claro tasks API as a service.  Thread-safe; every call atomic.

    Args:
        store: where datasets, tasks, leases, webhooks and the outbox live (default: a
            new in-memory store on the system clock).  Its clock is the service's clock.
        ids: task id factory (``task_<uuid4>``).
        quota: task-creation quota (default unlimited).
        estimator: duration estimates (default :class:`RateEstimator`).
        lease_ttl: how long a dataset lease lasts without a worker call renewing it.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        ids: IdFactory | None = None,
        quota: Quota | None = None,
        estimator: Estimator | None = None,
        lease_ttl: timedelta | float = timedelta(hours=1),
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds() if ids is None else ids
        self.quota: Quota = Unlimited() if quota is None else quota
        self.estimator: Estimator = RateEstimator() if estimator is None else estimator
        self.locks = LockManager(self.store, lease_ttl)
        self._cache_lock = threading.Lock()
        self._grids: dict[str, tuple[str, Grid]] = {}  # dataset -> (version, grid)
        self._recorded: dict[str, RecordedTargets] = {}

    # -- datasets ---------------------------------------------------------------------

    def create_dataset(
        self,
        account_id: str,
        grid: Grid,
        *,
        dataset_id: str | None = None,
        category: Category = Category.ENRICHMENT,
    ) -> str:
        """Register ``grid`` as a dataset of ``account_id``; return its id.

        Raises:
            ValidationError: ``dataset_id`` is already taken; nothing changed.
        """
        dataset_id = dataset_id or UuidIds("")()
        with self.store.unit() as unit:
            if unit.get(DATASETS, dataset_id) is not None:
                raise ValidationError(f"Dataset {dataset_id} already exists", field="datasetId")
            self._put_grid(unit, dataset_id, account_id, category, grid)
        return dataset_id

    def dataset(self, account_id: str, dataset_id: str) -> Grid:
        """A copy of the dataset's grid as it is now.

        Raises:
            DatasetNotFound: no such dataset for this account.
        """
        with self.store.unit() as unit:
            self._dataset(unit, account_id, dataset_id)
            return self._fresh_grid(unit, dataset_id)

    def add_column(self, account_id: str, dataset_id: str, column_id: str) -> None:
        """Add an empty column (a structure edit).

        Raises:
            DatasetNotFound, DatasetLocked (a task holds the dataset), ValidationError
            (the column exists).  Nothing changed.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.add_column(column_id))

    def remove_column(self, account_id: str, dataset_id: str, column_id: str) -> None:
        """Remove a column (a structure edit).

        Raises:
            DatasetNotFound, DatasetLocked, or the grid's error for an unknown column.
            Nothing changed.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.remove_column(column_id))

    def edit_cell(
        self, account_id: str, dataset_id: str, row_id: str, column_id: str, *, filled: bool
    ) -> None:
        """Fill or empty one cell (a manual data edit).

        Raises:
            DatasetNotFound, DatasetLocked, or the grid's error for an unknown cell.
            Nothing changed.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.set_filled(row_id, column_id, filled))

    def _edit(self, account_id: str, dataset_id: str, change: Callable[[Grid], None]) -> None:
        with self.store.unit() as unit:
            meta = self._dataset(unit, account_id, dataset_id)
            self._settle_expired(unit, dataset_id)
            self.locks.check_unlocked(unit, dataset_id)
            grid = self._fresh_grid(unit, dataset_id)
            change(grid)
            self._put_grid(unit, dataset_id, account_id, Category(meta["category"]), grid)

    # -- webhooks ---------------------------------------------------------------------

    def register_webhook(
        self, account_id: str, url: str, secret: str, *, webhook_id: str | None = None
    ) -> Webhook:
        """Register a webhook for ``account_id``; tasks name it by ``webhookId``."""
        webhook = Webhook(webhook_id or UuidIds("")(), account_id, url, secret)
        with self.store.unit() as unit:
            unit.put(WEBHOOKS, webhook.webhook_id, webhook.to_doc())
        return webhook

    def outbox(self, *, pending_only: bool = True) -> list[OutboxRecord]:
        """Webhook notifications written so far (undelivered ones by default)."""
        with self.store.unit() as unit:
            records = [OutboxRecord.from_doc(key, doc) for key, doc in unit.items(OUTBOX)]
        return [r for r in records if not (pending_only and r.delivered)]

    def mark_delivered(self, task_id: str) -> None:
        """Record that the notification for ``task_id`` was delivered.

        Raises:
            TaskNotFound: no notification for that task.
        """
        with self.store.unit() as unit:
            doc = unit.get(OUTBOX, task_id)
            if doc is None:
                raise TaskNotFound(task_id)
            unit.put(OUTBOX, task_id, {**doc, "delivered": True})

    # -- the documented operations ----------------------------------------------------

    def create_new_rows(
        self,
        account_id: str,
        dataset_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        category: Category | None = None,
    ) -> ClaroTask:
        """``POST /datasets/{datasetId}/tasks/new-rows``.

        Raises:
            DatasetNotFound, ValidationError, WebhookNotFound, DatasetLocked,
            QuotaExceeded, IdempotencyConflict (in that order of checks).  Nothing changed.
        """
        return self._create("new_rows", account_id, dataset_id, body, idempotency_key, category)

    def create_bulk(
        self,
        account_id: str,
        dataset_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        category: Category | None = None,
    ) -> ClaroTask:
        """``POST /datasets/{datasetId}/tasks/bulk``.

        Raises:
            DatasetNotFound, ValidationError or InvalidSelection, WebhookNotFound,
            DatasetLocked, QuotaExceeded, IdempotencyConflict.  Nothing changed.
        """
        return self._create("bulk", account_id, dataset_id, body, idempotency_key, category)

    def _create(
        self,
        kind: str,
        account_id: str,
        dataset_id: str,
        body: Mapping[str, Any],
        idempotency_key: str | None,
        category: Category | None,
    ) -> ClaroTask:
        with self.store.unit() as unit:
            now = unit.now
            meta = self._dataset(unit, account_id, dataset_id)
            if idempotency_key is not None:
                replay = self._replay(unit, account_id, idempotency_key, kind, dataset_id, body)
                if replay is not None:
                    return replay
            task_id = self.ids()
            self._settle_expired(unit, dataset_id)  # may change the grid, not the metadata
            if kind == "new_rows":
                request = parse_new_rows(body)
                webhook_id, total = request.webhook_id, request.row_count
                task_type, selection, row_count = TaskType.NEW_ROWS, None, request.row_count
            else:
                bulk = parse_bulk(body)
                grid = self._grid(unit, dataset_id)
                total = bulk.selection.resolve(grid).count
                webhook_id, task_type = bulk.webhook_id, TaskType.BULK_PROCESSING
                selection, row_count = bulk.selection, None
            if webhook_id is not None:
                self._webhook(unit, account_id, webhook_id)
            grant = self.locks.acquire_in(unit, dataset_id, task_id)
            self.quota.charge(unit, account_id)
            low, high = self.estimator.estimate(task_type, total)
            task = ClaroTask(
                task_id=task_id,
                dataset_id=dataset_id,
                account_id=account_id,
                type=task_type,
                category=category or Category(meta["category"]),
                status=CLARO_TASK.initial,
                created_at=now,
                total=total,
                estimate_low=low,
                estimate_high=high,
                lease_token=grant.lease.token,
                row_count=row_count,
                selection_doc=None if selection is None else selection.to_wire(),
                webhook_id=webhook_id,
            )
            unit.put(TASKS, task_id, task.to_doc())
            if idempotency_key is not None:
                unit.put(IDEMPOTENCY, f"{account_id}/{idempotency_key}", {
                    "fingerprint": _fingerprint(kind, dataset_id, dict(body)),
                    "taskId": task_id,
                })  # fmt: skip
            return task

    def _replay(
        self, unit: Unit, account_id: str, key: str, kind: str, dataset_id: str, body: Any
    ) -> ClaroTask | None:
        seen = unit.get(IDEMPOTENCY, f"{account_id}/{key}")
        if seen is None:
            return None
        if seen["fingerprint"] != _fingerprint(kind, dataset_id, dict(body)):
            raise IdempotencyConflict(key, seen["taskId"])
        return ClaroTask.from_doc(_need(unit, TASKS, seen["taskId"]))

    def get(self, account_id: str, dataset_id: str, task_id: str) -> ClaroTask:
        """``GET /datasets/{datasetId}/tasks/{taskId}``.

        Raises:
            DatasetNotFound, TaskNotFound (also for another account's task, or a task
            under another dataset's path).
        """
        with self.store.unit() as unit:
            self._dataset(unit, account_id, dataset_id)
            return self._task(unit, task_id, account_id, dataset_id)

    def status(self, account_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        """The documented ``GET`` response body, estimated completion judged at store time.

        Raises:
            DatasetNotFound, TaskNotFound.
        """
        with self.store.unit() as unit:
            self._dataset(unit, account_id, dataset_id)
            return status_response(self._task(unit, task_id, account_id, dataset_id), unit.now)

    def check_dataset(self, account_id: str, dataset_id: str) -> None:
        """Raise :class:`DatasetNotFound` unless ``account_id`` has ``dataset_id``."""
        with self.store.unit() as unit:
            self._dataset(unit, account_id, dataset_id)

    def cancel(self, account_id: str, dataset_id: str, task_id: str) -> ClaroTask:
        """``DELETE /datasets/{datasetId}/tasks/{taskId}``: cancel a queued or processing task.

        Raises:
            DatasetNotFound, TaskNotFound, TaskNotCancellable (already completed, failed
            or cancelled; carries ``current_status``).  Nothing changed.
        """
        with self.store.unit() as unit:
            self._dataset(unit, account_id, dataset_id)
            task = self._task(unit, task_id, account_id, dataset_id)
            return self._finish(unit, task, ClaroEvent.CANCEL)

    # -- the worker's operations ------------------------------------------------------

    def start(self, task_id: str) -> ClaroTask:
        """A worker picks the task up: ``queued -> processing``; renews the lease.

        Raises:
            TaskNotFound, IllegalTransition (not queued).  Nothing changed.
        """
        with self.store.unit() as unit:
            task = self._task(unit, task_id)
            status = CLARO_TASK.fire(task.status, ClaroEvent.START)
            self.locks.renew_in(unit, task.dataset_id, task.lease_token)
            task = attrs.evolve(task, status=status, started_at=unit.now)
            unit.put(TASKS, task_id, task.to_doc())
            return task

    def targets(self, task_id: str) -> Iterator[Target]:
        """The task's targets in order: what a worker processes and records by index.

        Bulk: the target cells, row-major.  New rows: one target per row to create.

        Raises:
            TaskNotFound.
        """
        with self.store.unit() as unit:
            task = self._task(unit, task_id)
            grid = self._grid(unit, task.dataset_id)
        selection = task.selection
        if selection is None:
            return (Target(i, self._new_row_id(task, i)) for i in range(task.total))
        cells = selection.resolve(grid).cells()
        return (
            Target(i, row, column, grid.cell_id(row, column))
            for i, (row, column) in enumerate(cells)
        )

    def record(
        self,
        task_id: str,
        *,
        succeeded: Collection[int] = (),
        failed: Collection[int] = (),
    ) -> ClaroTask:
        """Record a batch of cell outcomes of a bulk task, by target index.

        Raises:
            TaskNotFound; IllegalTransition (not processing); ValidationError (a new-rows
            task, an index out of range, given twice, or already recorded).  Nothing
            changed.
        """
        with self.store.unit() as unit:
            task = self._task(unit, task_id)
            status = CLARO_TASK.fire(task.status, ClaroEvent.RECORD)
            if task.type is not TaskType.BULK_PROCESSING:
                raise ValidationError("A new-rows task records rows: use record_rows()")
            recorded = self._recorded_targets(unit, task)
            with self._cache_lock:
                succeeded, failed = recorded.check([succeeded, failed])
            self.locks.renew_in(unit, task.dataset_id, task.lease_token)
            unit.put(BATCHES, f"{task_id}/{task.batches:08d}",
                     [encode_group(succeeded), encode_group(failed)])  # fmt: skip
            task = attrs.evolve(
                task,
                status=status,
                completed=task.completed + len(succeeded) + len(failed),
                successful_cells=task.successful_cells + len(succeeded),
                failed_cells=task.failed_cells + len(failed),
                batches=task.batches + 1,
            )
            unit.put(TASKS, task_id, task.to_doc())
        self._remember(task, [succeeded, failed])
        return task

    def record_rows(self, task_id: str, rows: Iterable[RowOutcome]) -> ClaroTask:
        """Record a batch of created rows of a new-rows task.

        Each row's cells (one per dataset column) count as processed; those in
        ``failed_columns`` as failed, the others as successful.

        Raises:
            TaskNotFound; IllegalTransition (not processing); ValidationError (a bulk
            task, an index out of range, repeated, already recorded, or an unknown
            column).  Nothing changed.
        """
        rows = list(rows)
        with self.store.unit() as unit:
            task = self._task(unit, task_id)
            status = CLARO_TASK.fire(task.status, ClaroEvent.RECORD)
            if task.type is not TaskType.NEW_ROWS:
                raise ValidationError("A bulk task records cells: use record()")
            recorded = self._recorded_targets(unit, task)
            with self._cache_lock:
                (indices,) = recorded.check([[r.index for r in rows]])
            grid = self._grid(unit, task.dataset_id)
            columns = grid.column_ids
            unknown = sorted({c for r in rows for c in r.failed_columns} - set(columns))
            if unknown:
                raise ValidationError(f"Unknown column(s): {', '.join(unknown)}", field="failed")
            failed = sum(len(r.failed_columns) for r in rows)
            self.locks.renew_in(unit, task.dataset_id, task.lease_token)
            unit.put(BATCHES, f"{task_id}/{task.batches:08d}",
                     [[r.index, sorted(r.failed_columns)] for r in rows])  # fmt: skip
            task = attrs.evolve(
                task,
                status=status,
                completed=task.completed + len(indices),
                successful_cells=task.successful_cells + len(rows) * len(columns) - failed,
                failed_cells=task.failed_cells + failed,
                batches=task.batches + 1,
            )
            unit.put(TASKS, task_id, task.to_doc())
        self._remember(task, [indices])
        return task

    def complete(self, task_id: str) -> ClaroTask:
        """The worker finished: ``processing -> completed`` once every target is recorded.

        Releases the dataset, applies the outcomes, writes the webhook notification.

        Raises:
            TaskNotFound, IllegalTransition (not processing, or targets left: guard
            ``all_recorded``).  Nothing changed.
        """
        with self.store.unit() as unit:
            return self._finish(unit, self._task(unit, task_id), ClaroEvent.COMPLETE)

    def fail(self, task_id: str, reason: str = "worker_failed") -> ClaroTask:
        """The worker gave up: ``queued|processing -> failed`` with ``reason``.

        Raises:
            TaskNotFound, IllegalTransition (already ended).  Nothing changed.
        """
        with self.store.unit() as unit:
            return self._finish(unit, self._task(unit, task_id), ClaroEvent.FAIL, reason)

    # -- inside a unit ----------------------------------------------------------------

    def _finish(
        self, unit: Unit, task: ClaroTask, event: ClaroEvent, reason: str | None = None
    ) -> ClaroTask:
        """Fire a terminal event, release the lease, apply outcomes, notify: one unit."""
        status = CLARO_TASK.fire(task.status, event, task.progress)
        now = unit.now
        stamps: dict[ClaroStatus, dict[str, Any]] = {
            ClaroStatus.COMPLETED: {"completed_at": now},
            ClaroStatus.CANCELLED: {"cancelled_at": now},
            ClaroStatus.FAILED: {"failed_at": now, "failure_reason": reason},
        }
        stamp = stamps[status]
        task = attrs.evolve(task, status=status, **stamp)
        unit.put(TASKS, task.task_id, task.to_doc())
        self.locks.release_in(unit, task.dataset_id, task.lease_token)
        self._apply(unit, task)
        with self._cache_lock:  # an ended task records nothing more
            self._recorded.pop(task.task_id, None)
        if task.webhook_id is not None and status is not ClaroStatus.CANCELLED:
            webhook = Webhook.from_doc(task.webhook_id, _need(unit, WEBHOOKS, task.webhook_id))
            record = OutboxRecord.for_payload(
                webhook, task.task_id, webhook_payload(task), format_instant(now)
            )
            unit.put(OUTBOX, task.task_id, record.to_doc())
        return task

    def _apply(self, unit: Unit, task: ClaroTask) -> None:
        """Write an ended task's outcomes into its dataset (one new grid version)."""
        if task.batches == 0:
            return
        meta = _need(unit, DATASETS, task.dataset_id)
        grid = self._fresh_grid(unit, task.dataset_id)
        batches = [_need(unit, BATCHES, f"{task.task_id}/{n:08d}") for n in range(task.batches)]
        selection = task.selection
        if selection is None:
            created = sorted((index, set(failed)) for b in batches for index, failed in b)
            columns = grid.column_ids
            for index, failed in created:
                row_id = self._new_row_id(task, index)
                grid.add_rows([row_id], filled=True)
                for column in failed:
                    if column in columns:
                        grid.set_filled(row_id, column, False)
        else:
            succeeded = {i for ok, _ in batches for i in decode_group(ok)}
            cells = list(selection.resolve(grid).cells())
            for index in sorted(succeeded):
                row_id, column_id = cells[index]
                grid.set_filled(row_id, column_id, True)
        self._put_grid(unit, task.dataset_id, meta["accountId"], Category(meta["category"]), grid)

    def _settle_expired(self, unit: Unit, dataset_id: str) -> None:
        """Fail the task whose lease on ``dataset_id`` lapsed, and free the dataset."""
        lease = self.locks.lease_in(unit, dataset_id)
        if lease is None or lease.is_live(unit.now):
            return
        task = ClaroTask.from_doc(_need(unit, TASKS, lease.holder_task_id))
        if not task.is_terminal:
            self._finish(unit, task, ClaroEvent.FAIL, LEASE_EXPIRED)

    def _recorded_targets(self, unit: Unit, task: ClaroTask) -> RecordedTargets:
        """The task's recorded targets: a per-task cache, caught up from the store when
        another process (or a race between threads) recorded batches it has not seen."""
        with self._cache_lock:
            recorded = self._recorded.get(task.task_id)
            if recorded is None or recorded.batches > task.batches:
                recorded = self._recorded[task.task_id] = RecordedTargets(task.total)
            if recorded.batches == task.batches:
                return recorded
            for n in range(recorded.batches, task.batches):
                batch = _need(unit, BATCHES, f"{task.task_id}/{n:08d}")
                if task.type is TaskType.NEW_ROWS:
                    recorded.mark([[index for index, _ in batch]])
                else:
                    recorded.mark([decode_group(group) for group in batch])
            recorded.batches = task.batches
            return recorded

    def _remember(self, task: ClaroTask, groups: list[Sequence[int]]) -> None:
        """Mark a committed batch in the cache, unless a catch-up already did."""
        with self._cache_lock:
            recorded = self._recorded.get(task.task_id)
            if recorded is not None and recorded.batches == task.batches - 1:
                recorded.mark(groups)
                recorded.batches = task.batches

    def _new_row_id(self, task: ClaroTask, index: int) -> str:
        return f"row_{task.task_id.removeprefix('task_')[:8]}_{index:05d}"

    def _dataset(self, unit: Unit, account_id: str, dataset_id: str) -> Any:
        meta = unit.get(DATASETS, dataset_id)
        if meta is None or meta["accountId"] != account_id:
            raise DatasetNotFound(dataset_id)
        return meta

    def _task(
        self,
        unit: Unit,
        task_id: str,
        account_id: str | None = None,
        dataset_id: str | None = None,
    ) -> ClaroTask:
        doc = unit.get(TASKS, task_id)
        if doc is None:
            raise TaskNotFound(task_id)
        task = ClaroTask.from_doc(doc)
        if account_id is not None and task.account_id != account_id:
            raise TaskNotFound(task_id)
        if dataset_id is not None and task.dataset_id != dataset_id:
            raise TaskNotFound(task_id)
        return task

    def _webhook(self, unit: Unit, account_id: str, webhook_id: str) -> Webhook:
        doc = unit.get(WEBHOOKS, webhook_id)
        if doc is None or doc["accountId"] != account_id:
            raise WebhookNotFound(webhook_id)
        return Webhook.from_doc(webhook_id, doc)

    def _grid(self, unit: Unit, dataset_id: str) -> Grid:
        """The dataset's grid as this unit sees it, shared read-only from a cache.

        Versions are unique per write (never reused, even by a unit that rolled back), so
        a cached grid is the right one exactly when its version matches.
        """
        version: str = _need(unit, DATASETS, dataset_id)["version"]
        with self._cache_lock:
            cached = self._grids.get(dataset_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        grid = self._fresh_grid(unit, dataset_id)
        with self._cache_lock:
            self._grids[dataset_id] = (version, grid)
        return grid

    def _fresh_grid(self, unit: Unit, dataset_id: str) -> Grid:
        """A private, mutable copy of the dataset's grid."""
        return Grid.load(_need(unit, GRIDS, dataset_id))

    def _put_grid(
        self,
        unit: Unit,
        dataset_id: str,
        account_id: str,
        category: Category,
        grid: Grid,
    ) -> None:
        unit.put(GRIDS, dataset_id, grid.dump())
        unit.put(DATASETS, dataset_id, {
            "accountId": account_id, "category": category.value, "version": uuid.uuid4().hex,
        })  # fmt: skip
