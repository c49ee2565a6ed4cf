"""The Visual Layer task service: the Task Manager's user operations (list, filter
options, get, abort, retry) and the worker side (datasets, submit, start, progress,
commit phase, complete, fail), each one unit of work of a
:class:`~taskcore.store.Store`.

:class:`VisualLayerTasks` reads, decides with the pure core (the lifecycle table) and
writes in the same unit; a refused call raises and writes nothing.  Decisions
(docs/visual-layer.md):

- Tenancy: a user (an email, the JWT's subject) sees the tasks of the datasets it is a
  user of, and nothing else: another dataset's task is ``Task not found`` (404) for get,
  abort and retry, and is never listed, counted or offered as a filter value.
- How a task moves its dataset's status: a ``DATASET_CREATION`` makes the dataset
  ``READ_ONLY`` from submit until it completes (then ``READY``); a completed
  ``MEDIA_ADDITION`` leaves it ``PARTIAL_INDEX`` until a ``REINDEX`` completes (then
  ``READY``); a completed ``SNAPSHOT_RESTORE`` makes it ``READY``.  Other types, and
  failed or aborted tasks, leave it as it is.
- Tasks are kept by default: a task manager lists a dataset's whole history.  With
  ``task_retention`` set, a task that ended (completed, failed or aborted) that long ago
  is deleted (its document and its listing row): each transition drops up to
  :data:`PRUNE_PER_CHANGE` such tasks, and :meth:`VisualLayerTasks.prune` drops more.
  What one task keeps is bounded: its configuration is a JSON object of at most
  :data:`MAX_CONFIGURATION_BYTES`, its error message at most :data:`MAX_MESSAGE_LENGTH`
  characters.
- Listing is indexed: each task has a row in :data:`TASK_ROWS` (a
  :class:`~taskcore.store.RowTable`), written in the same unit as the task, and a list
  or the filter options are one filtered, sorted, paged query of the store over the
  datasets the user may see (:data:`MEMBERS`), never a read of every task.

Thread-safe: all state is in the store; each call is one unit of work.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from taskcore.clock import as_span
from taskcore.errors import ValidationError
from taskcore.ids import IdFactory, UuidIds, draw_free
from taskcore.keys import composite_key, composite_range, key_parts
from taskcore.retention import ExpiryIndex
from taskcore.store import Between, Eq, In, MemoryStore, RowsStore, RowsUnit, RowTable
from taskcore.store.rows import Condition
from taskcore.text import is_storable
from taskcore.visual_layer.errors import VisualLayerDatasetNotFound, VisualLayerTaskNotFound
from taskcore.visual_layer.lifecycle import VL_TASK, TaskType, VisualLayerEvent, VisualLayerStatus
from taskcore.visual_layer.task import (
    SORT_FIELDS,
    Dataset,
    DatasetStatus,
    SortOrder,
    TaskQuery,
    VisualLayerTask,
    status_message,
)

__all__ = [
    "DATASETS",
    "ENDED",
    "MAX_CONFIGURATION_BYTES",
    "MEMBERS",
    "PRUNE_PER_CHANGE",
    "TASKS",
    "TASK_ROWS",
    "FilterOptions",
    "Listing",
    "Shown",
    "VisualLayerTasks",
    "valid_user",
]

TASKS = "visual_layer.tasks"
"""Store table of tasks, keyed by ``composite_key(task_id)``."""
DATASETS = "visual_layer.datasets"
"""Store table of datasets, keyed by ``composite_key(dataset_id)``."""
MEMBERS = "visual_layer.members"
"""Store table of who may see what: ``composite_key(user, dataset_id)`` -> ``1``; a scan
of one user's range lists the datasets the user may see."""
TASK_ROWS = RowTable(
    "visual_layer_tasks",
    {
        "dataset_id": str,
        "dataset_name": str,
        "task_type": str,
        "status": str,
        "created_by": str,
        "start_time": int,
    },
    sortable=SORT_FIELDS,
    indexes=[("dataset_id", "start_time")],
)
"""The row table a listing is answered from: one row per task, keyed by ``task_id``,
with what the filters and sorts read (``start_time`` in microseconds since the epoch,
UTC; ``status`` and ``task_type`` as wire strings; the dataset's name, which never
changes, copied in)."""
MAX_MESSAGE_LENGTH = 1000
"""The longest error message a worker may give, in characters."""
MAX_CONFIGURATION_BYTES = 64 * 1024
"""The largest configuration a task keeps, in bytes of compact JSON."""
ENDED = "visual_layer.ended"
"""Store table of the :class:`~taskcore.retention.ExpiryIndex` of when each task ended
(written whether or not the service has a retention, so a retention set or changed
later applies to every ended task)."""
PRUNE_PER_CHANGE = 2
"""How many expired tasks a transition deletes on the side (more than the one it may
end, so a backlog drains)."""

_S, _E = VisualLayerStatus, VisualLayerEvent
_ENDED = frozenset({_S.COMPLETED, _S.FAILED, _S.ABORTED})
_LIVE = frozenset({_S.INITIALIZING.value, _S.RUNNING.value})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@attrs.frozen
class Shown:
    """A task as a user sees it: the task with its dataset's current name and status."""

    task: VisualLayerTask
    dataset_name: str
    dataset_status: DatasetStatus


@attrs.frozen
class Listing:
    """One page of a list: the page's tasks and the number of tasks that match."""

    tasks: tuple[Shown, ...]
    total: int
    page: int
    page_size: int


@attrs.frozen
class FilterOptions:
    """The distinct values of each filter over the visible tasks, sorted ascending."""

    dataset_names: tuple[str, ...]
    dataset_ids: tuple[str, ...]
    task_types: tuple[str, ...]
    created_by: tuple[str, ...]


def _check_text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if not is_storable(value):
        raise ValidationError(f"{field} must be valid Unicode text without NUL", field=field)
    return value


def _check_user(user: object) -> str:
    return _check_text("user", user)


def valid_user(user: object) -> bool:
    """Whether ``user`` is a user name the service accepts (non-empty text, valid
    Unicode, no NUL)."""
    try:
        _check_user(user)
    except ValidationError:
        return False
    return True


def _query(query: object) -> TaskQuery:
    if query is None:
        return TaskQuery()
    if not isinstance(query, TaskQuery):
        raise ValidationError("query must be a TaskQuery (see TaskQuery.build)", field="query")
    return query


def _micros(instant: datetime) -> int:
    """``instant`` as whole microseconds since the epoch (UTC): a sortable integer."""
    return (instant - _EPOCH) // _MICROSECOND


class VisualLayerTasks:
    """Visual Layer dataset tasks: the Task Manager operations and the worker side.

    Args:
        store: where datasets and tasks live (default: a new
            :class:`~taskcore.store.MemoryStore`); a store with row tables
            (:class:`~taskcore.store.RowsStore`: both taskcore stores are).
        ids: task and dataset ids (default: random UUIDs).
        task_retention: how long (seconds, or a ``timedelta``) a task stays after it
            ended; ``None`` (the default) keeps every task.

    Raises:
        ValueError: ``task_retention`` is not positive or longer than ten years.
        TypeError: ``task_retention`` is neither seconds nor a ``timedelta``.
    """

    def __init__(
        self,
        store: RowsStore | None = None,
        *,
        ids: IdFactory | None = None,
        task_retention: timedelta | float | None = None,
    ) -> None:
        self.store: RowsStore = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds(prefix="") if ids is None else ids
        self.task_retention: timedelta | None = (
            None if task_retention is None else as_span(task_retention, "task_retention")
        )
        self._ended = ExpiryIndex(ENDED)

    # -- datasets (the worker side) ---------------------------------------------------

    def add_dataset(
        self, name: str, users: Iterable[str], *, dataset_id: str | None = None
    ) -> Dataset:
        """Add a dataset named ``name`` that ``users`` (emails) may see; ``READY``.

        ``dataset_id`` names it (a UUID; default: drawn by ``ids``).

        Raises:
            ValidationError: an empty name or user, a ``dataset_id`` that is not a UUID
                or names a dataset already.
            IdCollision: the id factory kept giving ids in use; nothing was added.
        """
        _check_text("name", name)
        if isinstance(users, str | bytes):
            raise ValidationError(
                "users must be a collection of emails, not one string", field="users"
            )
        users = frozenset(_check_user(u) for u in users)
        with self.store.unit() as unit:
            new_id = self._chosen_id(unit, DATASETS, dataset_id, "dataset_id")
            dataset = Dataset(new_id, name, DatasetStatus.READY, users)
            unit.put(DATASETS, composite_key(dataset.dataset_id), dataset.to_doc())
            for user in users:
                unit.put(MEMBERS, composite_key(user, dataset.dataset_id), 1)
            return dataset

    def share(self, dataset_id: str, user: str) -> Dataset:
        """Let ``user`` see the dataset (and its tasks).

        Raises:
            VisualLayerDatasetNotFound: no such dataset.
        """
        _check_user(user)
        with self.store.unit() as unit:
            dataset = self._dataset(unit, dataset_id, None)
            shared = attrs.evolve(dataset, users=dataset.users | {user})
            unit.put(DATASETS, composite_key(dataset_id), shared.to_doc())
            unit.put(MEMBERS, composite_key(user, dataset_id), 1)
            return shared

    def dataset(self, dataset_id: str) -> Dataset:
        """The dataset ``dataset_id`` (the worker's view).

        Raises:
            VisualLayerDatasetNotFound: no such dataset.
        """
        with self.store.unit(readonly=True) as unit:
            return self._dataset(unit, dataset_id, None)

    # -- reading ------------------------------------------------------------------------

    def _new_id(self, unit: RowsUnit, table: str) -> str:
        return draw_free(table, self.ids, lambda i: unit.get(table, composite_key(i)) is None)

    def _chosen_id(self, unit: RowsUnit, table: str, chosen: str | None, field: str) -> str:
        """``chosen`` when it is a free UUID (lower-case, hyphenated), else a drawn id."""
        if chosen is None:
            return self._new_id(unit, table)
        if not isinstance(chosen, str) or _canonical_uuid(chosen) != chosen:
            raise ValidationError(f"{field} must be a lower-case hyphenated UUID", field=field)
        if unit.get(table, composite_key(chosen)) is not None:
            raise ValidationError(f"{field} {chosen} is taken", field=field)
        return chosen

    def _dataset(self, unit: RowsUnit, dataset_id: object, user: str | None) -> Dataset:
        doc = unit.get(DATASETS, composite_key(dataset_id)) if isinstance(dataset_id, str) else None
        if doc is None or (user is not None and user not in doc["users"]):
            raise VisualLayerDatasetNotFound(str(dataset_id))
        return Dataset.from_doc(doc)

    def _load(
        self, unit: RowsUnit, task_id: object, user: str | None
    ) -> tuple[VisualLayerTask, Dataset]:
        doc = unit.get(TASKS, composite_key(task_id)) if isinstance(task_id, str) else None
        if doc is None:
            raise VisualLayerTaskNotFound(str(task_id))
        task = VisualLayerTask.from_doc(doc)
        try:
            dataset = self._dataset(unit, task.dataset_id, user)
        except VisualLayerDatasetNotFound:
            raise VisualLayerTaskNotFound(str(task_id)) from None
        return task, dataset

    def get(self, user: str, task_id: str) -> Shown:
        """The task ``task_id`` as ``user`` sees it.

        Raises:
            VisualLayerTaskNotFound: no such task, or its dataset is not ``user``'s.
        """
        _check_user(user)
        with self.store.unit(readonly=True) as unit:
            task, dataset = self._load(unit, task_id, user)
        return Shown(task, dataset.name, dataset.status)

    def _visible(self, unit: RowsUnit, user: str) -> set[str]:
        """The ids of the datasets ``user`` may see: one scan of the user's range of
        :data:`MEMBERS`."""
        start, stop = composite_range(user)
        return {key_parts(key)[1] for key, _ in unit.scan(MEMBERS, start=start, stop=stop)}

    def _where(self, unit: RowsUnit, user: str, query: TaskQuery) -> dict[str, Condition] | None:
        """The row filter of ``query`` over what ``user`` may see, or ``None`` when it
        can match nothing (the dataset asked for is not the user's)."""
        visible = self._visible(unit, user)
        where: dict[str, Condition] = {"dataset_id": In(visible)}
        if query.dataset_id is not None:
            if query.dataset_id not in visible:
                return None
            where["dataset_id"] = Eq(query.dataset_id)
        equal = {
            "dataset_name": query.dataset_name,
            "task_type": None if query.task_type is None else query.task_type.value,
            "status": None if query.task_status is None else query.task_status.value,
            "created_by": query.created_by,
        }
        where.update({column: Eq(value) for column, value in equal.items() if value is not None})
        low, high = query.start_time_from, query.start_time_to
        if low is not None or high is not None:
            where["start_time"] = Between(
                None if low is None else _micros(low), None if high is None else _micros(high)
            )
        return where

    def list(self, user: str, query: TaskQuery | None = None) -> Listing:
        """One page of the tasks ``user`` may see that match ``query``, in its order
        (ties by ``task_id`` ascending), with the number of all matching tasks.  A page
        past the end is empty.

        Cost: one indexed, filtered, sorted and paged query of :data:`TASK_ROWS`, a
        count, and a read of the page's tasks and datasets; never a read of every task.

        Raises:
            ValidationError: ``user`` is not a non-empty string of valid Unicode, or
                ``query`` is not a :class:`~taskcore.visual_layer.task.TaskQuery`.
        """
        _check_user(user)
        query = _query(query)
        with self.store.unit(readonly=True) as unit:
            where = self._where(unit, user, query)
            if where is None:
                return Listing((), 0, query.page, query.page_size)
            keys = unit.select(
                TASK_ROWS,
                where,
                order_by=query.sort_by,
                descending=query.sort_order is SortOrder.DESC,
                offset=query.offset,
                limit=query.page_size,
            )
            total = unit.count(TASK_ROWS, where)
            datasets: dict[str, Dataset] = {}
            page = []
            for task_id in keys:
                doc = unit.get(TASKS, composite_key(task_id))
                assert doc is not None  # the row and the task are written together
                task = VisualLayerTask.from_doc(doc)
                dataset = datasets.get(task.dataset_id)
                if dataset is None:
                    dataset = datasets[task.dataset_id] = self._dataset(unit, task.dataset_id, None)
                page.append(Shown(task, dataset.name, dataset.status))
        return Listing(tuple(page), total, query.page, query.page_size)

    def filter_options(self, user: str, query: TaskQuery | None = None) -> FilterOptions:
        """The distinct dataset names, dataset ids, task types and creators of the tasks
        ``user`` may see started within the query's time bounds (its other fields are
        ignored), each sorted ascending.

        Cost: one indexed ``DISTINCT`` query of :data:`TASK_ROWS`.

        Raises:
            ValidationError: ``user`` is not a non-empty string of valid Unicode, or
                ``query`` is not a :class:`~taskcore.visual_layer.task.TaskQuery`.
        """
        _check_user(user)
        query = _query(query)
        window = TaskQuery(start_time_from=query.start_time_from, start_time_to=query.start_time_to)
        columns = ("dataset_name", "dataset_id", "task_type", "created_by")
        with self.store.unit(readonly=True) as unit:
            where = self._where(unit, user, window)
            assert where is not None  # the window names no dataset
            found = unit.distinct(TASK_ROWS, columns, where)
        return FilterOptions(
            *(tuple(sorted({str(row[i]) for row in found})) for i in range(len(columns)))
        )

    def _write(self, unit: RowsUnit, task: VisualLayerTask, dataset: Dataset) -> None:
        """Store ``task`` and its listing row (:data:`TASK_ROWS`) in ``unit``."""
        unit.put(TASKS, composite_key(task.task_id), task.to_doc())
        unit.put_row(
            TASK_ROWS,
            task.task_id,
            {
                "dataset_id": task.dataset_id,
                "dataset_name": dataset.name,
                "task_type": task.task_type.value,
                "status": task.status.value,
                "created_by": task.created_by,
                "start_time": _micros(task.start_time),
            },
        )

    # -- changing a task --------------------------------------------------------------

    def _change(
        self,
        task_id: str,
        user: str | None,
        act: Callable[[RowsUnit, VisualLayerTask], VisualLayerTask],
    ) -> Shown:
        with self.store.unit() as unit:
            task, dataset = self._load(unit, task_id, user)
            changed = act(unit, task)
            dataset = _moved(dataset, task, changed)
            self._write(unit, changed, dataset)
            unit.put(DATASETS, composite_key(dataset.dataset_id), dataset.to_doc())
            if changed.end_time is not None and task.end_time is None:
                self._ended.add(unit, changed.end_time, task_id)
            if self.task_retention is not None:
                self._prune(unit, PRUNE_PER_CHANGE)
            return Shown(changed, dataset.name, dataset.status)

    def prune(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` tasks that ended ``task_retention`` ago or more (their
        documents and listing rows; datasets are untouched).  Transitions already delete
        a few each; an operator may call this from a scheduler too.  Returns how many
        expiry entries were due (0 when ``task_retention`` is ``None``).
        """
        if self.task_retention is None:
            return 0
        with self.store.unit() as unit:
            return self._prune(unit, limit)

    def _prune(self, unit: RowsUnit, limit: int) -> int:
        assert self.task_retention is not None
        due = self._ended.pop_due(unit, limit, until=unit.now - self.task_retention)
        for task_id in due:
            doc = unit.get(TASKS, composite_key(task_id))
            if doc is None:
                continue
            task = VisualLayerTask.from_doc(doc)
            # A task retried since has no end, or a later one with an entry of its own.
            if task.end_time is not None and task.end_time + self.task_retention <= unit.now:
                unit.delete(TASKS, composite_key(task_id))
                unit.delete_row(TASK_ROWS, task_id)
        return len(due)

    def _fired(
        self, unit: RowsUnit, task: VisualLayerTask, event: VisualLayerEvent, **changes: Any
    ) -> VisualLayerTask:
        status = VL_TASK.fire(task.status, event, task)
        committing = changes.get("in_commit_phase", task.in_commit_phase)
        if status in _ENDED and status is not task.status:
            changes.setdefault("end_time", unit.now)
        return attrs.evolve(
            task,
            status=status,
            status_message=status_message(task.task_type, status, committing),
            **changes,
        )

    def abort(self, user: str, task_id: str) -> Shown:
        """Abort a dataset creation that is ``INITIALIZING`` or ``RUNNING`` outside its
        commit phase: ``ABORTED``, ``end_time`` now, progress kept.

        Raises:
            VisualLayerTaskNotFound: no such task, or not ``user``'s to see.
            TaskNotAbortable: any other task (409); it is unchanged.
        """
        _check_user(user)
        return self._change(task_id, user, lambda unit, t: self._fired(unit, t, _E.ABORT))

    def retry(self, user: str, task_id: str) -> Shown:
        """Retry a failed or aborted dataset creation: ``INITIALIZING`` with the same id,
        configuration and ``start_time``; ``end_time``, ``error_message`` and
        ``progress_percentage`` cleared, the commit phase left.

        Raises:
            VisualLayerTaskNotFound: no such task, or not ``user``'s to see.
            TaskNotRetryable: any other task (400); it is unchanged.
        """
        _check_user(user)
        return self._change(
            task_id,
            user,
            lambda unit, t: self._fired(
                unit,
                t,
                _E.RETRY,
                end_time=None,
                error_message=None,
                progress_percentage=None,
                in_commit_phase=False,
            ),
        )

    # -- the worker side ----------------------------------------------------------------

    def submit(
        self,
        dataset_id: str,
        task_type: TaskType | str,
        created_by: str,
        configuration: Mapping[str, Any] | None = None,
        *,
        task_id: str | None = None,
    ) -> Shown:
        """A task of ``task_type`` on the dataset, initiated by ``created_by`` (a user
        of the dataset): ``INITIALIZING``, ``start_time`` now.  ``task_id`` names it (a
        UUID; default: drawn by ``ids``).

        A refusal creates nothing.

        Raises:
            VisualLayerDatasetNotFound: no such dataset, or ``created_by`` may not see it.
            ValidationError: an unknown task type, a configuration that is not a JSON
                object, or a ``task_id`` that is not a UUID or is taken.
            IdCollision: the id factory kept giving ids in use.
        """
        _check_user(created_by)
        if task_type not in TaskType.__members__.values():
            raise ValidationError(f"unknown task type {task_type!r}", field="task_type")
        kind = TaskType(task_type)
        config = dict(configuration or {})
        try:
            text = json.dumps(config, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
            # Strict UTF-8: a lone surrogate in a key or a value is refused.
            if len(text.encode("utf-8")) > MAX_CONFIGURATION_BYTES:
                raise ValueError("configuration too large")
            config = json.loads(text)
        except (TypeError, ValueError):
            raise ValidationError(
                "configuration must be a JSON object", field="configuration"
            ) from None
        with self.store.unit() as unit:
            dataset = self._dataset(unit, dataset_id, created_by)
            task_id = self._chosen_id(unit, TASKS, task_id, "task_id")
            task = VisualLayerTask(
                task_id=task_id,
                dataset_id=dataset.dataset_id,
                created_by=created_by,
                task_type=kind,
                status=VL_TASK.initial,
                status_message=status_message(kind, VL_TASK.initial, False),
                start_time=unit.now,
                configuration=config,
            )
            dataset = _moved(dataset, None, task)
            self._write(unit, task, dataset)
            unit.put(DATASETS, composite_key(dataset.dataset_id), dataset.to_doc())
            return Shown(task, dataset.name, dataset.status)

    def task(self, task_id: str) -> VisualLayerTask:
        """The task ``task_id`` as a worker sees it (any dataset's).

        Raises:
            VisualLayerTaskNotFound: no such task.
        """
        with self.store.unit(readonly=True) as unit:
            return self._load(unit, task_id, None)[0]

    def active(self, limit: int = 100) -> tuple[VisualLayerTask, ...]:
        """Tasks a worker has to move on (``INITIALIZING`` or ``RUNNING``), by task id,
        at most ``limit``.  One query of the listing rows (:data:`TASK_ROWS`) by status,
        so the cost follows the live tasks and ``limit``, not the history.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        with self.store.unit(readonly=True) as unit:
            keys = unit.select(TASK_ROWS, {"status": In(_LIVE)}, limit=limit)
            return tuple(self._load(unit, task_id, None)[0] for task_id in keys)

    def start(self, task_id: str) -> Shown:
        """A worker starts the task: ``RUNNING``, progress 0.

        Raises:
            VisualLayerTaskNotFound: no such task.
            IllegalTransition: the task is not ``INITIALIZING``; it is unchanged.
        """
        return self._change(
            task_id, None, lambda unit, t: self._fired(unit, t, _E.START, progress_percentage=0)
        )

    def progress(self, task_id: str, percentage: int) -> Shown:
        """A worker reports progress: a whole number 0..100, never less than before.

        A refusal leaves the task unchanged.

        Raises:
            VisualLayerTaskNotFound: no such task.
            ValidationError: ``percentage`` is not a whole number in current..100.
            IllegalTransition: the task is not ``RUNNING``.
        """

        def act(unit: RowsUnit, task: VisualLayerTask) -> VisualLayerTask:
            changed = self._fired(unit, task, _E.PROGRESS)
            low = task.progress_percentage or 0
            if (
                isinstance(percentage, bool)
                or not isinstance(percentage, int)
                or not low <= percentage <= 100
            ):
                raise ValidationError(
                    f"progress must be a whole number in {low}..100", field="progress_percentage"
                )
            return attrs.evolve(changed, progress_percentage=percentage)

        return self._change(task_id, None, act)

    def enter_commit_phase(self, task_id: str) -> Shown:
        """A worker moves a running task into its final commit phase (it can no longer
        be aborted); entering it twice changes nothing more.

        Raises:
            VisualLayerTaskNotFound: no such task.
            IllegalTransition: the task is not ``RUNNING``; it is unchanged.
        """
        return self._change(
            task_id,
            None,
            lambda unit, t: self._fired(unit, t, _E.ENTER_COMMIT, in_commit_phase=True),
        )

    def complete(self, task_id: str) -> Shown:
        """A worker completes the task: ``COMPLETED``, progress 100, ``end_time`` now.

        Raises:
            VisualLayerTaskNotFound: no such task.
            IllegalTransition: the task is not ``RUNNING``; it is unchanged.
        """
        return self._change(
            task_id,
            None,
            lambda unit, t: self._fired(unit, t, _E.COMPLETE, progress_percentage=100),
        )

    def fail(self, task_id: str, error_message: str) -> Shown:
        """A worker fails the task: ``FAILED`` with ``error_message``, ``end_time`` now,
        progress kept.

        A refusal leaves the task unchanged.

        Raises:
            VisualLayerTaskNotFound: no such task.
            ValidationError: the message is empty or longer than
                :data:`MAX_MESSAGE_LENGTH`.
            IllegalTransition: the task is not ``INITIALIZING`` or ``RUNNING``.
        """
        if (
            not isinstance(error_message, str)
            or not error_message
            or len(error_message) > MAX_MESSAGE_LENGTH
        ):
            raise ValidationError(
                f"error_message must be 1..{MAX_MESSAGE_LENGTH} characters", field="error_message"
            )
        _check_text("error_message", error_message)
        return self._change(
            task_id,
            None,
            lambda unit, t: self._fired(unit, t, _E.FAIL, error_message=error_message),
        )


def _canonical_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _moved(dataset: Dataset, before: VisualLayerTask | None, after: VisualLayerTask) -> Dataset:
    """The dataset after its task went from ``before`` (``None``: just submitted) to
    ``after`` (docs/visual-layer.md, "Dataset status")."""
    kind, status = after.task_type, after.status
    new = dataset.status
    if kind is TaskType.DATASET_CREATION and status is _S.INITIALIZING:
        new = DatasetStatus.READ_ONLY
    elif status is _S.COMPLETED and (before is None or before.status is not _S.COMPLETED):
        if kind is TaskType.MEDIA_ADDITION:
            new = DatasetStatus.PARTIAL_INDEX
        elif kind in (TaskType.DATASET_CREATION, TaskType.REINDEX, TaskType.SNAPSHOT_RESTORE):
            new = DatasetStatus.READY
    return dataset if new is dataset.status else attrs.evolve(dataset, status=new)
