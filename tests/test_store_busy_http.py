"""A busy database is an answer, not a crash: the Claro router says 503 ``STORE_BUSY``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.http import Request
from taskcore.store import SqliteStore

KEY = "key"


def test_a_database_held_by_another_connection_is_503_store_busy_on_reads_and_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "claro.db"
    # No idle connection is kept, so the other connection can hold the file exclusively,
    # which keeps out readers as well as writers.
    with SqliteStore(path, busy_timeout=0.05, max_idle_connections=0) as store:
        service = ClaroTasks(store)
        service.create_dataset("acc", Grid(["r1"], ["c1"]), dataset_id="ds_1")
        task = service.create_new_rows("acc", "ds_1", {"rowCount": 1})
        router = claro_router(service, {KEY: "acc"})
        tasks = "/api/v2/datasets/ds_1/tasks"
        calls = [
            ("GET", f"{tasks}/{task.task_id}", b""),
            ("POST", f"{tasks}/new-rows", json.dumps({"rowCount": 1}).encode()),
            ("DELETE", f"{tasks}/{task.task_id}", b""),
        ]
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("SELECT 1 FROM documents").fetchall()
            for method, target, body in calls:
                headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
                response = router.handle(Request(method, target, headers, body))
                assert (503, "STORE_BUSY", 1) == (
                    response.status,
                    response.json()["code"],
                    response.json()["details"]["retryAfterSeconds"],
                )
        finally:
            holder.close()
        assert task == service.get("acc", "ds_1", task.task_id)
        lease = service.locks.holder("ds_1")
        assert lease is not None
        assert task.task_id == lease.holder_task_id
