"""A small Send AI pipeline shared by the Send AI tests: team ``acme``, project
``invoices`` (EXTRACT needing ``total``, filtering ``language=xx``; then CLASSIFY),
and keys of every kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskcore.clock import ManualClock
from taskcore.ids import SeededIds
from taskcore.sendai import (
    ApiKey,
    Document,
    FilterRule,
    IssueTracker,
    SendAITask,
    SendAITasks,
    Step,
)
from taskcore.sendai.service import PROJECTS, REPORTS, TASKS, UPLOADS
from taskcore.store import MemoryStore, SqliteStore, Store

TEAM, OTHER_TEAM, PROJECT, OTHER_PROJECT = "acme", "globex", "invoices", "receipts"
EDITOR = ApiKey(TEAM, {"task.read", "task.edit"})
READER = ApiKey(TEAM, {"task.read"})
WRITER = ApiKey(TEAM, {"task.edit"})
ALIASED = ApiKey(TEAM, {"tasks.view", "tasks.edit"})
STRANGER = ApiKey(OTHER_TEAM, {"task.read", "task.edit"})
STEPS = (
    Step("EXTRACT", ["total"], [FilterRule("language", "xx")]),
    Step("CLASSIFY"),
)


def make_store(kind: str, tmp_path: Path, clock: ManualClock) -> Store:
    if kind == "memory":
        return MemoryStore(clock)
    return SqliteStore(tmp_path / "sendai.db", clock=clock)


def make_service(store: Store, tracker: IssueTracker | None = None) -> SendAITasks:
    service = SendAITasks(
        store, ids=SeededIds(1), report_ids=SeededIds(2, "report_"), tracker=tracker
    )
    service.create_project(TEAM, PROJECT, STEPS)
    service.create_project(TEAM, OTHER_PROJECT, [Step("GROUP")])
    service.create_project(OTHER_TEAM, PROJECT, STEPS)
    return service


def upload(service: SendAITasks, upload_id: str = "up-1", count: int = 1) -> list[SendAITask]:
    docs = [Document(f"invoice-{i}.pdf", 2) for i in range(count)]
    return list(service.upload(TEAM, PROJECT, upload_id, docs))


def snapshot(store: Store) -> dict[str, list[tuple[str, Any]]]:
    """Everything the service keeps, as the store holds it."""
    with store.unit(readonly=True) as unit:
        return {t: list(unit.items(t)) for t in (PROJECTS, UPLOADS, TASKS, REPORTS)}
