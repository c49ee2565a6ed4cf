"""docs/server.md, "Webhook delivery", says what the code does: its examples run, its
schedule table is the default schedule, its header table is what a request carries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import standardwebhooks

from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks
from taskcore.clock import ManualClock
from taskcore.delivery import Backoff, Dispatcher
from taskcore.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent


def section() -> str:
    """The section, read when a test runs (collecting needs no docs/ beside tests/)."""
    text = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    return text.split("\n## Webhook delivery\n", 1)[1].split("\n## ", 1)[0]


def blocks() -> list[str]:
    return [block.split("```", 1)[0] for block in section().split("```python\n")[1:]]


def table(title: str) -> list[list[str]]:
    """The rows of the first table after the ``### title`` heading (header row dropped)."""
    part = section().split(f"\n### {title}\n", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in part.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def spoken(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def test_the_schedule_table_is_the_default_schedule() -> None:
    rows = table("The schedule")
    expected = [f"0 to {spoken(c)}" for c in Backoff().schedule()]
    assert [*expected, "none: the notification is given up"] == [row[1] for row in rows]
    assert Backoff().attempts == len(rows)


def test_the_header_table_names_what_a_request_carries() -> None:
    with MemoryStore() as store:
        service = ClaroTasks(store)
        service.register_webhook("acct", "https://r.example/", "s", webhook_id="wh")
        dataset = service.create_dataset("acct", Grid(["r1"], ["c1"]))
        task = service.create_bulk("acct", dataset, {"webhookId": "wh"})
        service.fail(task.task_id, token=task.lease_token)
        [record] = service.outbox()
        headers = Dispatcher(service).headers(record, 1_700_000_000)
    assert [f"`{name}`" for name in headers] == [row[0] for row in table("What a request carries")]


def test_the_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    setup, verify = blocks()
    monkeypatch.chdir(tmp_path)
    exec(compile(setup, "docs/server.md", "exec"), {})
    namespace: dict[str, object] = {}
    exec(compile(verify, "docs/server.md", "exec"), namespace)
    receive = namespace["receive"]
    assert callable(receive)

    sent: list[tuple[bytes, dict[str, str]]] = []

    def capture(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        sent.append((body, dict(headers)))
        return 500

    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    with MemoryStore(clock=clock) as store:
        service = ClaroTasks(store)
        service.register_webhook("acct", "https://r.example/", "s3cret", webhook_id="wh")
        dataset = service.create_dataset("acct", Grid(["r1"], ["c1"]))
        task = service.create_bulk("acct", dataset, {"webhookId": "wh"})
        service.fail(task.task_id, token=task.lease_token)
        Dispatcher(service, send=capture).run_once()  # stamped with the real time
        stale = ManualClock(datetime.now(UTC) - timedelta(minutes=6))
        clock.advance(Backoff().ceiling(1))
        Dispatcher(service, send=capture, clock=stale).run_once()
    (body, fresh), (_, replayed) = sent
    assert task.task_id == receive(body, fresh, "s3cret")["taskId"]
    with pytest.raises(PermissionError):
        receive(body, fresh, "another secret")
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        receive(body, replayed, "s3cret")
    assert re.fullmatch(r"msg_[0-9a-f]{32}", fresh["webhook-id"])
