"""The Chunkr task service: every documented operation and the worker side, each one
unit of work of a :class:`~taskcore.store.Store`.

:class:`ChunkrTasks` reads a task, decides with the pure core (the lifecycle table,
:meth:`~taskcore.chunkr.configuration.Configuration.merge`) and writes the result in
the same unit; a refused call raises and writes nothing.  Decisions (docs/chunkr.md):

- Tenancy: every user call names the user (the API key's owner).  Another user's task
  is ``Task not found``, as a missing, deleted or expired one is.
- Expiry is judged with the store's clock (``unit.now``) on every call: an expired task
  is ``Task not found`` for every operation, the worker's included.  Expired tasks are
  purged by :meth:`ChunkrTasks.purge` (an operator's sweep) and a few at a time inside
  every create, through an expiry index (:class:`~taskcore.retention.ExpiryIndex`), so
  storage stays bounded by the tasks that have not expired.
- A usage limit (a :class:`~taskcore.quota.Quota` per user, unlimited by default)
  counts creates only; over it, a create is ``Usage limit exceeded`` (429) and counts
  nothing.  An update re-runs a task the user already paid for and is not counted.
- The input's base64 text and the last successful run's output are kept in tables of
  their own (read only when an answer shows them), dropped with the task.

Thread-safe: all state is in the store; each call is one unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from taskcore.cache import BoundedCache
from taskcore.chunkr.configuration import MAX_EXPIRES_IN, Configuration
from taskcore.chunkr.errors import ChunkrTaskNotFound, ConfigurationUnchanged, UsageLimitExceeded
from taskcore.chunkr.lifecycle import CHUNKR_TASK, ChunkrEvent, ChunkrStatus
from taskcore.chunkr.task import ChunkrTask, Output, Previous
from taskcore.chunkr.wire import CreateForm, task_response
from taskcore.errors import QuotaExceeded, ValidationError
from taskcore.ids import IdFactory, UuidIds, draw_free
from taskcore.keys import composite_key, key_parts
from taskcore.quota import Quota, Unlimited
from taskcore.retention import ExpiryIndex
from taskcore.store import MemoryStore, Store, Unit

__all__ = ["FILES", "OUTPUTS", "TASKS", "ChunkrTasks"]

TASKS = "chunkr.tasks"
"""Store table of tasks, keyed by ``composite_key(task_id)``."""
FILES = "chunkr.files"
"""Store table of base64 inputs, keyed like :data:`TASKS`."""
OUTPUTS = "chunkr.outputs"
"""Store table of the last successful run's output per task, keyed like :data:`TASKS`."""
ACTIVE = "chunkr.active"
"""Store table indexing the tasks a worker has to run (``Starting`` or ``Processing``),
keyed like :data:`TASKS`."""
EXPIRY = "chunkr.expiry"
"""Store table of the expiry index (see :class:`~taskcore.retention.ExpiryIndex`)."""
MAX_MESSAGE_LENGTH = 1000
"""The longest failure message a worker may give, in characters."""
_PURGE_BATCH = 8
_QUIET = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_S, _E = ChunkrStatus, ChunkrEvent


def _check_user(user_id: object) -> None:
    """A user call names its user: a non-empty string (``None`` would mean the worker,
    who sees every user's tasks)."""
    if not isinstance(user_id, str) or not user_id:
        raise ValidationError("user_id must be a non-empty string", field="user_id")


class ChunkrTasks:
    """Chunkr parse tasks: create, get, update, cancel, delete, and the worker side.

    Args:
        store: where tasks live (default: a new :class:`~taskcore.store.MemoryStore`).
        ids: task ids (default: random UUIDs).
        usage_limit: counts each user's creates (default: unlimited).
        default_expires_in: seconds a finished task is kept when its configuration has
            no ``expires_in`` (default ``None``: kept until deleted).
        cache_size: how many decoded tasks this instance keeps in memory (a miss only
            costs decoding the stored document again).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        ids: IdFactory | None = None,
        usage_limit: Quota | None = None,
        default_expires_in: int | None = None,
        cache_size: int = 1024,
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds(prefix="") if ids is None else ids
        self.usage_limit: Quota = Unlimited() if usage_limit is None else usage_limit
        if default_expires_in is not None and (
            isinstance(default_expires_in, bool)
            or not isinstance(default_expires_in, int)
            or not 0 <= default_expires_in <= MAX_EXPIRES_IN
        ):
            raise ValueError(
                f"default_expires_in must be a whole number of seconds in 0..{MAX_EXPIRES_IN}"
            )
        self.default_expires_in = default_expires_in
        self._expiry = ExpiryIndex(EXPIRY)
        self._quiet_until = _EPOCH
        self._decoded: BoundedCache[str, tuple[Any, ChunkrTask]] = BoundedCache(cache_size)

    # -- reading ------------------------------------------------------------------------

    def _load(self, unit: Unit, task_id: str, user_id: str | None) -> ChunkrTask:
        """The live task ``task_id`` (of ``user_id`` unless ``None``: the worker).

        Raises:
            ChunkrTaskNotFound: no such task, another user's, or expired.
        """
        key = composite_key(task_id) if isinstance(task_id, str) else None
        doc = None if key is None else unit.get(TASKS, key)
        if doc is None or (user_id is not None and doc["user_id"] != user_id):
            raise ChunkrTaskNotFound(str(task_id))
        task = self._decode(key, doc)
        if task.expired(unit.now):
            raise ChunkrTaskNotFound(task_id)
        return task

    def _decode(self, key: Any, doc: Any) -> ChunkrTask:
        """The task value of a stored document.  A store that hands back the very
        document it was given (the memory store) skips decoding it again: the cache
        holds the document with its value, and a hit needs the same object (documents
        are never changed in place), so another document under the key is a miss."""
        cached = self._decoded.get(key)
        if cached is not None and cached[0] is doc:
            return cached[1]
        task = ChunkrTask.from_doc(doc)
        self._decoded.put(key, (doc, task))
        return task

    def get(self, user_id: str, task_id: str) -> ChunkrTask:
        """The task ``task_id`` of ``user_id``.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
        """
        _check_user(user_id)
        with self.store.unit(readonly=True) as unit:
            return self._load(unit, task_id, user_id)

    def response(
        self,
        user_id: str,
        task_id: str,
        *,
        task_url: str,
        include_chunks: bool = True,
        base64_urls: bool = False,
        copy: bool = True,
    ) -> dict[str, Any]:
        """The ``TaskResponse`` of ``GET /api/v1/task/{task_id}``, read in one unit.

        With ``copy=False`` the answer shares parts with what the store keeps (memoised
        configuration forms, the stored output): serialise it, never change it.  The
        router does that; by default the caller gets a copy of its own.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
        """
        _check_user(user_id)
        with self.store.unit(readonly=True) as unit:
            task = self._load(unit, task_id, user_id)
            data = output = None
            if base64_urls and task.file_url is None:
                data = unit.get(FILES, composite_key(task_id))
            if task.status is _S.SUCCEEDED:
                output = unit.get(OUTPUTS, composite_key(task_id))
        wire = task_response(
            task,
            task_url=task_url,
            include_chunks=include_chunks,
            base64_urls=base64_urls,
            file_data=data,
            output=output,
        )
        if not copy:
            return wire
        copied: dict[str, Any] = json.loads(json.dumps(wire))
        return copied

    def output(self, user_id: str, task_id: str) -> Output | None:
        """The output of the task's last successful run while it is ``Succeeded``,
        else ``None``.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
        """
        _check_user(user_id)
        with self.store.unit(readonly=True) as unit:
            task = self._load(unit, task_id, user_id)
            doc = unit.get(OUTPUTS, composite_key(task_id))
        if task.status is not _S.SUCCEEDED or doc is None:
            return None
        return Output.from_doc(doc)

    # -- the documented operations ------------------------------------------------------

    def create(self, user_id: str, form: CreateForm) -> ChunkrTask:
        """Queue a new task: ``Starting``, "Task queued".

        Raises:
            UsageLimitExceeded: the user is over its usage limit; nothing was created
                or counted.
            IdCollision: the id factory kept giving ids in use; nothing was created.
        """
        _check_user(user_id)
        with self.store.unit() as unit:
            self._purge_on_the_side(unit)
            try:
                self.usage_limit.charge(unit, user_id)
            except QuotaExceeded as error:
                raise UsageLimitExceeded(user_id, error.retry_after_seconds) from None
            task_id = self._new_id(unit)
            task = ChunkrTask(
                task_id=task_id,
                user_id=user_id,
                status=CHUNKR_TASK.initial,
                message="Task queued",
                configuration=form.configuration,
                created_at=unit.now,
                file_name=form.file_name,
                file_url=form.file_url,
            )
            unit.put(TASKS, composite_key(task_id), task.to_doc())
            unit.put(ACTIVE, composite_key(task_id), 1)
            if form.file_data is not None:
                unit.put(FILES, composite_key(task_id), form.file_data)
            return task

    def update(self, user_id: str, task_id: str, given: Configuration) -> ChunkrTask:
        """Queue a re-run with ``given`` merged into the configuration: ``Starting``,
        "Task queued for update", remembering the status, message and configuration it
        reverts to.

        Every refusal leaves the task unchanged.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
            TaskNotUpdatable: the task is not ``Succeeded`` or ``Failed``.
            ConfigurationUnchanged: the merged configuration equals the current one.
        """
        _check_user(user_id)

        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, _E.UPDATE, task)
            merged = task.configuration.merge(given)
            if merged == task.configuration:
                raise ConfigurationUnchanged
            previous = Previous(task.status, task.message, task.configuration)
            return attrs.evolve(
                task,
                status=status,
                message="Task queued for update",
                configuration=merged,
                previous=previous,
            )

        return self._change(task_id, user_id, act)

    def cancel(self, user_id: str, task_id: str) -> ChunkrTask:
        """Cancel a task that has not been picked up: a new task becomes ``Cancelled``
        ("Task cancelled"); a queued re-run reverts to the status, message and
        configuration it came from.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
            TaskNotCancellable: the task is not ``Starting``; it is unchanged.
        """
        _check_user(user_id)

        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, _E.CANCEL, task)
            if task.previous is not None:
                return _reverted(task, status)
            return self._finished(unit, task, status, "Task cancelled")

        return self._change(task_id, user_id, act)

    def delete(self, user_id: str, task_id: str) -> None:
        """Delete a ``Succeeded``, ``Failed`` or ``Cancelled`` task; afterwards it is
        ``Task not found``.

        Raises:
            ChunkrTaskNotFound: no such task for this user, or expired.
            TaskNotDeletable: the task is ``Starting`` or ``Processing``; it is kept.
        """
        _check_user(user_id)
        with self.store.unit() as unit:
            task = self._load(unit, task_id, user_id)
            CHUNKR_TASK.fire(task.status, _E.DELETE, task)
            _drop(unit, task_id)

    # -- the worker side ----------------------------------------------------------------

    def task(self, task_id: str) -> ChunkrTask:
        """The task ``task_id`` as a worker sees it (any user's).

        Raises:
            ChunkrTaskNotFound: no such task, or expired.
        """
        with self.store.unit(readonly=True) as unit:
            return self._load(unit, task_id, None)

    def active(self, limit: int = 100) -> tuple[ChunkrTask, ...]:
        """Tasks a worker has to run (``Starting`` or ``Processing``), by task id, at
        most ``limit``.  Reads an index kept with every task write, so the cost follows
        ``limit``, not the history.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        with self.store.unit(readonly=True) as unit:
            return tuple(
                self._load(unit, key_parts(key)[0], None)
                for key, _ in unit.scan(ACTIVE, limit=limit)
            )

    def start(self, task_id: str) -> ChunkrTask:
        """A worker picks the task up: ``Processing``, "Task started", ``started_at``
        now (a re-run overwrites it).

        Raises:
            ChunkrTaskNotFound: no such task, or expired.
            IllegalTransition: the task is not ``Starting``; it is unchanged.
        """

        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, _E.START, task)
            return attrs.evolve(task, status=status, message="Task started", started_at=unit.now)

        return self._change(task_id, None, act)

    def succeed(self, task_id: str, output: Output) -> ChunkrTask:
        """The run succeeded with ``output``: ``Succeeded``, "Task succeeded",
        ``finished_at`` now, ``expires_at`` from the (new) configuration.

        Raises:
            ChunkrTaskNotFound: no such task, or expired.
            IllegalTransition: the task is not ``Processing``; it is unchanged.
        """

        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, _E.SUCCEED, task)
            doc = output.to_doc()
            try:  # NaN or infinity would be stored, then break every later GET
                json.dumps(doc, allow_nan=False)
            except ValueError:
                raise ValidationError(
                    "output holds a number that is not finite", field="output"
                ) from None
            unit.put(OUTPUTS, composite_key(task_id), doc)
            done = attrs.evolve(task, previous=None)
            return self._finished(unit, done, status, "Task succeeded")

        return self._change(task_id, None, act)

    def fail(self, task_id: str, message: str) -> ChunkrTask:
        """The run failed.  A new task becomes ``Failed`` with ``message``; a re-run
        reverts to the status, message and configuration it came from.
        Either way ``finished_at`` is now and ``expires_at`` follows.

        Raises:
            ValidationError: ``message`` is not a string of 1 to 1000 characters.
            ChunkrTaskNotFound: no such task, or expired.
            IllegalTransition: the task is not ``Processing``; it is unchanged.
        """
        if not isinstance(message, str) or not 0 < len(message) <= MAX_MESSAGE_LENGTH:
            raise ValidationError(
                f"A failure message is 1 to {MAX_MESSAGE_LENGTH} characters", field="message"
            )

        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, _E.FAIL, task)
            if task.previous is not None:
                reverted = _reverted(task, status)
                return self._finished(unit, reverted, status, reverted.message)
            return self._finished(unit, task, status, message)

        return self._change(task_id, None, act)

    # -- expiry -------------------------------------------------------------------------

    def purge(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` expired tasks (with their inputs); return how many
        index entries were due.  Creates purge a few each too; an operator may call
        this from a scheduler."""
        with self.store.unit() as unit:
            return self._purge(unit, limit)

    def _purge(self, unit: Unit, limit: int) -> int:
        due = self._expiry.pop_due(unit, limit)
        for task_id in due:
            doc = unit.get(TASKS, composite_key(task_id))
            # A stale entry (the task finished again later, or was deleted) removes
            # nothing: only a task whose own expires_at has passed is dropped.
            if doc is not None and ChunkrTask.from_doc(doc).expired(unit.now):
                _drop(unit, task_id)
        return len(due)

    def _purge_on_the_side(self, unit: Unit) -> None:
        """Purge a few expired tasks inside a create: up to 8 per pass, more than a
        create adds, so a backlog drains; after a pass that found nothing due, the next
        waits a second of store time."""
        if unit.now < self._quiet_until:
            return
        due = self._purge(unit, _PURGE_BATCH)
        self._quiet_until = unit.now + _QUIET if due == 0 else _EPOCH

    # -- helpers ------------------------------------------------------------------------

    def _change(
        self,
        task_id: str,
        user_id: str | None,
        act: Callable[[Unit, ChunkrTask], ChunkrTask],
    ) -> ChunkrTask:
        with self.store.unit() as unit:
            task = act(unit, self._load(unit, task_id, user_id))
            key = composite_key(task_id)
            doc = task.to_doc()
            unit.put(TASKS, key, doc)
            if task.status in (_S.STARTING, _S.PROCESSING):
                unit.put(ACTIVE, key, 1)
            else:
                unit.delete(ACTIVE, key)
        # Only once committed: a rolled-back unit must not leave its value cached.
        self._decoded.put(key, (doc, task))
        return task

    def _finished(
        self, unit: Unit, task: ChunkrTask, status: ChunkrStatus, message: str
    ) -> ChunkrTask:
        """``task`` ended a run now: ``finished_at`` and ``expires_at`` set, noted in
        the expiry index when it expires."""
        expires_in = task.configuration.expires_in
        if expires_in is None:
            expires_in = self.default_expires_in
        expires_at = None if expires_in is None else unit.now + timedelta(seconds=expires_in)
        if expires_at is not None:
            self._expiry.add(unit, expires_at, task.task_id)
        return attrs.evolve(
            task, status=status, message=message, finished_at=unit.now, expires_at=expires_at
        )

    def _new_id(self, unit: Unit) -> str:
        """A fresh task id; never one a stored task (live or expired) still has.

        Raises:
            IdCollision: the id factory gave 8 ids in use in a row.
        """
        return draw_free("task", self.ids, lambda i: unit.get(TASKS, composite_key(i)) is None)


def _reverted(task: ChunkrTask, status: ChunkrStatus) -> ChunkrTask:
    """``task`` back to what its re-run remembered (the table chose ``status``, which
    is the remembered one)."""
    previous = task.previous
    assert previous is not None
    assert previous.status is status
    return attrs.evolve(
        task,
        status=status,
        message=previous.message,
        configuration=previous.configuration,
        previous=None,
    )


def _drop(unit: Unit, task_id: str) -> None:
    unit.delete(TASKS, composite_key(task_id))
    unit.delete(ACTIVE, composite_key(task_id))
    unit.delete(FILES, composite_key(task_id))
    unit.delete(OUTPUTS, composite_key(task_id))
