"""``taskcore serve`` with its background work: the simulated worker moving tasks so that
polling shows progress, its control routes (mounted only when asked for), and webhook
delivery that survives a SIGKILL on the SQLite store."""

from __future__ import annotations

import http.server
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_helpers import START_TIMEOUT, call
from taskcore.claro.webhooks import verify_signature
from test_server_http import CLARO, CLARO_AUTH, DATASET, Server

FIXTURE = Path(__file__).resolve().parent.parent / "src" / "taskcore" / "demo_fixture.json"


def poll(until: Any, what: str) -> Any:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = until()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_worker_moves_a_bulk_task_to_completion_while_it_is_polled() -> None:
    server = Server("--demo", "--worker", "0.02", "--no-webhooks")
    try:
        body = json.dumps({"processOnlyEmpty": True}).encode()
        created = call(server.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
        assert 201 == created.status, created.body
        task_id = json.loads(created.body)["taskId"]
        seen: list[int] = []

        def done() -> bool:
            answer = call(server.url, "GET", f"{CLARO}/{task_id}", headers=CLARO_AUTH)
            data = json.loads(answer.body)
            seen.append(data.get("progress", {}).get("completed", 0))
            return bool(data["status"] == "completed")

        poll(done, "the bulk task to complete")
        assert seen == sorted(seen)
        assert seen[-1] > 0
    finally:
        assert 0 == server.stop()[0]


def test_control_routes_answer_only_when_mounted() -> None:
    with_control = Server("--demo", "--worker-control", "--no-webhooks")
    without = Server("--demo", "--no-webhooks")
    try:
        answer = call(with_control.url, "POST", "/_taskcore/worker/tick")
        assert 200 == answer.status
        assert "moved" in json.loads(answer.body)
        assert 404 == call(without.url, "POST", "/_taskcore/worker/tick").status
    finally:
        assert 0 == with_control.stop()[0]
        assert 0 == without.stop()[0]


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_a_webhook_owed_when_the_server_is_killed_is_delivered_after_a_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    (webhook,) = fixture["claro"]["accounts"][0]["webhooks"]
    webhook["url"] = receiver.url
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    store = f"sqlite:{tmp_path / 'taskcore.db'}"

    first = Server("--store", store, "--fixtures", str(path), "--worker-control", "--no-webhooks")
    body = json.dumps({"processOnlyEmpty": True, "webhookId": webhook["id"]}).encode()
    created = call(first.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert 201 == created.status, created.body
    task_id = json.loads(created.body)["taskId"]
    second = call(first.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
    assert (409, "DATASET_LOCKED") == (
        second.status,
        json.loads(second.body)["code"],
    )
    finish = call(first.url, "POST", f"/_taskcore/worker/claro/tasks/{task_id}/finish")
    assert 200 == finish.status, finish.body
    first.process.send_signal(signal.SIGKILL)
    first.process.communicate(timeout=START_TIMEOUT)
    assert [] == receiver.received

    # The fixture is in the file already: the restart loads nothing more.
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"claro": {"YOUR_API_KEY": "acme"}}), encoding="utf-8")
    again = Server("--store", store, "--keys", str(keys))
    try:
        answer = call(again.url, "GET", f"{CLARO}/{task_id}", headers=CLARO_AUTH)
        assert "completed" == json.loads(answer.body)["status"]
        poll(lambda: receiver.received, "the owed webhook")
        headers, delivered = receiver.received[0]
        assert task_id == json.loads(delivered)["taskId"]
        assert verify_signature(webhook["secret"], delivered, headers["x-webhook-signature"])
        assert DATASET == json.loads(delivered)["datasetId"]
        # The lock was released with the task: a new task may start.
        created = call(again.url, "POST", f"{CLARO}/bulk", headers=CLARO_AUTH, body=body)
        assert 201 == created.status, created.body
    finally:
        assert 0 == again.stop()[0]


def test_each_api_s_openapi_document_is_served() -> None:
    server = Server("--no-webhooks")
    try:
        for api in ("claro", "sendai", "chunkr", "visual_layer"):
            answer = call(server.url, "GET", f"/openapi/{api}.json")
            assert 200 == answer.status
            assert "3.1.0" == json.loads(answer.body)["openapi"]
    finally:
        assert 0 == server.stop()[0]
