"""Servers for the ``taskcore verify`` tests: the real one and mutants with faults injected.

:func:`serving` runs taskcore's four APIs on 127.0.0.1 (an ephemeral port) in a thread,
as ``taskcore serve --fixtures FILE --worker-control --verify-control`` does: a
:class:`~taskcore.server.Resettable` whose sessions load :data:`FIXTURE`, with the
worker's control routes.  ``mutate`` changes the fresh services of every session before
the fixtures load: a mutant replaces one service with a subclass that breaks one
documented rule.  Adding a mutant is a subclass and one entry in :data:`MUTANTS`:

    class ChunkrDeleteIgnored(ChunkrTasks):
        def delete(self, user_id: str, task_id: str) -> None:
            pass

    MUTANTS["chunkr-delete-ignored"] = Mutant("chunkr", "deleted", _chunkr(ChunkrDeleteIgnored))

Each :class:`Mutant` names the API to verify and the property verify must report.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from taskcore.chunkr.errors import TaskNotDeletable
from taskcore.chunkr.lifecycle import CHUNKR_TASK, ChunkrEvent, ChunkrStatus
from taskcore.chunkr.service import ChunkrTasks, _drop
from taskcore.chunkr.task import ChunkrTask
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import ClaroTasks
from taskcore.claro.task import Category, ClaroTask
from taskcore.claro.wire import status_response
from taskcore.errors import DatasetLocked, InvalidSelection, NotFound, TaskNotCancellable
from taskcore.keys import composite_key
from taskcore.server import (
    Resettable,
    Services,
    Session,
    bind,
    bound_url,
    build_handler,
    build_services,
    load_fixtures,
    serve,
)
from taskcore.store import MemoryStore
from taskcore.store.port import Unit
from taskcore.worker import SimulatedWorker, control_router

START_TIMEOUT = 30.0
"""Seconds to wait for a server to listen or stop (a bound, never a pace)."""

KEY = "YOUR_API_KEY"
OTHER_KEY = "OTHER_API_KEY"
DATASET = "550e8400-e29b-41d4-a716-446655440000"
VL_SHARED = "b1a39406-123d-11f1-9353-fa39f6ed1f22"
VL_MINE = "3f2b8c1e-6d4a-4e8b-9c71-2a5d0e9f4b10"
VL_THEIRS = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"


def _vl(n: int) -> str:
    """The id of the fixture's ``n``-th Visual Layer task."""
    return f"00000000-0000-4000-8000-{n:012d}"


FIXTURE: dict[str, Any] = {
    "format": 1,
    "claro": {
        "accounts": [
            {
                "id": "acme",
                "api_keys": [KEY],
                "datasets": [
                    {
                        "id": DATASET,
                        "columns": ["col_name", "col_category", "col_url"],
                        "rows": ["row_1", "row_2", "row_3", "row_4"],
                        "filled": [["row_1", "col_name"], ["row_2", "col_name"]],
                        "cell_ids": {"cell_1": ["row_1", "col_category"]},
                    }
                ],
                "webhooks": [
                    {
                        "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                        "url": "https://hooks.example.invalid/claro",
                        "secret": "s3cret",
                    }
                ],
            },
            {
                "id": "globex",
                "api_keys": [OTHER_KEY],
                "datasets": [{"id": "globex-dataset", "columns": ["c"], "rows": ["r"]}],
            },
        ]
    },
    "chunkr": {
        "users": [
            {"id": "acme", "api_keys": [KEY]},
            {"id": "globex", "api_keys": [OTHER_KEY]},
        ]
    },
    "sendai": {
        "teams": [
            {
                "id": "team_acme",
                "api_keys": [{"key": KEY}],
                "projects": [
                    {
                        "id": "invoices",
                        "steps": [
                            {"step_type": "EXTRACT", "required": ["invoice_total"]},
                            {
                                "step_type": "CLASSIFY",
                                "review": False,
                                "filters": [{"name": "note", "value": "checked"}],
                            },
                        ],
                    },
                    {"id": "auto", "steps": [{"step_type": "EXTRACT", "review": False}]},
                ],
                "uploads": [
                    {
                        "id": "upload_1",
                        "project": "invoices",
                        "documents": [
                            {
                                "id": "task_reviewing",
                                "name": "invoice.pdf",
                                "pages": 2,
                                "meta": [{"name": "invoice_total", "value": "118.00"}],
                                "status": "REVIEWING",
                            },
                            {"id": "task_no_total", "name": "b.pdf", "status": "REVIEWING"},
                            {"id": "task_processing", "name": "c.pdf"},
                            {"id": "task_failed", "name": "d.pdf", "status": "FAILED"},
                            {"id": "task_discarded", "name": "e.pdf", "status": "DISCARDED"},
                        ],
                    },
                    {
                        "id": "upload_2",
                        "project": "auto",
                        "documents": [
                            {"id": "task_completed", "name": "f.pdf", "status": "COMPLETED"}
                        ],
                    },
                    {
                        "id": "upload_3",
                        "project": "invoices",
                        "fully_processed": True,
                        "documents": [
                            {"id": "task_closed", "name": "g.pdf", "status": "DISCARDED"}
                        ],
                    },
                ],
            },
            {
                "id": "team_globex",
                "api_keys": [{"key": OTHER_KEY}],
                "projects": [{"id": "invoices", "steps": [{"step_type": "EXTRACT"}]}],
                "uploads": [
                    {
                        "id": "upload_1",
                        "project": "invoices",
                        "documents": [{"id": "g_1", "name": "x.pdf"}],
                    }
                ],
            },
        ]
    },
    "visual_layer": {
        "users": [
            {"email": "rachel@example.com", "tokens": [KEY]},
            {"email": "alex@example.com", "tokens": [OTHER_KEY]},
        ],
        "datasets": [
            {"id": VL_SHARED, "name": "Shared",
             "users": ["rachel@example.com", "alex@example.com"]},
            {"id": VL_MINE, "name": "Mine", "users": ["rachel@example.com"]},
            {"id": VL_THEIRS, "name": "Theirs", "users": ["alex@example.com"]},
        ],
        "tasks": [
            {"id": _vl(1), "dataset": VL_SHARED, "task_type": "DATASET_CREATION",
             "created_by": "rachel@example.com"},
            {"id": _vl(2), "dataset": VL_MINE, "task_type": "DATASET_CREATION",
             "created_by": "rachel@example.com", "status": "RUNNING", "progress": 90,
             "commit_phase": True},
            {"id": _vl(3), "dataset": VL_MINE, "task_type": "DATASET_CREATION",
             "created_by": "rachel@example.com", "status": "RUNNING", "progress": 90},
            {"id": _vl(4), "dataset": VL_SHARED, "task_type": "DATASET_CREATION",
             "created_by": "alex@example.com", "status": "FAILED", "progress": 45,
             "error_message": "Model timeout after 300s"},
            {"id": _vl(5), "dataset": VL_MINE, "task_type": "DATASET_CREATION",
             "created_by": "rachel@example.com", "status": "ABORTED", "progress": 10},
            {"id": _vl(6), "dataset": VL_MINE, "task_type": "ENRICHMENT",
             "created_by": "rachel@example.com", "status": "COMPLETED"},
            {"id": _vl(7), "dataset": VL_SHARED, "task_type": "MEDIA_ADDITION",
             "created_by": "alex@example.com", "status": "RUNNING", "progress": 30},
            {"id": _vl(8), "dataset": VL_MINE, "task_type": "REINDEX",
             "created_by": "rachel@example.com", "status": "COMPLETED"},
            {"id": _vl(9), "dataset": VL_SHARED, "task_type": "DATASET_CREATION",
             "created_by": "rachel@example.com", "status": "RUNNING", "progress": 0},
            {"id": _vl(10), "dataset": VL_MINE, "task_type": "SNAPSHOT_CLONE",
             "created_by": "rachel@example.com", "status": "FAILED",
             "error_message": "Snapshot missing"},
            {"id": _vl(11), "dataset": VL_THEIRS, "task_type": "DATASET_CREATION",
             "created_by": "alex@example.com", "status": "RUNNING", "progress": 60},
        ],
    },
}  # fmt: skip
"""Two tenants per API, so tenancy gets checked (Send AI: tasks in every status, one of a
fully processed upload; Visual Layer: a dataset each user alone sees, and more tasks than
a page of five)."""


def write_fixture(folder: Path) -> Path:
    """:data:`FIXTURE` as a file in ``folder``."""
    path = folder / "verify_fixture.json"
    path.write_text(json.dumps(FIXTURE), encoding="utf-8")
    return path


@contextmanager
def serving(
    fixture: Path,
    mutate: Callable[[Services], None] | None = None,
    *,
    control: bool = True,
    failure_rate: float = 0.0,
) -> Iterator[str]:
    """Serve until the block ends; yield the base URL (see the module docstring);
    ``control=False`` leaves the worker's control routes out; the worker fails
    ``failure_rate`` of the cells and tasks it steps."""
    sock = bind("127.0.0.1", 0)
    url = bound_url(sock, "127.0.0.1")

    def start() -> Session:
        services = build_services(MemoryStore())
        if mutate is not None:
            mutate(services)
        load_fixtures(fixture, services)
        worker = SimulatedWorker(
            claro=services.claro,
            sendai=services.sendai,
            chunkr=services.chunkr,
            visual_layer=services.visual_layer,
            failure_rate=failure_rate,
            cells_per_tick=3,
        )
        extra = control_router(worker, enabled=control).routes
        return Session(services, build_handler(services, base_url=url, extra_routes=extra))

    resettable = Resettable(start)
    listening, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve(resettable, sock, on_listening=listening.set, stop=stop)
        except BaseException as error:  # reported below
            failure.append(error)
            listening.set()

    thread = threading.Thread(target=run, name="verify-server")
    thread.start()
    try:
        assert listening.wait(START_TIMEOUT), "the server did not start"
        assert not failure, failure
        yield url
    finally:
        stop.set()
        thread.join(START_TIMEOUT)
        resettable.close()
        assert not thread.is_alive(), "the server did not stop"


# -- mutants ---------------------------------------------------------------------------------


@attrs.frozen
class Mutant:
    """A fault: the API verify checks, the property it must report broken, and how the
    services are changed."""

    api: str
    property: str
    mutate: Callable[[Services], None]


def _claro(kind: type[ClaroTasks]) -> Callable[[Services], None]:
    def mutate(services: Services) -> None:
        services.claro = kind(services.store)

    return mutate


def _chunkr(kind: type[ChunkrTasks]) -> Callable[[Services], None]:
    def mutate(services: Services) -> None:
        services.chunkr = kind(services.store)

    return mutate


class ClaroNotLocked(ClaroTasks):
    """A create on a locked dataset takes the lock from the live task."""

    def _acquire(self, unit: Unit, resource: str, dataset_id: str, task_id: str) -> Any:
        try:
            return super()._acquire(unit, resource, dataset_id, task_id)
        except DatasetLocked:
            lease = self.locks.lease_in(unit, resource)
            assert lease is not None
            self.locks.release_in(unit, resource, lease.token)
            return super()._acquire(unit, resource, dataset_id, task_id)


class ClaroCancelsCompleted(ClaroTasks):
    """Cancel of a completed task answers "cancelled" (and changes nothing)."""

    def cancel(self, account_id: str, dataset_id: str, task_id: str) -> ClaroTask:
        try:
            return super().cancel(account_id, dataset_id, task_id)
        except TaskNotCancellable:
            task = self.get(account_id, dataset_id, task_id)
            if task.status is not ClaroStatus.COMPLETED:
                raise
            return attrs.evolve(task, status=ClaroStatus.CANCELLED, cancelled_at=task.created_at)


class ClaroProgressDrops(ClaroTasks):
    """A completed task's progress reads one target short of what it reached."""

    def status(self, account_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        wire = super().status(account_id, dataset_id, task_id)
        progress = wire["progress"]
        if wire["status"] == "completed" and progress["completed"] > 0:
            completed = progress["completed"] - 1
            percentage = 100 * completed // progress["total"]
            wire["progress"] = {**progress, "completed": completed, "percentage": percentage}
        return wire


class ClaroTenantLeak(ClaroTasks):
    """Another account reads a task by its id."""

    def status(self, account_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        try:
            return super().status(account_id, dataset_id, task_id)
        except NotFound:
            task = self.task(task_id)
            return status_response(task, datetime.now(UTC))


class ClaroRefusedCreateLocks(ClaroTasks):
    """A bulk create refused for its selection locks the dataset all the same."""

    def create_bulk(
        self,
        account_id: str,
        dataset_id: str,
        body: Any,
        *,
        idempotency_key: str | None = None,
        category: Category | None = None,
    ) -> ClaroTask:
        try:
            return super().create_bulk(
                account_id, dataset_id, body, idempotency_key=idempotency_key, category=category
            )
        except InvalidSelection:
            with contextlib.suppress(DatasetLocked), self.store.unit() as unit:
                self.locks.acquire_in(unit, composite_key(account_id, dataset_id), "ghost")
            raise


class ChunkrCancelKeepsUpdate(ChunkrTasks):
    """Cancelling a queued update restores the status but keeps the new configuration."""

    def cancel(self, user_id: str, task_id: str) -> ChunkrTask:
        def act(unit: Unit, task: ChunkrTask) -> ChunkrTask:
            status = CHUNKR_TASK.fire(task.status, ChunkrEvent.CANCEL, task)
            if task.previous is not None:
                previous = task.previous
                return attrs.evolve(
                    task, status=previous.status, message=previous.message, previous=None
                )
            return self._finished(unit, task, status, "Task cancelled")

        return self._change(task_id, user_id, act)


class ChunkrRefusedDeleteDeletes(ChunkrTasks):
    """A delete refused (the task is running) deletes the task all the same."""

    def delete(self, user_id: str, task_id: str) -> None:
        try:
            super().delete(user_id, task_id)
        except TaskNotDeletable:
            task = self.get(user_id, task_id)
            if task.status is ChunkrStatus.STARTING:
                with self.store.unit() as unit:
                    _drop(unit, task_id)
            raise


class ClaroTenantLeakSometimes(ClaroTasks):
    """Another account reads a task by its id on every other server session (each
    reset starts one): a fault that shows in some runs of a sequence and not in others."""

    sessions = itertools.count()

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.leaks = next(self.sessions) % 2 == 1

    def status(self, account_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        try:
            return super().status(account_id, dataset_id, task_id)
        except NotFound:
            if not self.leaks:
                raise
            return status_response(self.task(task_id), datetime.now(UTC))


MUTANTS: dict[str, Mutant] = {
    "claro-not-locked": Mutant("claro", "lock", _claro(ClaroNotLocked)),
    "claro-cancels-completed": Mutant("claro", "terminal", _claro(ClaroCancelsCompleted)),
    "claro-progress-drops": Mutant("claro", "progress", _claro(ClaroProgressDrops)),
    "claro-tenant-leak": Mutant("claro", "tenancy", _claro(ClaroTenantLeak)),
    "claro-refused-create-locks": Mutant("claro", "refusals", _claro(ClaroRefusedCreateLocks)),
    "chunkr-cancel-keeps-update": Mutant("chunkr", "revert", _chunkr(ChunkrCancelKeepsUpdate)),
    "chunkr-refused-delete-deletes": Mutant(
        "chunkr", "refusals", _chunkr(ChunkrRefusedDeleteDeletes)
    ),
}
"""Every mutant by name."""
