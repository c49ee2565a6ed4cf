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
- Tasks are kept: a task manager lists a dataset's whole history (no retention is
  implemented).  What one task keeps is bounded: its configuration is a JSON object of
  at most :data:`MAX_CONFIGURATION_BYTES`, its error message at most
  :data:`MAX_MESSAGE_LENGTH` characters.  The dataset's task index
  (:data:`BY_DATASET`) bounds what a listing reads to the visible datasets.

Thread-safe: all state is in the store; each call is one unit of work.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from taskcore.errors import ValidationError
from taskcore.ids import IdFactory, UuidIds, draw_free
from taskcore.keys import composite_key, composite_range, key_parts
from taskcore.store import MemoryStore, Store, Unit
from taskcore.visual_layer.errors import VisualLayerDatasetNotFound, VisualLayerTaskNotFound
from taskcore.visual_layer.lifecycle import VL_TASK, TaskType, VisualLayerEvent, VisualLayerStatus
from taskcore.visual_layer.task import (
    Dataset,
    DatasetStatus,
    SortOrder,
    TaskQuery,
    VisualLayerTask,
    status_message,
)

__all__ = [
    "BY_DATASET",
    "DATASETS",
    "MAX_CONFIGURATION_BYTES",
    "TASKS",
    "FilterOptions",
    "Listing",
    "Shown",
    "VisualLayerTasks",
    "matches",
    "ordered",
    "sort_key",
]

TASKS = "visual_layer.tasks"
"""Store table of tasks, keyed by ``composite_key(task_id)``."""
DATASETS = "visual_layer.datasets"
"""Store table of datasets, keyed by ``composite_key(dataset_id)``."""
BY_DATASET = "visual_layer.by_dataset"
"""Store table indexing tasks by dataset: ``composite_key(dataset_id, task_id)`` -> ``1``."""
ACTIVE = "visual_layer.active"
"""Store table indexing the tasks a worker has to move on (``INITIALIZING`` or
``RUNNING``), keyed like :data:`TASKS`."""
MAX_MESSAGE_LENGTH = 1000
"""The longest error message a worker may give, in characters."""
MAX_CONFIGURATION_BYTES = 64 * 1024
"""The largest configuration a task keeps, in bytes of compact JSON."""

_S, _E = VisualLayerStatus, VisualLayerEvent
_ENDED = frozenset({_S.COMPLETED, _S.FAILED, _S.ABORTED})


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


def _check_user(user: object) -> str:
    if not isinstance(user, str) or not user:
        raise ValidationError("user must be a non-empty string", field="user")
    return user


def sort_key(sort_by: str) -> Callable[[Shown], Any]:
    """The key a listing sorts by for ``sort_by`` (ties are broken by ``task_id``
    separately): ``status`` and ``task_type`` by their wire strings."""
    keys: dict[str, Callable[[Shown], Any]] = {
        "start_time": lambda s: s.task.start_time,
        "status": lambda s: s.task.status.value,
        "task_type": lambda s: s.task.task_type.value,
        "dataset_name": lambda s: s.dataset_name,
        "dataset_id": lambda s: s.task.dataset_id,
        "created_by": lambda s: s.task.created_by,
    }
    return keys[sort_by]


def matches(query: TaskQuery, shown: Shown) -> bool:
    """Whether ``shown`` passes every filter of ``query`` (time bounds inclusive)."""
    task = shown.task
    return (
        (query.dataset_id is None or task.dataset_id == query.dataset_id)
        and (query.dataset_name is None or shown.dataset_name == query.dataset_name)
        and (query.task_type is None or task.task_type is query.task_type)
        and (query.task_status is None or task.status is query.task_status)
        and (query.created_by is None or task.created_by == query.created_by)
        and (query.start_time_from is None or task.start_time >= query.start_time_from)
        and (query.start_time_to is None or task.start_time <= query.start_time_to)
    )


def ordered(query: TaskQuery, shown: Iterable[Shown]) -> list[Shown]:
    """``shown`` in the query's order: its sort field in its order, ties by ``task_id``
    ascending (whatever the order), so pages never overlap or skip."""
    by_id = sorted(shown, key=lambda s: s.task.task_id)
    return sorted(by_id, key=sort_key(query.sort_by), reverse=query.sort_order is SortOrder.DESC)


class VisualLayerTasks:
    """Visual Layer dataset tasks: the Task Manager operations and the worker side.

    Args:
        store: where datasets and tasks live (default: a new
            :class:`~taskcore.store.MemoryStore`).
        ids: task and dataset ids (default: random UUIDs).
    """

    def __init__(self, store: Store | None = None, *, ids: IdFactory | None = None) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds(prefix="") if ids is None else ids

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
        if not isinstance(name, str) or not name:
            raise ValidationError("name must be a non-empty string", field="name")
        users = frozenset(_check_user(u) for u in users)
        with self.store.unit() as unit:
            new_id = self._chosen_id(unit, DATASETS, dataset_id, "dataset_id")
            dataset = Dataset(new_id, name, DatasetStatus.READY, users)
            unit.put(DATASETS, composite_key(dataset.dataset_id), dataset.to_doc())
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
            return shared

    def dataset(self, dataset_id: str) -> Dataset:
        """The dataset ``dataset_id`` (the worker's view).

        Raises:
            VisualLayerDatasetNotFound: no such dataset.
        """
        with self.store.unit(readonly=True) as unit:
            return self._dataset(unit, dataset_id, None)

    # -- reading ------------------------------------------------------------------------

    def _new_id(self, unit: Unit, table: str) -> str:
        return draw_free(table, self.ids, lambda i: unit.get(table, composite_key(i)) is None)

    def _chosen_id(self, unit: Unit, table: str, chosen: str | None, field: str) -> str:
        """``chosen`` when it is a free UUID (lower-case, hyphenated), else a drawn id."""
        if chosen is None:
            return self._new_id(unit, table)
        if not isinstance(chosen, str) or _canonical_uuid(chosen) != chosen:
            raise ValidationError(f"{field} must be a lower-case hyphenated UUID", field=field)
        if unit.get(table, composite_key(chosen)) is not None:
            raise ValidationError(f"{field} {chosen} is taken", field=field)
        return chosen

    def _dataset(self, unit: Unit, dataset_id: object, user: str | None) -> Dataset:
        doc = unit.get(DATASETS, composite_key(dataset_id)) if isinstance(dataset_id, str) else None
        if doc is None or (user is not None and user not in doc["users"]):
            raise VisualLayerDatasetNotFound(str(dataset_id))
        return Dataset.from_doc(doc)

    def _load(
        self, unit: Unit, task_id: object, user: str | None
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

    def _visible(self, unit: Unit, user: str) -> list[Dataset]:
        return [Dataset.from_doc(doc) for _, doc in unit.items(DATASETS) if user in doc["users"]]

    def _shown(self, unit: Unit, datasets: Iterable[Dataset]) -> Iterable[Shown]:
        for dataset in datasets:
            start, stop = composite_range(dataset.dataset_id)
            for key, _ in unit.scan(BY_DATASET, start=start, stop=stop):
                task_id = key_parts(key)[1]
                doc = unit.get(TASKS, composite_key(task_id))
                assert doc is not None  # the index and the task are written together
                yield Shown(VisualLayerTask.from_doc(doc), dataset.name, dataset.status)

    def list(self, user: str, query: TaskQuery | None = None) -> Listing:
        """One page of the tasks ``user`` may see that match ``query``, in its order,
        with the number of all matching tasks.  A page past the end is empty.

        Raises:
            ValidationError: ``user`` is not a non-empty string.
        """
        _check_user(user)
        query = TaskQuery() if query is None else query
        with self.store.unit(readonly=True) as unit:
            datasets = self._visible(unit, user)
            if query.dataset_id is not None:
                datasets = [d for d in datasets if d.dataset_id == query.dataset_id]
            if query.dataset_name is not None:
                datasets = [d for d in datasets if d.name == query.dataset_name]
            found = [s for s in self._shown(unit, datasets) if matches(query, s)]
        page = ordered(query, found)[query.offset : query.offset + query.page_size]
        return Listing(tuple(page), len(found), query.page, query.page_size)

    def filter_options(self, user: str, query: TaskQuery | None = None) -> FilterOptions:
        """The distinct dataset names, dataset ids, task types and creators of the tasks
        ``user`` may see started within the query's time bounds (its other fields are
        ignored), each sorted ascending.

        Raises:
            ValidationError: ``user`` is not a non-empty string.
        """
        _check_user(user)
        query = TaskQuery() if query is None else query
        window = TaskQuery(start_time_from=query.start_time_from, start_time_to=query.start_time_to)
        with self.store.unit(readonly=True) as unit:
            found = [s for s in self._shown(unit, self._visible(unit, user)) if matches(window, s)]
        return FilterOptions(
            dataset_names=tuple(sorted({s.dataset_name for s in found})),
            dataset_ids=tuple(sorted({s.task.dataset_id for s in found})),
            task_types=tuple(sorted({s.task.task_type.value for s in found})),
            created_by=tuple(sorted({s.task.created_by for s in found})),
        )

    # -- changing a task --------------------------------------------------------------

    def _change(
        self,
        task_id: str,
        user: str | None,
        act: Callable[[Unit, VisualLayerTask], VisualLayerTask],
    ) -> Shown:
        with self.store.unit() as unit:
            task, dataset = self._load(unit, task_id, user)
            changed = act(unit, task)
            dataset = _moved(dataset, task, changed)
            unit.put(TASKS, composite_key(task_id), changed.to_doc())
            if changed.status in _ENDED:
                unit.delete(ACTIVE, composite_key(task_id))
            else:
                unit.put(ACTIVE, composite_key(task_id), 1)
            unit.put(DATASETS, composite_key(dataset.dataset_id), dataset.to_doc())
            return Shown(changed, dataset.name, dataset.status)

    def _fired(
        self, unit: Unit, task: VisualLayerTask, event: VisualLayerEvent, **changes: Any
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

        Raises:
            VisualLayerDatasetNotFound: no such dataset, or ``created_by`` may not see it.
            ValidationError: an unknown task type, a configuration that is not a JSON
                object, or a ``task_id`` that is not a UUID or is taken.
            IdCollision: the id factory kept giving ids in use.
            Nothing was created in any of these cases.
        """
        _check_user(created_by)
        if task_type not in TaskType.__members__.values():
            raise ValidationError(f"unknown task type {task_type!r}", field="task_type")
        kind = TaskType(task_type)
        config = dict(configuration or {})
        try:
            text = json.dumps(config, allow_nan=False, separators=(",", ":"))
            if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIGURATION_BYTES:
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
            unit.put(TASKS, composite_key(task_id), task.to_doc())
            unit.put(BY_DATASET, composite_key(dataset.dataset_id, task_id), 1)
            unit.put(ACTIVE, composite_key(task_id), 1)
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
        at most ``limit``.  Reads an index kept with every task write, so the cost
        follows ``limit``, not the history.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        with self.store.unit(readonly=True) as unit:
            return tuple(
                self._load(unit, key_parts(key)[0], None)[0]
                for key, _ in unit.scan(ACTIVE, limit=limit)
            )

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

        Raises:
            VisualLayerTaskNotFound: no such task.
            ValidationError: ``percentage`` is not a whole number in current..100.
            IllegalTransition: the task is not ``RUNNING``.
            The task is unchanged in every case.
        """

        def act(unit: Unit, task: VisualLayerTask) -> VisualLayerTask:
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

        Raises:
            VisualLayerTaskNotFound: no such task.
            ValidationError: the message is empty or longer than
                :data:`MAX_MESSAGE_LENGTH`.
            IllegalTransition: the task is not ``INITIALIZING`` or ``RUNNING``.
            The task is unchanged in every case.
        """
        if (
            not isinstance(error_message, str)
            or not error_message
            or len(error_message) > MAX_MESSAGE_LENGTH
        ):
            raise ValidationError(
                f"error_message must be 1..{MAX_MESSAGE_LENGTH} characters", field="error_message"
            )
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
