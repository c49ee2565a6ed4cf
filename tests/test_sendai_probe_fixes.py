"""Send AI edges found by probing the slice from outside: a report kept only with what
the tracker said, a bounded meta, documents and keys that are what they say, a JSON
``null`` that is a body, and a blank body that is still measured."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskcore.errors import StoreBusy, ValidationError
from taskcore.http import Request, Response
from taskcore.sendai import ApiKey, Document, Issue, MetaField, SendAITasks, Step
from taskcore.sendai.http import MAX_BODY_BYTES, sendai_router
from taskcore.sendai.task import MAX_TASK_META
from taskcore.store import SqliteStore

KEY = ApiKey("t1", {"task.read", "task.edit"})


def reviewing(service: SendAITasks) -> str:
    service.create_project("t1", "p", [Step("EXTRACT", ["total"])])
    (task,) = service.upload("t1", "p", "u1", [Document("a.pdf", 2)])
    service.run_step("t1", task.id)
    return task.id


def call(service: SendAITasks, method: str, path: str, body: bytes = b"") -> Response:
    router = sendai_router(service, {"key": KEY})
    headers = {"Authorization": "Bearer key", "Content-Type": "application/json"}
    return router.handle(Request(method, f"/v2/t1/project/p/task/{path}", headers, body))


def test_a_report_refused_by_a_busy_store_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    class Blocking:
        holder: sqlite3.Connection | None = None

        def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
            if self.holder is None:  # the first time, the store stays busy past its timeout
                self.holder = sqlite3.connect(path, isolation_level=None)
                self.holder.execute("BEGIN IMMEDIATE")
            return False

    tracker = Blocking()
    with SqliteStore(path, busy_timeout=0.05) as store:
        service = SendAITasks(store, tracker=tracker)
        task_id = reviewing(service)
        with pytest.raises(StoreBusy):
            service.report(KEY, "p", task_id, [Issue("ocr", "bad")])
        assert tracker.holder is not None
        tracker.holder.close()
        assert () == service.reports(KEY, "p", task_id)
        _, report = service.report(KEY, "p", task_id, [Issue("ocr", "bad")])
        assert (Issue("ocr", "bad"),) == report.failed_issues  # kept with what was refused
        assert [report] == list(service.reports(KEY, "p", task_id))


def test_a_task_holds_a_bounded_meta() -> None:
    service = SendAITasks()
    task_id = reviewing(service)
    many = [MetaField(f"f{i}", "v") for i in range(MAX_TASK_META + 1)]
    with pytest.raises(ValidationError) as caught:
        service.complete(KEY, "p", task_id, many)
    assert "meta" == caught.value.field
    assert () == service.get(KEY, "p", task_id).meta


@pytest.mark.parametrize(
    "document", [{"name": "a.pdf", "pages": 2.0}, {"name": "a.pdf", "pages": True}, {"name": b"a"}]
)
def test_a_document_is_what_it_says(document: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Document(**document)


def test_a_lone_string_is_not_a_list_of_names() -> None:
    with pytest.raises(TypeError):
        Step("EXTRACT", "total")
    with pytest.raises(TypeError):
        ApiKey("t1", "task.read")


def test_a_json_null_body_does_not_complete_the_task() -> None:
    service = SendAITasks()
    task_id = reviewing(service)
    answer = call(service, "POST", f"{task_id}/complete", b"null")
    assert (400, "VALIDATION_ERROR") == (answer.status, answer.json()["code"])
    assert "REVIEWING" == service.get(KEY, "p", task_id).status


@pytest.mark.parametrize("action", ["discard", "unlock"])
def test_a_blank_body_over_the_limit_is_refused(action: str) -> None:
    service = SendAITasks()
    task_id = reviewing(service)
    answer = call(service, "PUT", f"{task_id}/{action}", b" " * (MAX_BODY_BYTES + 1))
    assert 400 == answer.status
    assert "REVIEWING" == service.get(KEY, "p", task_id).status


def test_a_validation_error_names_its_field_in_the_message() -> None:
    service = SendAITasks()
    task_id = reviewing(service)
    body = b'{"meta": [{"name": "total", "value": "1", "z": 1}]}'
    answer = call(service, "POST", f"{task_id}/complete", body)
    assert 400 == answer.status
    assert answer.json()["message"].endswith("(field: meta.z)")
