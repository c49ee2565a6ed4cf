"""A simulated worker: moves the four APIs' tasks through their worker operations, so
polling a local server shows progress as with the real services (docs/server.md,
"Simulated worker").

Theory of operation:

- :meth:`SimulatedWorker.tick` takes, per service, up to ``batch`` tasks that still
  have work (each service's index of unended tasks: :meth:`ClaroTasks.active`,
  :meth:`SendAITasks.processing`, :meth:`ChunkrTasks.active`,
  :meth:`VisualLayerTasks.active`; nothing else is scanned) and moves each one step:

  - Claro: ``queued`` -> start; ``processing`` -> record the next ``cells_per_tick``
    targets (each cell fails with probability ``failure_rate``); all recorded -> complete.
  - Send AI: ``PROCESSING`` -> run the pipeline step (to ``REVIEWING``, the next step,
    ``COMPLETED`` or ``FILTERED``), or fail with probability ``failure_rate``.
  - Chunkr: ``Starting`` -> start; ``Processing`` -> succeed with a one-chunk output, or
    fail with probability ``failure_rate``.
  - Visual Layer: ``INITIALIZING`` -> start; ``RUNNING`` -> progress by
    ``progress_step`` up to 90; at 90 fail with probability ``failure_rate``, else enter
    the commit phase; in the commit phase -> complete (100).

- Deterministic: every draw comes from one ``random.Random(seed)``, in a fixed order
  (services in the order above, tasks by id), so the same seed, the same tasks (the
  same ids) and the same ticks give the same outcome.  ``failure_rate`` 0.0 never
  fails and 1.0 always does (``random()`` is in ``[0, 1)``).
- A task another caller changed between the read and the write (cancelled, aborted,
  deleted, its lease lapsed) is skipped: the service refuses the write and nothing
  changes; :meth:`tick` goes on with the next task.
- :meth:`SimulatedWorker.start` runs :meth:`tick` every ``interval`` seconds in one
  daemon thread until :meth:`SimulatedWorker.stop` (which joins it).  Ticks and the
  control operations hold one lock, so draws never interleave.
- Control operations for tests (:meth:`advance`, :meth:`fail`, :meth:`finish_now`)
  and :func:`control_router`, which exposes them under ``/_taskcore/worker/``; a
  server mounts it only when asked to (``enabled=False`` answers 404 everywhere).

The worker's state is the services' stores; in memory it keeps only a bounded cache of
the columns of the datasets its new-rows tasks fill (:data:`COLUMNS_CACHED`).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import attrs

from taskcore.cache import BoundedCache
from taskcore.chunkr.lifecycle import ChunkrStatus
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import Chunk, Output, Segment
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import ClaroTasks, RowOutcome
from taskcore.claro.task import ClaroTask, TaskType
from taskcore.errors import RouteNotFound, TaskcoreError, ValidationError
from taskcore.http import Request, Response, Route, Router, json_response
from taskcore.sendai.lifecycle import SendAIStatus
from taskcore.sendai.service import SendAITasks
from taskcore.visual_layer.lifecycle import VisualLayerStatus
from taskcore.visual_layer.service import VisualLayerTasks

__all__ = [
    "COLUMNS_CACHED",
    "COMMIT_AT",
    "CONTROL_PREFIX",
    "FAILURE_MESSAGE",
    "MAX_MESSAGE_LENGTH",
    "Api",
    "Moved",
    "SimulatedWorker",
    "TaskRef",
    "control_router",
]

CONTROL_PREFIX: Final = "/_taskcore/worker"
"""Where :func:`control_router` answers."""
COMMIT_AT: Final = 90
"""The progress (percent) at which a Visual Layer task enters its commit phase."""
FAILURE_MESSAGE: Final = "Simulated failure"
"""The message (reason) of a failure the worker draws or is told to make."""

COLUMNS_CACHED: Final = 256
"""How many new-rows tasks' dataset columns the worker keeps in memory (a miss reads
the dataset again)."""
MAX_MESSAGE_LENGTH: Final = 1000
"""The longest failure message :meth:`SimulatedWorker.fail` takes (every API keeps it)."""

_LOG = logging.getLogger("taskcore.worker")
S = TypeVar("S")


class Api(StrEnum):
    """The four APIs, by the name the control routes use."""

    CLARO = "claro"
    SENDAI = "sendai"
    CHUNKR = "chunkr"
    VISUAL_LAYER = "visual_layer"


@attrs.frozen
class TaskRef:
    """Names one task: its API, its id and, for Send AI (ids are per team), its team."""

    api: Api = attrs.field(converter=Api)
    task_id: str
    team_id: str | None = None


@attrs.frozen
class Moved:
    """One step the worker took: the task, its status before and after (wire values).

    ``before == after`` when the step changed the task without changing its status
    (Claro cells recorded, Visual Layer progress or commit phase).
    """

    ref: TaskRef
    before: str
    after: str

    def to_wire(self) -> dict[str, Any]:
        """``{"api", "task_id", "team_id"?, "before", "status"}`` (the control routes)."""
        wire: dict[str, Any] = {"api": self.ref.api.value, "task_id": self.ref.task_id}
        if self.ref.team_id is not None:
            wire["team_id"] = self.ref.team_id
        wire["before"] = self.before
        wire["status"] = self.after
        return wire


def _share(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and 0.0 <= value <= 1.0)
    ):
        raise ValueError(f"{name} must be a number in 0.0..1.0, not {value!r}")
    return float(value)


def _count(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number in {low}..{high}, not {value!r}")
    return value


class SimulatedWorker:
    """Drives the services' worker operations; thread-safe (one lock for every step).

    Args:
        claro: the Claro service to drive (``None``: none).
        sendai: the Send AI service to drive (``None``: none).
        chunkr: the Chunkr service to drive (``None``: none).
        visual_layer: the Visual Layer service to drive (``None``: none).
        seed: seeds the one ``random.Random`` every draw comes from.
        failure_rate: 0.0..1.0, the probability that a Claro cell, or a Send AI, Chunkr
            or Visual Layer task, fails when the worker gets to it.
        interval: seconds between ticks of the background thread (> 0).
        cells_per_tick: Claro targets recorded per step (1..10000).
        progress_step: Visual Layer progress per step, in percent (1..90).
        batch: tasks taken per service per tick (1..10000); the rest wait for a later
            tick, lowest ids first.

    Raises:
        ValueError: an argument outside its range.
    """

    def __init__(
        self,
        *,
        claro: ClaroTasks | None = None,
        sendai: SendAITasks | None = None,
        chunkr: ChunkrTasks | None = None,
        visual_layer: VisualLayerTasks | None = None,
        seed: int = 0,
        failure_rate: float = 0.0,
        interval: float = 1.0,
        cells_per_tick: int = 25,
        progress_step: int = 30,
        batch: int = 100,
    ) -> None:
        self.claro = claro
        self.sendai = sendai
        self.chunkr = chunkr
        self.visual_layer = visual_layer
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, not {seed!r}")
        self.failure_rate: float = _share(failure_rate, "failure_rate")
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not (math.isfinite(interval) and interval > 0)
        ):
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self.interval: float = float(interval)
        self.cells_per_tick: int = _count(cells_per_tick, "cells_per_tick", 1, 10_000)
        self.progress_step: int = _count(progress_step, "progress_step", 1, COMMIT_AT)
        self.batch: int = _count(batch, "batch", 1, 10_000)
        self._random = random.Random(seed)
        self._columns: BoundedCache[str, tuple[str, ...]] = BoundedCache(COLUMNS_CACHED)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- stepping -----------------------------------------------------------------------

    def tick(self) -> list[Moved]:
        """Move every task that has work one step (up to ``batch`` per service).

        Returns:
            The steps taken, in order.  A task the service refused to move (another
            caller changed it meanwhile) is left out, unchanged.
        """
        moved: list[Moved] = []
        with self._lock:
            for ref in self._pending():
                try:
                    moved.append(self._advance(ref))
                except TaskcoreError as error:
                    _LOG.debug("skipped %s %s: %s", ref.api, ref.task_id, error)
        return moved

    def _pending(self) -> list[TaskRef]:
        refs: list[TaskRef] = []
        if self.claro is not None:
            refs += [TaskRef(Api.CLARO, t.task_id) for t in self.claro.active(self.batch)]
        if self.sendai is not None:
            refs += [
                TaskRef(Api.SENDAI, t.id, t.team_id) for t in self.sendai.processing(self.batch)
            ]
        if self.chunkr is not None:
            refs += [TaskRef(Api.CHUNKR, t.task_id) for t in self.chunkr.active(self.batch)]
        if self.visual_layer is not None:
            refs += [
                TaskRef(Api.VISUAL_LAYER, t.task_id) for t in self.visual_layer.active(self.batch)
            ]
        return refs

    def advance(self, ref: TaskRef) -> Moved:
        """Move one task one step, as a tick would (drawing failures the same way).

        Raises:
            TaskcoreError: the service's own refusal: the task is unknown (its
                not-found error), has no step left (``ILLEGAL_TRANSITION`` or the API's
                state error), or the API is not driven by this worker (404
                ``NOT_FOUND``).  Nothing changed.
        """
        with self._lock:
            return self._advance(ref)

    def fail(self, ref: TaskRef, message: str = FAILURE_MESSAGE) -> Moved:
        """Fail the task now with ``message`` (1 to 1000 characters; Claro: the failure
        reason).  A Chunkr
        task still ``Starting`` is started first (only a running task fails).

        Raises:
            TaskcoreError: the service's refusal (unknown task, already ended, a bad
                message); nothing changed.
        """
        if not isinstance(message, str) or not 0 < len(message) <= MAX_MESSAGE_LENGTH:
            raise ValidationError(
                f"message must be 1 to {MAX_MESSAGE_LENGTH} characters", field="message"
            )
        with self._lock:
            return self._fail(ref, message)

    def finish_now(self, ref: TaskRef) -> Moved:
        """Take the task to its successful end now, drawing no failure: Claro records
        every remaining target as filled and completes; Chunkr succeeds; Visual Layer
        completes; Send AI runs the pipeline step (a task it stops in ``REVIEWING``
        waits for a person, as documented).

        Raises:
            TaskcoreError: the service's refusal (unknown or ended task); nothing
                changed by the refused step.
        """
        with self._lock:
            return self._finish(ref)

    def export(self, ref: TaskRef) -> Moved:
        """Export a Send AI task now (:meth:`SendAITasks.export`, succeeded): a
        ``COMPLETED`` task gets ``exported_at`` and can no longer be unlocked.

        Raises:
            TaskcoreError: the service's refusal (unknown task, not ``COMPLETED``), or
                404 ``NOT_FOUND`` for another API; nothing changed.
        """
        if ref.api is not Api.SENDAI:
            raise RouteNotFound("POST", f"{CONTROL_PREFIX}/{ref.api.value}")
        with self._lock:
            sendai, team = self._sendai(ref)
            before = sendai.task(team, ref.task_id)
            after = sendai.export(team, ref.task_id)
            return Moved(ref, before.status.value, after.status.value)

    # -- per API -------------------------------------------------------------------------

    def _draw(self) -> bool:
        return self._random.random() < self.failure_rate

    def _advance(self, ref: TaskRef) -> Moved:
        steps = {
            Api.CLARO: self._claro_step,
            Api.SENDAI: self._sendai_step,
            Api.CHUNKR: self._chunkr_step,
            Api.VISUAL_LAYER: self._visual_layer_step,
        }
        return steps[ref.api](ref)

    def _claro_step(self, ref: TaskRef) -> Moved:
        claro = self._service(self.claro, ref)
        task = claro.task(ref.task_id)
        if task.status is not ClaroStatus.PROCESSING:
            after = claro.start(ref.task_id)
        elif task.completed < task.total:
            after = self._record(claro, task, min(task.total, task.completed + self.cells_per_tick))
        else:
            after = claro.complete(ref.task_id, token=task.lease_token)
        return Moved(ref, task.status.value, after.status.value)

    def _record(self, claro: ClaroTasks, task: ClaroTask, end: int, draw: bool = True) -> ClaroTask:
        """Record targets ``task.completed .. end - 1`` (a worker of its own records in
        order, so those are the ones left); ``draw=False`` fills every cell."""
        indices = range(task.completed, end)
        if task.type is TaskType.NEW_ROWS:
            # The task locks its dataset, so its columns stay as they are until it ends.
            columns = self._columns.get(task.task_id)
            if columns is None:
                columns = claro.dataset(task.account_id, task.dataset_id).column_ids
                self._columns.put(task.task_id, columns)
            rows = [RowOutcome(i, [c for c in columns if draw and self._draw()]) for i in indices]
            return claro.record_rows(task.task_id, rows, token=task.lease_token)
        failed = [i for i in indices if draw and self._draw()]
        succeeded = sorted(set(indices) - set(failed))
        return claro.record(
            task.task_id, token=task.lease_token, succeeded=succeeded, failed=failed
        )

    def _sendai_step(self, ref: TaskRef) -> Moved:
        sendai, team = self._sendai(ref)
        before = sendai.task(team, ref.task_id).status
        if before is SendAIStatus.PROCESSING and self._draw():
            after = sendai.fail(team, ref.task_id, FAILURE_MESSAGE)
        else:
            after = sendai.run_step(team, ref.task_id)
        return Moved(ref, before.value, after.status.value)

    def _chunkr_step(self, ref: TaskRef) -> Moved:
        chunkr = self._service(self.chunkr, ref)
        task = chunkr.task(ref.task_id)
        if task.status is not ChunkrStatus.PROCESSING:
            after = chunkr.start(ref.task_id)
        elif self._draw():
            after = chunkr.fail(ref.task_id, FAILURE_MESSAGE)
        else:
            after = chunkr.succeed(ref.task_id, _output(task.file_name))
        return Moved(ref, task.status.value, after.status.value)

    def _visual_layer_step(self, ref: TaskRef) -> Moved:
        vl = self._service(self.visual_layer, ref)
        task = vl.task(ref.task_id)
        progress = task.progress_percentage or 0
        if task.status is not VisualLayerStatus.RUNNING:
            after = vl.start(ref.task_id)
        elif task.in_commit_phase:
            after = vl.complete(ref.task_id)
        elif progress < COMMIT_AT:
            after = vl.progress(ref.task_id, min(COMMIT_AT, progress + self.progress_step))
        elif self._draw():
            after = vl.fail(ref.task_id, FAILURE_MESSAGE)
        else:
            after = vl.enter_commit_phase(ref.task_id)
        return Moved(ref, task.status.value, after.task.status.value)

    def _fail(self, ref: TaskRef, message: str) -> Moved:
        if ref.api is Api.CLARO:
            claro = self._service(self.claro, ref)
            task = claro.task(ref.task_id)
            ended = claro.fail(ref.task_id, message, token=task.lease_token)
            return Moved(ref, task.status.value, ended.status.value)
        if ref.api is Api.SENDAI:
            sendai, team = self._sendai(ref)
            before = sendai.task(team, ref.task_id)
            failed = sendai.fail(team, ref.task_id, message)
            return Moved(ref, before.status.value, failed.status.value)
        if ref.api is Api.CHUNKR:
            chunkr = self._service(self.chunkr, ref)
            parse = chunkr.task(ref.task_id)
            if parse.status is ChunkrStatus.STARTING:
                chunkr.start(ref.task_id)
            return Moved(ref, parse.status.value, chunkr.fail(ref.task_id, message).status.value)
        vl = self._service(self.visual_layer, ref)
        shown = vl.task(ref.task_id)
        return Moved(ref, shown.status.value, vl.fail(ref.task_id, message).task.status.value)

    def _finish(self, ref: TaskRef) -> Moved:
        if ref.api is Api.CLARO:
            claro = self._service(self.claro, ref)
            first = task = claro.task(ref.task_id)
            if task.status is not ClaroStatus.PROCESSING:
                task = claro.start(ref.task_id)
            if task.completed < task.total:
                task = self._record(claro, task, task.total, draw=False)
            ended = claro.complete(ref.task_id, token=task.lease_token)
            return Moved(ref, first.status.value, ended.status.value)
        if ref.api is Api.SENDAI:
            sendai, team = self._sendai(ref)
            before = sendai.task(team, ref.task_id)
            stepped = sendai.run_step(team, ref.task_id)
            return Moved(ref, before.status.value, stepped.status.value)
        if ref.api is Api.CHUNKR:
            chunkr = self._service(self.chunkr, ref)
            parse = chunkr.task(ref.task_id)
            if parse.status is ChunkrStatus.STARTING:
                chunkr.start(ref.task_id)
            done = chunkr.succeed(ref.task_id, _output(parse.file_name))
            return Moved(ref, parse.status.value, done.status.value)
        vl = self._service(self.visual_layer, ref)
        shown = vl.task(ref.task_id)
        if shown.status is VisualLayerStatus.INITIALIZING:
            vl.start(ref.task_id)
        vl.enter_commit_phase(ref.task_id)
        return Moved(ref, shown.status.value, vl.complete(ref.task_id).task.status.value)

    def _service(self, service: S | None, ref: TaskRef) -> S:
        if service is None:
            raise RouteNotFound("POST", f"{CONTROL_PREFIX}/{ref.api.value}")
        return service

    def _sendai(self, ref: TaskRef) -> tuple[SendAITasks, str]:
        sendai = self._service(self.sendai, ref)
        if ref.team_id is None:
            raise ValidationError("a Send AI task is named by its team too", field="team_id")
        return sendai, ref.team_id

    # -- the background thread ------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start ticking every ``interval`` seconds in a daemon thread (named
        ``taskcore-worker``).

        Raises:
            RuntimeError: already started (and not stopped).
        """
        if self._thread is not None:
            raise RuntimeError("the worker is already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="taskcore-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread and wait for it (at most ``timeout`` seconds; a
        tick under way finishes first).  Stopping a worker that is not running does
        nothing.

        Raises:
            TimeoutError: the thread did not end within ``timeout``; it will end after
                its current tick.
        """
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("the worker thread did not stop in time")
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a store failure must not end the thread silently
                _LOG.exception("simulated worker tick failed")


def _output(file_name: str | None) -> Output:
    """The output of a simulated Chunkr run: one chunk of one title segment."""
    text = f"Parsed {file_name or 'document'}"
    return Output([Chunk("chunk-1", [Segment("segment-1", "Title", text)])], page_count=1)


# -- the control routes ------------------------------------------------------------------

_ACTIONS: Final[Mapping[str, Callable[[SimulatedWorker, TaskRef, str | None], Moved]]] = {
    "advance": lambda worker, ref, _: worker.advance(ref),
    "finish": lambda worker, ref, _: worker.finish_now(ref),
    "fail": lambda worker, ref, message: worker.fail(
        ref, FAILURE_MESSAGE if message is None else message
    ),
    "export": lambda worker, ref, _: worker.export(ref),
}


def _message(request: Request) -> str | None:
    """The optional body ``{"message": "..."}``; an empty body is ``None``."""
    if not request.body.strip():
        return None
    body = request.json()
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object")
    unknown = sorted(set(body) - {"message"})
    if unknown:
        raise ValidationError(f"Unknown field {unknown[0]!r}", field=unknown[0])
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise ValidationError("message must be a string", field="message")
    return message


def control_router(worker: SimulatedWorker, *, enabled: bool) -> Router:
    """The worker's control routes, for tests (all ``POST``, JSON answers):

    - ``/_taskcore/worker/tick``: one :meth:`~SimulatedWorker.tick`, answering
      ``{"moved": [...]}``;
    - ``/_taskcore/worker/{api}/tasks/{task_id}/{action}``: ``api`` is ``claro``,
      ``chunkr`` or ``visual_layer``;
    - ``/_taskcore/worker/sendai/teams/{team_id}/tasks/{task_id}/{action}``: Send AI.

    ``action`` is ``advance``, ``fail`` (optional body ``{"message": "..."}``),
    ``finish``, or ``export`` (Send AI only); the answer is 200 with
    :meth:`Moved.to_wire`.  Errors are the ``{"error", "code", "details"}`` body with
    the error's status (the service's refusal: 404 unknown task, 409/400 no such step).

    Args:
        worker: the worker to drive.
        enabled: ``False`` gives a router with no routes: every request is 404, so a
            server may mount it unconditionally and enable it only on request.
    """

    def moved_response(moved: Moved) -> Response:
        return json_response(200, moved.to_wire())

    def task_action(request: Request, params: Mapping[str, str]) -> Response:
        action = _ACTIONS.get(params["action"])
        api = params.get("api", Api.SENDAI.value)
        if (
            action is None
            or api not in Api.__members__.values()
            or (api == "sendai" and "team_id" not in params)
        ):
            raise RouteNotFound(request.method, request.path)
        ref = TaskRef(Api(api), params["task_id"], params.get("team_id"))
        return moved_response(action(worker, ref, _message(request)))

    def tick(request: Request, params: Mapping[str, str]) -> Response:
        return json_response(200, {"moved": [m.to_wire() for m in worker.tick()]})

    routes = [
        Route("POST", f"{CONTROL_PREFIX}/tick", tick),
        Route("POST", f"{CONTROL_PREFIX}/{{api}}/tasks/{{task_id}}/{{action}}", task_action),
        Route(
            "POST",
            f"{CONTROL_PREFIX}/sendai/teams/{{team_id}}/tasks/{{task_id}}/{{action}}",
            task_action,
        ),
    ]
    return Router(routes if enabled else [], _render_error)


def _render_error(error: TaskcoreError) -> Response:
    return json_response(error.status, error.to_wire())
