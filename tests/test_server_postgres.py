"""Two ``taskcore serve --store postgres:DSN`` processes on different ports share one
database: what one does, the other sees, and the dataset lock holds across them."""

from __future__ import annotations

import json
from pathlib import Path

from postgres_server import wipe
from server_helpers import call
from test_server_http import CLARO, CLARO_AUTH, Server


def test_two_servers_on_one_database_share_tasks_and_the_dataset_lock(
    postgres_dsn: str, tmp_path: Path
) -> None:
    wipe(postgres_dsn)
    store = f"postgres:{postgres_dsn}"
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"claro": {"YOUR_API_KEY": "acme"}}), encoding="utf-8")
    first = Server("--demo", "--store", store, "--no-webhooks")
    try:
        # The second finds the demo data in the database already: it needs only the key.
        second = Server("--keys", str(keys), "--store", store, "--no-webhooks")
        try:
            drive(first.url, second.url)
        finally:
            assert 0 == second.stop()[0]
    finally:
        assert 0 == first.stop()[0]


def drive(first: str, second: str) -> None:
    assert first != second
    body = json.dumps({"processOnlyEmpty": True}).encode()
    created = call(first, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert 201 == created.status, created.body
    task_id = json.loads(created.body)["taskId"]

    # The lock taken through the first server holds for the second.
    refused = call(second, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert (409, "DATASET_LOCKED") == (refused.status, json.loads(refused.body)["code"])

    # A task created through one is cancelled through the other; both see it.
    cancelled = call(second, "DELETE", f"{CLARO}/{task_id}", headers=CLARO_AUTH)
    assert 200 == cancelled.status, cancelled.body
    seen = call(first, "GET", f"{CLARO}/{task_id}", headers=CLARO_AUTH)
    assert "cancelled" == json.loads(seen.body)["status"]

    # The cancel released the lock: the first server may start a new task.
    again = call(first, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert 201 == again.status, again.body
