"""A naive model of the Claro task service and a Hypothesis state machine that holds a
:class:`~taskcore.claro.service.ClaroTasks` on any :class:`~taskcore.store.Store` to it.

Run it against your own store::

    from taskcore.testing.claro import claro_service_machine

    TestMyStoreClaro = claro_service_machine(lambda clock: MyStore(clock=clock)).TestCase

The model (:class:`ClaroModel`) is plain dicts and lists, written from the Claro reference
(the Claro API reference) and docs/claro.md and docs/locks.md, with
no helper shared with the service: datasets keep emptiness as a dict of cells, tasks keep
their status, outcomes and timestamps, the lock holder of a dataset is "its one task that
has not ended", and the outbox is a count per task.

The machine drives the whole service: creates (valid and invalid), reads, cancels, the
worker's start / record / complete / fail, dataset edits, webhooks, another account's
access and clock moves (well inside the lease, whose expiry is tested by example).  Every
refused call is checked to have changed nothing the service shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks, RowOutcome
from taskcore.claro.task import ClaroTask
from taskcore.claro.webhooks import OutboxRecord, verify_signature
from taskcore.clock import Clock, ManualClock
from taskcore.errors import (
    DatasetLocked,
    DatasetNotFound,
    GridIdNotFound,
    IdempotencyConflict,
    IllegalTransition,
    InvalidSelection,
    LeaseLost,
    TaskcoreError,
    TaskNotCancellable,
    TaskNotFound,
    ValidationError,
    WebhookNotFound,
)
from taskcore.ids import SeededIds
from taskcore.locks import Lease
from taskcore.store import MemoryStore, Store
from taskcore.testing._on_store import on_store

__all__ = [
    "ClaroModel",
    "ClaroServiceMachine",
    "ModelDataset",
    "ModelTask",
    "Refusal",
    "claro_service_machine",
]

ACCOUNTS = ("acct_1", "acct_2")
# Dataset -> owner.  acct_1 has two datasets, so a task id under its other dataset's
# path can be tried; acct_2 has one.
DATASETS = {"ds_a": "acct_1", "ds_b": "acct_1", "ds_c": "acct_2"}
LEASE_TTL = timedelta(days=30)
# Clock moves, in seconds: even the deep profile's 200 steps stay far inside LEASE_TTL.
STEPS = (0.25, 1.0, 30.0, 90.0)
# Mostly valid; then the refused kinds: out of range, not whole, not a number.
ROW_COUNTS: tuple[object, ...] = (1, 2, 3) * 4 + (2.0, 0, -1, 10_001, 2.5, "2", True, None)
MAX_COLUMNS = 6
ACTIVE = ("queued", "processing")
T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """What the model expects a refused call to raise: the error type and its fields."""

    error: type[TaskcoreError]
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass
class ModelDataset:
    """A dataset: its owner, rows and columns in order, and which cells are empty."""

    account: str
    rows: list[str]
    columns: list[str]
    empty: dict[tuple[str, str], bool]


@dataclass
class ModelTask:
    """A task as the model sees it.

    ``targets`` are the cells (bulk, row-major in dataset order) or the new row ids
    (new rows); ``outcomes`` maps a recorded target index to True/False (bulk: cell
    succeeded) or to the set of failed columns (new rows).
    """

    task_id: str
    dataset: str
    account: str
    type: str
    targets: list[Any]
    columns: tuple[str, ...]
    created_at: datetime
    webhook: str | None = None
    token: int = 0
    key: str | None = None
    request: tuple[str, dict[str, Any]] | None = None
    status: str = "queued"
    outcomes: dict[int, Any] = field(default_factory=dict)
    successful: int = 0
    failed: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None

    @property
    def total(self) -> int:
        """How many targets the task has."""
        return len(self.targets)

    @property
    def active(self) -> bool:
        """Whether the task has not ended."""
        return self.status in ACTIVE

    @property
    def percentage(self) -> int:
        """``floor(100 * completed / total)``, 100 for nothing to do."""
        return 100 if not self.targets else 100 * len(self.outcomes) // len(self.targets)

    def view(self) -> dict[str, object]:
        """What the service's task must show."""
        return {
            "taskId": self.task_id,
            "datasetId": self.dataset,
            "accountId": self.account,
            "type": self.type,
            "status": self.status,
            "progress": (len(self.outcomes), self.total, self.percentage),
            "results": (
                self.successful + self.failed,
                self.successful,
                self.failed,
                len(self.outcomes) if self.type == "new_rows" else None,
            ),
            "webhookId": self.webhook,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "cancelledAt": self.cancelled_at,
            "failedAt": self.failed_at,
            "failureReason": self.failure_reason,
        }


def service_view(task: ClaroTask) -> dict[str, object]:
    """The fields of the service's task that :meth:`ModelTask.view` predicts."""
    progress, results = task.progress, task.results
    return {
        "taskId": task.task_id,
        "datasetId": task.dataset_id,
        "accountId": task.account_id,
        "type": task.type.value,
        "status": task.status.value,
        "progress": (progress.completed, progress.total, progress.percentage),
        "results": (
            results.processed_cells,
            results.successful_cells,
            results.failed_cells,
            results.new_rows_created,
        ),
        "webhookId": task.webhook_id,
        "createdAt": task.created_at,
        "startedAt": task.started_at,
        "completedAt": task.completed_at,
        "cancelledAt": task.cancelled_at,
        "failedAt": task.failed_at,
        "failureReason": task.failure_reason,
    }


@dataclass
class ClaroModel:
    """The Claro service, as plainly as it can be said.

    ``version`` counts the model's changes, so a reader may cache what it read from the
    service until the next one.
    """

    now: datetime
    datasets: dict[str, ModelDataset] = field(default_factory=dict)
    tasks: dict[str, ModelTask] = field(default_factory=dict)
    webhooks: dict[str, str] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    version: int = 0

    def holder(self, dataset: str) -> str | None:
        """The dataset's one task that has not ended, if any (there is never more)."""
        active = [t.task_id for t in self.tasks.values() if t.dataset == dataset and t.active]
        assert len(active) <= 1, f"model: {dataset} has several live tasks {active}"
        return active[0] if active else None

    # --- checks ----------------------------------------------------------------------

    def dataset_refusal(self, account: str, dataset: str) -> Refusal | None:
        """Another account's dataset, or one that does not exist, is not found."""
        found = self.datasets.get(dataset)
        if found is None or found.account != account:
            return Refusal(DatasetNotFound, {"dataset_id": dataset})
        return None

    def task_refusal(self, account: str, dataset: str, task_id: str) -> Refusal | None:
        """A task read through ``/datasets/{dataset}/tasks/{task_id}``."""
        refused = self.dataset_refusal(account, dataset)
        if refused is not None:
            return refused
        task = self.tasks.get(task_id)
        if task is None or task.account != account or task.dataset != dataset:
            return Refusal(TaskNotFound, {"task_id": task_id})
        return None

    def locked_refusal(self, dataset: str) -> Refusal | None:
        """``DATASET_LOCKED`` naming the holder, while a task has not ended."""
        holder = self.holder(dataset)
        if holder is None:
            return None
        return Refusal(DatasetLocked, {"dataset_id": dataset, "active_task_id": holder})

    def webhook_refusal(self, account: str, webhook: str | None) -> Refusal | None:
        """An unknown webhook, or another account's, is not found."""
        if webhook is not None and self.webhooks.get(webhook) != account:
            return Refusal(WebhookNotFound, {"webhook_id": webhook})
        return None

    def new_rows_refusal(self, body: Mapping[str, Any]) -> Refusal | None:
        """``rowCount`` must be an int in 1..10000 (not a bool, a float such as 2.0, a string)."""
        count = body.get("rowCount")
        if type(count) is not int or not 1 <= count <= 10_000:
            return Refusal(ValidationError, {"field": "rowCount"})
        return None

    def bulk_targets(self, dataset: str, body: Mapping[str, Any]) -> list[Any] | Refusal:
        """The cells a bulk body targets, row-major in dataset order, or the refusal."""
        grid = self.datasets[dataset]
        cells, rows, columns = body.get("cellIds"), body.get("rowIds"), body.get("columnIds")
        if cells is not None and (rows is not None or columns is not None):
            return Refusal(InvalidSelection)
        for name in ("cellIds", "rowIds", "columnIds"):
            if body.get(name) == []:
                return Refusal(InvalidSelection, {"field": name})
        named: set[tuple[str, str]] = set()
        if cells is not None:
            all_cells = {f"{r}:{c}": (r, c) for r in grid.rows for c in grid.columns}
            unknown = [c for c in dict.fromkeys(cells) if c not in all_cells]
            if unknown:
                return Refusal(InvalidSelection, {"field": "cellIds", "unknown_ids": unknown})
            named = {all_cells[c] for c in cells}
        for name, ids, known in (("rowIds", rows, grid.rows), ("columnIds", columns, grid.columns)):
            unknown = [i for i in dict.fromkeys(ids or ()) if i not in known]
            if unknown:
                return Refusal(InvalidSelection, {"field": name, "unknown_ids": unknown})
        only_empty = body.get("processOnlyEmpty", True)
        return [
            (r, c)
            for r in grid.rows
            for c in grid.columns
            if (cells is None or (r, c) in named)
            and (rows is None or r in rows)
            and (columns is None or c in columns)
            and (grid.empty[r, c] or not only_empty)
        ]

    def create_refusal(
        self, account: str, dataset: str, body: Mapping[str, Any], kind: str
    ) -> Refusal | list[Any] | None:
        """docs/claro.md's order: dataset exists -> input valid -> webhook -> unlocked.

        Returns the refusal, or the bulk targets (``None`` for a valid new-rows body).
        """
        refused = self.dataset_refusal(account, dataset)
        if refused is not None:
            return refused
        targets: list[Any] | None = None
        if kind == "new_rows":
            refused = self.new_rows_refusal(body)
        else:
            resolved = self.bulk_targets(dataset, body)
            if isinstance(resolved, Refusal):
                return resolved
            targets = resolved
        if refused is None:
            refused = self.webhook_refusal(account, body.get("webhookId"))
        if refused is None:
            refused = self.locked_refusal(dataset)
        return targets if refused is None else refused

    # --- changes ---------------------------------------------------------------------

    def changed(self) -> None:
        """Note that the service's state moved on."""
        self.version += 1

    def end(self, task: ModelTask, status: str, reason: str | None = None) -> None:
        """End ``task``: stamp it, apply its outcomes, notify its webhook (not on cancel)."""
        task.status = status
        if status == "completed":
            task.completed_at = self.now
        elif status == "cancelled":
            task.cancelled_at = self.now
        else:
            task.failed_at, task.failure_reason = self.now, reason
        grid = self.datasets[task.dataset]
        for index in sorted(task.outcomes):
            outcome = task.outcomes[index]
            if task.type == "bulk_processing":
                if outcome:
                    grid.empty[task.targets[index]] = False
            else:
                row = task.targets[index]
                grid.rows.append(row)
                for column in grid.columns:
                    grid.empty[row, column] = column in outcome
        if task.webhook is not None and status != "cancelled":
            self.outbox[task.task_id] = self.outbox.get(task.task_id, 0) + 1
        self.changed()


@dataclass(frozen=True)
class Observed:
    """Everything the service shows: tasks, grids, outbox, lock holders."""

    tasks: dict[str, ClaroTask]
    grids: dict[str, Grid]
    outbox: list[OutboxRecord]
    holders: dict[str, Lease | None]


def _attempt(call: Callable[[], T]) -> tuple[T | None, TaskcoreError | None]:
    """Run ``call``; return its result, or the taskcore error it raised."""
    try:
        return call(), None
    except TaskcoreError as error:
        return None, error


def _secret(webhook: str) -> str:
    return f"secret-of-{webhook}"


class ClaroServiceMachine(RuleBasedStateMachine):
    """The whole Claro service against :class:`ClaroModel`.

    Subclass it and override :meth:`make_store` (or call :func:`claro_service_machine`)
    to run it on another store.
    """

    tasks: Bundle[Any] = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.clock: ManualClock = ManualClock()
        self.store: Store = self.make_store(self.clock)
        self.service: ClaroTasks = ClaroTasks(self.store, ids=SeededIds(7), lease_ttl=LEASE_TTL)
        self.model: ClaroModel = ClaroModel(now=self.clock.now())
        self.ended: dict[str, ClaroTask] = {}
        self.progress_seen: dict[str, int] = {}
        self._read: tuple[int, dict[str, ClaroTask]] | None = None
        self.webhook_count: int = 0
        self.key_count: int = 0
        self.column_count: int = 0

    def make_store(self, clock: Clock) -> Store:
        """A fresh, empty store on ``clock`` (in memory here; override for another)."""
        return MemoryStore(clock=clock)

    def teardown(self) -> None:
        self.store.close()

    # --- reading the service ---------------------------------------------------------

    def _tasks_now(self) -> dict[str, ClaroTask]:
        """Every task, read once per model version (the model changes with the service;
        a refused call that changed the service anyway is caught by :meth:`_refused`)."""
        if self._read is None or self._read[0] != self.model.version:
            tasks = {
                task_id: self.service.get(task.account, task.dataset, task_id)
                for task_id, task in self.model.tasks.items()
            }
            self._read = (self.model.version, tasks)
        return self._read[1]

    def _observe(self) -> Observed:
        return Observed(
            tasks={
                task_id: self.service.get(task.account, task.dataset, task_id)
                for task_id, task in self.model.tasks.items()
            },
            grids={ds: self.service.dataset(owner, ds) for ds, owner in DATASETS.items()},
            outbox=self.service.outbox(pending_only=False),
            holders={ds: self.service.lease(owner, ds) for ds, owner in DATASETS.items()},
        )

    def _refused(self, refusal: Refusal, call: Callable[[], object]) -> TaskcoreError:
        """Run a call the model refuses: it raises the expected error, changes nothing."""
        before = self._observe()
        result, error = _attempt(call)
        assert error is not None, f"expected {refusal}, got {result!r}"
        note(f"  refused: {error.code} {error}")
        assert refusal.error is type(error), (refusal, error)
        for name, expected in refusal.fields.items():
            actual = getattr(error, name)
            assert expected == (list(actual) if isinstance(actual, tuple) else actual), name
        assert before == self._observe(), "a refused call changed the service"
        return error

    def _check(self, task_id: str, task: ClaroTask | None) -> None:
        """The service's answer for ``task_id`` is the model's task."""
        assert task is not None
        assert self.model.tasks[task_id].view() == service_view(task)

    # --- setting up ------------------------------------------------------------------

    @initialize(data=st.data())
    def datasets_and_webhooks(self, data: st.DataObject) -> None:
        for dataset, account in DATASETS.items():
            rows = [f"r{i}" for i in range(data.draw(st.integers(3, 5), label="rows"))]
            columns = [f"c{i}" for i in range(data.draw(st.integers(2, 4), label="columns"))]
            cells = [(r, c) for r in rows for c in columns]
            empty = data.draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
            grid = Grid(rows, columns, filled=True)
            for (row, column), is_empty in zip(cells, empty, strict=True):
                grid.set_filled(row, column, not is_empty)
            self.service.create_dataset(account, grid, dataset_id=dataset)
            self.model.datasets[dataset] = ModelDataset(
                account, rows, columns, dict(zip(cells, empty, strict=True))
            )
            note(f"{dataset} of {account}: {grid!r}")
        self.column_count = 4
        for account in ACCOUNTS:
            self._register(account)

    def _register(self, account: str) -> None:
        self.webhook_count += 1
        webhook = f"wh_{self.webhook_count}"
        self.service.register_webhook(
            account, f"https://example.com/{webhook}", _secret(webhook), webhook_id=webhook
        )
        self.model.webhooks[webhook] = account

    @rule(account=st.sampled_from(ACCOUNTS))
    def register_webhook(self, account: str) -> None:
        note(f"register a webhook for {account}")
        self._register(account)

    # --- creating tasks --------------------------------------------------------------

    def _webhook_choice(self, data: st.DataObject, account: str) -> dict[str, str]:
        own = sorted(w for w, owner in self.model.webhooks.items() if owner == account)
        others = sorted(w for w, owner in self.model.webhooks.items() if owner != account)
        # Mostly none or the account's own; now and then another's or an unknown one.
        choices = [None] * 4 + own * 2 + others + ["wh_missing"]
        webhook = data.draw(st.sampled_from(choices), label="webhook")
        return {} if webhook is None else {"webhookId": webhook}

    def _account_and_dataset(self, data: st.DataObject) -> tuple[str, str]:
        dataset = data.draw(st.sampled_from([*DATASETS] * 3 + ["ds_missing"]), label="dataset")
        owner = DATASETS.get(dataset, "acct_1")
        # Mostly the owner; now and then the other account, which must see "not found".
        account = data.draw(st.sampled_from([owner] * 6 + list(ACCOUNTS)), label="account")
        return account, dataset

    def _create(
        self, kind: str, account: str, dataset: str, body: dict[str, Any], key: str | None = None
    ) -> object:
        expected = self.model.create_refusal(account, dataset, body, kind)
        note(f"create {kind} on {dataset} as {account}: {body} (key {key})")
        create = self.service.create_new_rows if kind == "new_rows" else self.service.create_bulk
        if isinstance(expected, Refusal):
            self._refused(expected, lambda: create(account, dataset, body, idempotency_key=key))
            return multiple()
        task, error = _attempt(lambda: create(account, dataset, body, idempotency_key=key))
        assert task is not None, error
        note(f"  created {task.task_id}")
        if kind == "new_rows":
            targets: list[Any] = [t.row_id for t in self.service.targets(task.task_id)]
            assert body["rowCount"] == len(targets)
            rows = set(self.model.datasets[dataset].rows)
            assert len(set(targets)) == len(targets)
            assert not rows & set(targets), "a new row id is already a row"
        else:
            assert expected is not None
            targets = expected
            listed = [(t.row_id, t.column_id) for t in self.service.targets(task.task_id)]
            assert targets == listed
        self.model.tasks[task.task_id] = ModelTask(
            task_id=task.task_id,
            dataset=dataset,
            account=account,
            type="new_rows" if kind == "new_rows" else "bulk_processing",
            targets=targets,
            columns=tuple(self.model.datasets[dataset].columns),
            created_at=self.model.now,
            webhook=body.get("webhookId"),
            token=task.lease_token,
            key=key,
            request=(kind, body),
        )
        self.model.changed()
        self._check(task.task_id, task)
        return task.task_id

    def _key(self, data: st.DataObject) -> str | None:
        """Now and then an ``Idempotency-Key`` never used before."""
        if data.draw(st.integers(0, 2), label="key?"):
            return None
        self.key_count += 1
        return f"key-{self.key_count}"

    @rule(target=tasks, data=st.data(), row_count=st.sampled_from(ROW_COUNTS))
    def create_new_rows(self, data: st.DataObject, row_count: object) -> object:
        account, dataset = self._account_and_dataset(data)
        body = {"rowCount": row_count, **self._webhook_choice(data, account)}
        return self._create("new_rows", account, dataset, body, self._key(data))

    @rule(target=tasks, data=st.data())
    def create_bulk(self, data: st.DataObject) -> object:
        account, dataset = self._account_and_dataset(data)
        grid = self.model.datasets.get(dataset, self.model.datasets["ds_a"])
        cells = [f"{r}:{c}" for r in grid.rows for c in grid.columns]
        # Mostly known ids; one time in five a list that may be empty or name unknown ids.
        wrong = data.draw(st.integers(0, 4), label="wrong ids?") == 0 or not cells
        cell_ids = [*cells, "r0:c_missing", "nope"] if wrong else cells
        row_ids = [*grid.rows, "r_missing"] if wrong else grid.rows
        column_ids = [*grid.columns, "c_missing"] if wrong else grid.columns
        size = 0 if wrong else 1
        id_lists = {
            "cellIds": st.lists(st.sampled_from(cell_ids), min_size=size, max_size=4),
            "rowIds": st.lists(st.sampled_from(row_ids), min_size=size, max_size=3),
            "columnIds": st.lists(st.sampled_from(column_ids), min_size=size, max_size=3),
        }
        # The documented modes, and cellIds with rows or columns (refused).
        modes = [(), ("cellIds",), ("rowIds",), ("columnIds",), ("rowIds", "columnIds")] * 3
        modes += [("cellIds", "rowIds"), ("cellIds", "columnIds")]
        mode = data.draw(st.sampled_from(modes), label="mode")
        body: dict[str, Any] = {name: data.draw(id_lists[name], label=name) for name in mode}
        flag = data.draw(st.sampled_from([None, True, False]), label="processOnlyEmpty")
        if flag is not None:
            body["processOnlyEmpty"] = flag
        body.update(self._webhook_choice(data, account))
        return self._create("bulk", account, dataset, body, self._key(data))

    @rule(task_id=tasks, change=st.booleans())
    def replay_a_create(self, task_id: str, change: bool) -> None:
        """The same request under its key returns the original response, whatever the
        task became; another request under it is a conflict.  Neither changes anything."""
        task = self.model.tasks[task_id]
        if task.key is None or task.request is None:
            return
        kind, body = task.request
        create = self.service.create_new_rows if kind == "new_rows" else self.service.create_bulk
        key = task.key
        note(f"replay {task_id} under {key} ({'changed' if change else 'same'} request)")
        if change:
            if kind == "new_rows":
                other = {**body, "rowCount": body["rowCount"] % 3 + 1}
            else:
                other = {**body, "processOnlyEmpty": not body.get("processOnlyEmpty", True)}
            self._refused(
                Refusal(IdempotencyConflict, {"task_id": task_id, "key": key}),
                lambda: create(task.account, task.dataset, other, idempotency_key=key),
            )
            return
        before = self._observe()
        again = create(task.account, task.dataset, body, idempotency_key=key)
        assert before == self._observe(), "a replay changed the service"
        original = service_view(again)
        assert (task_id, "queued", (0, task.total, 100 if not task.total else 0)) == (
            original["taskId"],
            original["status"],
            original["progress"],
        )
        assert (
            original["startedAt"],
            original["completedAt"],
            original["failedAt"],
        ) == (None, None, None)

    # --- the user's reads and cancels ------------------------------------------------

    @rule(task_id=tasks)
    def get(self, task_id: str) -> None:
        task = self.model.tasks[task_id]
        note(f"get {task_id}")
        self._check(task_id, self.service.get(task.account, task.dataset, task_id))

    @rule(task_id=tasks)
    def cancel(self, task_id: str) -> None:
        task = self.model.tasks[task_id]
        note(f"cancel {task_id} ({task.status})")
        if not task.active:
            refusal = Refusal(TaskNotCancellable, {"current_status": task.status})
            self._refused(refusal, lambda: self.service.cancel(task.account, task.dataset, task_id))
            return
        cancelled = self.service.cancel(task.account, task.dataset, task_id)
        self.model.end(task, "cancelled")
        self._check(task_id, cancelled)

    @rule(task_id=tasks, data=st.data())
    def read_through_another_path(self, task_id: str, data: st.DataObject) -> None:
        """Another account, or another dataset's path: not found, nothing changed."""
        task = self.model.tasks[task_id]
        account = data.draw(st.sampled_from(ACCOUNTS), label="account")
        dataset = data.draw(st.sampled_from(sorted(DATASETS)), label="dataset")
        if (account, dataset) == (task.account, task.dataset):
            account = next(a for a in ACCOUNTS if a != task.account)
        refusal = self.model.task_refusal(account, dataset, task_id)
        assert refusal is not None
        note(f"get/cancel {task_id} as {account} under {dataset}: {refusal.error.__name__}")
        self._refused(refusal, lambda: self.service.get(account, dataset, task_id))
        self._refused(refusal, lambda: self.service.cancel(account, dataset, task_id))

    @rule()
    def an_unknown_task_is_not_found(self) -> None:
        missing = Refusal(TaskNotFound, {"task_id": "task_missing"})
        self._refused(missing, lambda: self.service.get("acct_1", "ds_a", "task_missing"))
        self._refused(missing, lambda: self.service.start("task_missing"))
        self._refused(missing, lambda: self.service.fail("task_missing", token=1))

    # --- the worker ------------------------------------------------------------------

    def _live(self, *statuses: str) -> list[str]:
        return sorted(t.task_id for t in self.model.tasks.values() if t.status in statuses)

    def _start(self, task_id: str) -> None:
        task = self.model.tasks[task_id]
        note(f"start {task_id} ({task.status})")
        if task.status != "queued":
            self._refused(
                Refusal(IllegalTransition, {"state": task.status, "event": "start"}),
                lambda: self.service.start(task_id),
            )
            return
        started = self.service.start(task_id)
        task.status, task.started_at = "processing", self.model.now
        self.model.changed()
        self._check(task_id, started)

    @rule(task_id=tasks)
    def start(self, task_id: str) -> None:
        self._start(task_id)

    @precondition(lambda self: bool(self._live("queued")))
    @rule(data=st.data())
    def start_a_queued_task(self, data: st.DataObject) -> None:
        self._start(data.draw(st.sampled_from(self._live("queued")), label="task"))

    def _record_refusal(self, task: ModelTask, indices: list[int]) -> Refusal | None:
        if task.status != "processing":
            return Refusal(IllegalTransition, {"state": task.status, "event": "record"})
        if len(set(indices)) != len(indices):
            return Refusal(ValidationError)
        if any(not 0 <= i < task.total or i in task.outcomes for i in indices):
            return Refusal(ValidationError)
        return None

    def _record(self, task_id: str, outcomes: dict[int, Any] | list[tuple[int, Any]]) -> None:
        """Record ``(index, outcome)`` pairs (a list may repeat an index)."""
        task = self.model.tasks[task_id]
        pairs = list(outcomes.items()) if isinstance(outcomes, dict) else outcomes
        indices = [i for i, _ in pairs]
        note(f"record on {task_id} ({task.type}, {task.status}): {pairs}")
        if task.type == "bulk_processing":
            ok = [i for i, good in pairs if good]
            bad = [i for i, good in pairs if not good]

            def call() -> ClaroTask:
                return self.service.record(task_id, token=task.token, succeeded=ok, failed=bad)

            wrong_kind = lambda: self.service.record_rows(task_id, [], token=task.token)  # noqa: E731
        else:
            rows = [RowOutcome(i, failed) for i, failed in pairs]

            def call() -> ClaroTask:
                return self.service.record_rows(task_id, rows, token=task.token)

            wrong_kind = lambda: self.service.record(task_id, token=task.token)  # noqa: E731
        if task.status == "processing":
            # A bulk task records cells and a new-rows task rows: the other is refused.
            self._refused(Refusal(ValidationError), wrong_kind)
        refusal = self._record_refusal(task, indices)
        unknown = {c for i, failed in pairs if task.type == "new_rows" for c in failed}
        if refusal is None and unknown - set(task.columns):
            refusal = Refusal(ValidationError, {"field": "failed_columns"})
        if refusal is not None:
            self._refused(refusal, call)
            return
        recorded = call()
        for index, outcome in pairs:
            task.outcomes[index] = outcome
            if task.type == "bulk_processing":
                task.successful += bool(outcome)
                task.failed += not outcome
            else:
                task.failed += len(outcome)
                task.successful += len(task.columns) - len(outcome)
        self.model.changed()
        self._check(task_id, recorded)

    def _outcome(self, task: ModelTask, *, unknown: bool) -> st.SearchStrategy[Any]:
        """A target's outcome: succeeded or not (bulk), the failed columns (new rows;
        with ``unknown``, now and then a column the dataset does not have)."""
        if task.type == "bulk_processing":
            return st.booleans()
        if not task.columns:
            return st.just(frozenset())
        known = st.frozensets(st.sampled_from(task.columns), max_size=2)
        if not unknown:
            return known
        return known | known | st.just(frozenset({"c_missing"}))

    @rule(task_id=tasks, data=st.data())
    def record(self, task_id: str, data: st.DataObject) -> None:
        """A batch of target indices: mostly fresh ones, sometimes out of range,
        repeated or already recorded."""
        task = self.model.tasks[task_id]
        left = [i for i in range(task.total) if i not in task.outcomes]
        if left and data.draw(st.integers(0, 3), label="fresh?") > 0:
            indices = data.draw(st.lists(st.sampled_from(left), unique=True, max_size=4))
        else:
            indices = data.draw(st.lists(st.integers(-1, task.total), max_size=4))
        outcome = self._outcome(task, unknown=True)
        pairs = [(i, data.draw(outcome, label=f"outcome {i}")) for i in indices]
        self._record(task_id, pairs)

    @precondition(lambda self: bool(self._processing()))
    @rule(data=st.data(), kind=st.sampled_from(["out_of_range", "repeated", "again", "column"]))
    def record_a_bad_batch(self, data: st.DataObject, kind: str) -> None:
        """A processing task's batch that names a target out of range, twice, one already
        recorded, or (new rows) an unknown column: refused as a whole."""
        task = data.draw(st.sampled_from(self._processing()), label="task")
        fresh = [i for i in range(task.total) if i not in task.outcomes][:2]
        indices = {
            "out_of_range": [*fresh, data.draw(st.sampled_from([-1, task.total]))],
            "repeated": [*fresh, *fresh[:1]] if fresh else [task.total, task.total],
            "again": [*fresh, *sorted(task.outcomes)[:1]] if task.outcomes else [-1],
            "column": fresh or [task.total],
        }[kind]
        if task.type == "new_rows" and kind == "column":
            pairs = [(i, frozenset({"c_missing"})) for i in indices]
        else:
            pairs = [(i, data.draw(self._outcome(task, unknown=False))) for i in indices]
        self._record(task.task_id, pairs)

    @precondition(lambda self: any(len(t.outcomes) < t.total for t in self._processing()))
    @rule(data=st.data())
    def record_everything_left(self, data: st.DataObject) -> None:
        open_tasks = [t for t in self._processing() if len(t.outcomes) < t.total]
        task = data.draw(st.sampled_from(open_tasks), label="task")
        outcome = self._outcome(task, unknown=False)
        left = [i for i in range(task.total) if i not in task.outcomes]
        self._record(task.task_id, {i: data.draw(outcome) for i in left})

    def _processing(self) -> list[ModelTask]:
        return [self.model.tasks[t] for t in self._live("processing")]

    def _complete(self, task_id: str) -> None:
        task = self.model.tasks[task_id]
        note(f"complete {task_id} ({task.status}, {len(task.outcomes)}/{task.total})")
        if task.status != "processing" or len(task.outcomes) < task.total:
            self._refused(
                Refusal(IllegalTransition, {"state": task.status, "event": "complete"}),
                lambda: self.service.complete(task_id, token=task.token),
            )
            return
        completed = self.service.complete(task_id, token=task.token)
        self.model.end(task, "completed")
        self._check(task_id, completed)

    @rule(task_id=tasks)
    def complete(self, task_id: str) -> None:
        self._complete(task_id)

    @precondition(lambda self: any(len(t.outcomes) == t.total for t in self._processing()))
    @rule(data=st.data())
    def complete_a_finished_task(self, data: st.DataObject) -> None:
        ready = [t.task_id for t in self._processing() if len(t.outcomes) == t.total]
        self._complete(data.draw(st.sampled_from(ready), label="task"))

    @rule(task_id=tasks, reason=st.sampled_from([None, "model_error", "timeout"]))
    def fail(self, task_id: str, reason: str | None) -> None:
        task = self.model.tasks[task_id]
        note(f"fail {task_id} ({task.status}) reason={reason}")

        def call() -> ClaroTask:
            if reason is None:
                return self.service.fail(task_id, token=task.token)
            return self.service.fail(task_id, reason, token=task.token)

        if not task.active:
            self._refused(Refusal(IllegalTransition, {"state": task.status, "event": "fail"}), call)
            return
        failed = call()
        self.model.end(task, "failed", reason or "worker_failed")
        self._check(task_id, failed)

    @rule(task_id=tasks, data=st.data())
    def a_write_with_another_token_is_refused(self, task_id: str, data: st.DataObject) -> None:
        """A worker write carrying a token that is not the task's: ``LEASE_LOST``."""
        task = self.model.tasks[task_id]
        token = data.draw(st.sampled_from([task.token - 1, task.token + 1, 0]), label="token")
        note(f"write on {task_id} ({task.status}) with token {token} (task's: {task.token})")
        refusal = Refusal(LeaseLost, {"reason": "wrong_token", "token": token})
        self._refused(refusal, lambda: self.service.complete(task_id, token=token))
        self._refused(refusal, lambda: self.service.fail(task_id, token=token))
        self._refused(refusal, lambda: self.service.record(task_id, token=token))

    # --- dataset edits ---------------------------------------------------------------

    def _edit(
        self,
        account: str,
        dataset: str,
        call: Callable[[], None],
        grid_refusal: Refusal | None,
        change: Callable[[ModelDataset], None],
    ) -> None:
        refusal = self.model.dataset_refusal(account, dataset) or self.model.locked_refusal(dataset)
        refusal = refusal or grid_refusal
        if refusal is not None:
            self._refused(refusal, call)
            return
        call()
        change(self.model.datasets[dataset])
        self.model.changed()

    @rule(data=st.data())
    def add_column(self, data: st.DataObject) -> None:
        account, dataset = self._account_and_dataset(data)
        grid = self.model.datasets.get(dataset)
        existing = [] if grid is None else grid.columns
        if grid is not None and len(grid.columns) >= MAX_COLUMNS:
            column = data.draw(st.sampled_from(existing), label="column")
        else:
            self.column_count += 1
            column = data.draw(st.sampled_from([f"c{self.column_count}", *existing]))
        note(f"add column {column} to {dataset} as {account}")
        taken = Refusal(ValidationError, {"field": "columnId"}) if column in existing else None

        def change(grid: ModelDataset) -> None:
            grid.columns.append(column)
            grid.empty.update({(r, column): True for r in grid.rows})

        self._edit(
            account,
            dataset,
            lambda: self.service.add_column(account, dataset, column),
            taken,
            change,
        )

    @rule(data=st.data())
    def remove_column(self, data: st.DataObject) -> None:
        account, dataset = self._account_and_dataset(data)
        grid = self.model.datasets.get(dataset)
        existing = [] if grid is None else grid.columns
        column = data.draw(st.sampled_from([*existing, "c_missing"]), label="column")
        note(f"remove column {column} from {dataset} as {account}")
        missing = None if column in existing else Refusal(GridIdNotFound)

        def change(grid: ModelDataset) -> None:
            grid.columns.remove(column)
            for row in grid.rows:
                del grid.empty[row, column]

        self._edit(
            account,
            dataset,
            lambda: self.service.remove_column(account, dataset, column),
            missing,
            change,
        )

    @rule(data=st.data(), filled=st.booleans())
    def edit_cell(self, data: st.DataObject, filled: bool) -> None:
        account, dataset = self._account_and_dataset(data)
        grid = self.model.datasets.get(dataset)
        rows = [] if grid is None else grid.rows
        columns = [] if grid is None else grid.columns
        row = data.draw(st.sampled_from([*rows, "r_missing"]), label="row")
        column = data.draw(st.sampled_from([*columns, "c_missing"]), label="column")
        note(f"edit {row}:{column} of {dataset} as {account}: filled={filled}")
        missing = None if row in rows and column in columns else Refusal(GridIdNotFound)

        def change(grid: ModelDataset) -> None:
            grid.empty[row, column] = not filled

        self._edit(
            account,
            dataset,
            lambda: self.service.edit_cell(account, dataset, row, column, filled=filled),
            missing,
            change,
        )

    # --- time ------------------------------------------------------------------------

    @rule(seconds=st.sampled_from(STEPS))
    def time_passes(self, seconds: float) -> None:
        note(f"time passes: {seconds}s")
        self.model.now = self.clock.advance(seconds)

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def every_task_is_the_models(self) -> None:
        for task_id, task in self._tasks_now().items():
            assert self.model.tasks[task_id].view() == service_view(task)

    @invariant()
    def a_dataset_is_locked_iff_it_has_a_task_that_has_not_ended(self) -> None:
        live: dict[str, list[str]] = {ds: [] for ds in DATASETS}
        for task in self._tasks_now().values():
            if not task.is_terminal:
                live[task.dataset_id].append(task.task_id)
        for dataset in DATASETS:
            assert len(live[dataset]) <= 1, live
            holder = self.service.lease(DATASETS[dataset], dataset)
            expected = live[dataset][0] if live[dataset] else None
            assert expected == (None if holder is None else holder.holder_task_id)
            assert self.model.holder(dataset) == expected

    @invariant()
    def ended_tasks_never_change(self) -> None:
        for task_id, task in self._tasks_now().items():
            if task.is_terminal:
                assert self.ended.setdefault(task_id, task) == task

    @invariant()
    def progress_never_decreases(self) -> None:
        for task_id, task in self._tasks_now().items():
            assert self.progress_seen.get(task_id, 0) <= task.progress.completed
            self.progress_seen[task_id] = task.progress.completed

    @invariant()
    def timestamps_are_ordered(self) -> None:
        for task in self._tasks_now().values():
            started = task.started_at or task.created_at
            assert task.created_at <= started
            for ended in (task.completed_at, task.cancelled_at, task.failed_at):
                if ended is not None:
                    assert started <= ended
            if task.completed_at is not None:
                assert task.started_at is not None

    @invariant()
    def results_add_up(self) -> None:
        for task in self._tasks_now().values():
            results = task.results.to_wire()
            assert results["processedCells"] == results["successfulCells"] + results["failedCells"]
            if task.type.value == "bulk_processing":
                assert task.progress.completed == results["processedCells"]

    @invariant()
    def datasets_are_the_models(self) -> None:
        for dataset, grid in self.model.datasets.items():
            actual = self.service.dataset(grid.account, dataset)
            assert (grid.rows, grid.columns) == (list(actual.row_ids), list(actual.column_ids))
            empty = {(r, c): actual.is_empty(r, c) for r in grid.rows for c in grid.columns}
            assert grid.empty == empty

    @invariant()
    def one_outbox_record_per_task_that_completed_or_failed_with_a_webhook(self) -> None:
        records = self.service.outbox(pending_only=False)
        assert self.model.outbox == {r.task_id: 1 for r in records}
        assert len(records) == len({r.task_id for r in records})
        for record in records:
            task = self.model.tasks[record.task_id]
            assert (task.webhook, task.status) == (record.webhook_id, record.payload()["status"])
            assert verify_signature(_secret(record.webhook_id), record.body, record.signature)


def claro_service_machine(
    store_factory: Callable[[Clock], Store],
) -> type[ClaroServiceMachine]:
    """Build the Claro service machine for stores made by ``store_factory``.

    Args:
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        A :class:`ClaroServiceMachine` subclass; its ``TestCase`` runs under pytest.
    """

    return on_store(ClaroServiceMachine, store_factory)
