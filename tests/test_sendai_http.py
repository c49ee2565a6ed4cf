"""The Send AI router: the five endpoints, their envelopes against the golden shapes
(tests/golden/sendai), statuses 200/201/207/400/401/404, bad input that changes nothing,
and the reference's three workflows as scenarios (docs/sendai.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sendai_setup import (
    EDITOR,
    OTHER_PROJECT,
    OTHER_TEAM,
    PROJECT,
    READER,
    STRANGER,
    TEAM,
    make_service,
    make_store,
    snapshot,
    upload,
)
from taskcore.clock import ManualClock
from taskcore.http import Request, Response
from taskcore.sendai import ApiKey, FailingTracker, Issue, MemoryTracker, SendAIStatus
from taskcore.sendai.http import MAX_BODY_BYTES, sendai_router

GOLDEN = Path(__file__).parent / "golden" / "sendai"
KEYS = {
    "EDIT": EDITOR,
    "READ": READER,
    "WRITE": ApiKey(TEAM, {"task.edit"}),
    "OTHER": STRANGER,
}
GOLDEN_ID = "task_7"


def golden_files() -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", (GOLDEN / "README.md").read_text(), re.M)


def golden(name: str, task_id: str) -> Any:
    return json.loads((GOLDEN / name).read_text().replace(GOLDEN_ID, task_id))


class Api:
    """A service with a router, a clock and a tracker, on one store."""

    def __init__(self, kind: str, tmp_path: Path, tracker: MemoryTracker | None = None) -> None:
        self.clock = ManualClock()
        self.store = make_store(kind, tmp_path, self.clock)
        self.tracker = tracker or MemoryTracker()
        self.service = make_service(self.store, self.tracker)
        self.router = sendai_router(self.service, KEYS)

    def call(
        self,
        method: str,
        task_id: str,
        action: str = "",
        body: Any = None,
        *,
        key: str | None = "EDIT",
        team: str = TEAM,
        project: str = PROJECT,
        raw: bytes | None = None,
    ) -> Response:
        path = f"/v2/{team}/project/{project}/task/{task_id}" + (f"/{action}" if action else "")
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        return self.router.handle(Request(method, path, headers, data))

    def reviewing(self, upload_id: str = "up-1") -> str:
        (task,) = upload(self.service, upload_id)
        return self.service.run_step(TEAM, task.id).id


@pytest.fixture(params=["memory", "sqlite"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    made = Api(request.param, tmp_path)
    with made.store:
        yield made


def test_every_golden_file_is_in_the_readme_table() -> None:
    listed = golden_files()
    assert sorted(listed) == sorted(p.name for p in GOLDEN.glob("*.json"))


# -- golden shapes ----------------------------------------------------------------------


def test_get_answers_the_payload_envelope(api: Api) -> None:
    task_id = api.reviewing()
    response = api.call("GET", task_id, key="READ")
    assert (200, "application/json") == (response.status, response.headers["content-type"])
    assert golden("get_task.success.json", task_id) == response.json()
    assert list(golden("get_task.success.json", task_id)["payload"]) == list(
        response.json()["payload"]
    )


def test_complete_answers_processing_and_task_processing_started(api: Api) -> None:
    task_id = api.reviewing()
    response = api.call(
        "POST", task_id, "complete", {"meta": [{"name": "total", "value": "42.00"}]}
    )
    assert 200 == response.status
    assert golden("complete_task.success.json", task_id) == response.json()


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_discard_then_unlock_answer_the_payload_envelope(api: Api, method: str) -> None:
    task_id = api.reviewing()
    response = api.call(method, task_id, "discard")
    assert (200, golden("discard_task.success.json", task_id)) == (response.status, response.json())
    api.clock.advance(timedelta(minutes=1))
    response = api.call(method, task_id, "unlock")
    assert (200, golden("unlock_task.success.json", task_id)) == (response.status, response.json())


def test_report_is_201_with_the_task_unchanged(api: Api) -> None:
    task_id = api.reviewing()
    response = api.call("POST", task_id, "report", {"issues": [{"label": "q", "value": "blurry"}]})
    assert (201, golden("report_task.created.json", task_id)) == (response.status, response.json())
    assert 1 == len(api.service.reports(READER, PROJECT, task_id))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_report_is_207_naming_what_the_tracker_refused(kind: str, tmp_path: Path) -> None:
    api = Api(kind, tmp_path, FailingTracker(lambda issue: issue.label == "external"))
    with api.store:
        task_id = api.reviewing()
        issues = [
            {"label": "q", "value": "blurry"},
            {"label": "external", "value": "sync to tracker"},
        ]
        response = api.call("POST", task_id, "report", {"issues": issues, "message": "see page 2"})
        expected = golden("report_task.multi_status.json", task_id)
        assert (207, expected) == (response.status, response.json())
        (report,) = api.service.reports(READER, PROJECT, task_id)
    assert ("see page 2", (Issue("external", "sync to tracker"),)) == (
        report.message,
        report.failed_issues,
    )


def test_the_error_bodies(api: Api) -> None:
    task_id = api.reviewing()
    response = api.call("POST", task_id, "complete")
    expected = golden("complete_task.validation_failed_error.json", task_id)
    assert (400, expected) == (response.status, response.json())
    api.call("POST", task_id, "discard")
    response = api.call("POST", task_id, "complete")
    expected = golden("complete_task.invalid_state_error.json", task_id)
    assert (400, expected) == (response.status, response.json())
    response = api.call("GET", task_id, key="OTHER")
    assert (404, golden("get_task.not_found_error.json", task_id)) == (
        response.status,
        response.json(),
    )
    response = api.call("GET", task_id, key="nope")
    assert (401, golden("get_task.unauthorized_error.json", task_id)) == (
        response.status,
        response.json(),
    )
    assert "Bearer" == response.headers["www-authenticate"]


def test_an_exported_task_unlock_error(api: Api) -> None:
    task_id = api.reviewing()
    api.call("POST", task_id, "complete", {"meta": [{"name": "total", "value": "1"}]})
    api.service.run_step(TEAM, task_id)
    api.call("POST", task_id, "complete")
    api.service.run_step(TEAM, task_id)
    api.service.export(TEAM, task_id)
    response = api.call("POST", task_id, "unlock")
    assert (400, golden("unlock_task.exported_error.json", task_id)) == (
        response.status,
        response.json(),
    )


# -- scopes, tenancy, bad input: documented status, nothing changed ----------------------


def refused(api: Api, status: int, code: str, *args: Any, **kwargs: Any) -> None:
    before = snapshot(api.store)
    response = api.call(*args, **kwargs)
    assert (status, code) == (response.status, response.json()["code"])
    assert {"code", "message"} == set(response.json())
    assert before == snapshot(api.store)


@pytest.mark.parametrize(
    ("method", "action", "key"),
    [("GET", "", "WRITE"), ("POST", "unlock", "READ"), ("PUT", "unlock", "READ"),
     ("POST", "complete", "READ"), ("POST", "discard", "READ"), ("PUT", "discard", "READ"),
     ("POST", "report", "READ"), ("GET", "", None), ("POST", "discard", "unknown")],
)  # fmt: skip
def test_a_bad_key_or_a_missing_scope_is_401(
    api: Api, method: str, action: str, key: str | None
) -> None:
    task_id = api.reviewing()
    body = {"issues": [{"label": "a", "value": "b"}]} if action == "report" else None
    refused(api, 401, "UNAUTHORIZED", method, task_id, action, body, key=key)


def test_a_missing_scope_is_401_even_for_a_task_that_does_not_exist(api: Api) -> None:
    refused(api, 401, "UNAUTHORIZED", "POST", "nope", "discard", key="READ")


@pytest.mark.parametrize("action", ["", "unlock", "complete", "discard", "report"])
def test_another_teams_task_is_404(api: Api, action: str) -> None:
    task_id = api.reviewing()
    body = {"issues": [{"label": "a", "value": "b"}]} if action == "report" else None
    method = "GET" if not action else "POST"
    refused(api, 404, "TASK_NOT_FOUND", method, task_id, action, body, key="OTHER")
    refused(api, 404, "TASK_NOT_FOUND", method, task_id, action, body, key="OTHER",
            team=OTHER_TEAM)  # fmt: skip
    refused(api, 404, "TASK_NOT_FOUND", method, task_id, action, body, team=OTHER_TEAM)


@pytest.mark.parametrize("action", ["", "unlock", "complete", "discard", "report"])
def test_a_task_under_another_projects_path_is_404(api: Api, action: str) -> None:
    task_id = api.reviewing()
    body = {"issues": [{"label": "a", "value": "b"}]} if action == "report" else None
    method = "GET" if not action else "POST"
    refused(api, 404, "TASK_NOT_FOUND", method, task_id, action, body, project=OTHER_PROJECT)


BAD_BODIES = [
    b"[]", b'{"meta": {}}', b'{"meta": [{"name": "total"}]}',
    b'{"meta": [{"name": 1, "value": "x"}]}',
    b'{"meta": [{"name": "", "value": "x"}]}', b'{"meta": [], "extra": 1}',
    b'{"meta": [{"name": "a", "value": "b", "c": 1}]}',
    b'{"meta": [{"name": "\\ud800", "value": "x"}]}',
    b"[" * 100 + b"]" * 100, b"not json", b'{"meta": [1]}', b"\xff",
    b'{"meta": [], "meta": []}', b'{"meta": 1e999}', b'{"meta": NaN}', b"1" * 200,
    b'{"meta": [{"name": "total", "value": "' + b"x" * 10_001 + b'"}]}',
    b'{"meta": [' + b",".join([b'{"name": "a", "value": "b"}'] * 201) + b"]}",
]  # fmt: skip


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_a_bad_complete_body_is_400_and_changes_nothing(api: Api, raw: bytes) -> None:
    task_id = api.reviewing()
    refused(api, 400, "VALIDATION_ERROR", "POST", task_id, "complete", raw=raw)


def test_a_huge_body_is_400_and_changes_nothing(api: Api) -> None:
    task_id = api.reviewing()
    raw = b'{"meta": [], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    for action in ("complete", "report", "discard", "unlock"):
        refused(api, 400, "VALIDATION_ERROR", "POST", task_id, action, raw=raw)


def test_a_bad_body_for_an_unknown_task_is_404(api: Api) -> None:
    refused(api, 404, "TASK_NOT_FOUND", "POST", "nope", "complete", raw=b"[]")
    refused(api, 404, "TASK_NOT_FOUND", "POST", "nope", "report", raw=b"{}")


BAD_REPORTS: list[Any] = [
    None, {}, {"issues": []}, {"issues": {}}, {"issues": [{"label": "a"}]},
    {"issues": [{"label": "", "value": "x"}]}, {"issues": [{"label": "a", "value": 1}]},
    {"issues": [{"label": "a", "value": "b"}], "message": 3},
    {"issues": [{"label": "a", "value": "b"}], "extra": True}, {"issues": ["a"]},
    {"issues": [{"label": "a", "value": "b"}] * 101},
]  # fmt: skip


@pytest.mark.parametrize("body", BAD_REPORTS)
def test_a_missing_empty_or_malformed_issues_is_400(api: Api, body: Any) -> None:
    task_id = api.reviewing()
    refused(api, 400, "VALIDATION_ERROR", "POST", task_id, "report", body)
    assert () == api.service.reports(READER, PROJECT, task_id)


@pytest.mark.parametrize("action", ["unlock", "discard"])
def test_unlock_and_discard_take_no_body_fields(api: Api, action: str) -> None:
    task_id = api.reviewing()
    refused(api, 400, "VALIDATION_ERROR", "POST", task_id, action, {"force": True})
    assert 200 == api.call("POST", task_id, "discard", {}).status


def test_a_refused_state_is_400_and_changes_nothing(api: Api) -> None:
    task_id = api.reviewing()
    refused(api, 400, "INVALID_TASK_STATE", "POST", task_id, "unlock")
    api.call("POST", task_id, "discard")
    refused(api, 400, "INVALID_TASK_STATE", "PUT", task_id, "discard")


def test_a_wrong_method_is_405_and_an_unknown_path_404(api: Api) -> None:
    task_id = api.reviewing()
    assert 405 == api.call("PUT", task_id, "complete").status
    assert 405 == api.call("DELETE", task_id).status
    assert 404 == api.call("POST", task_id, "approve").status


# -- the reference's three workflows, step by step --------------------------------------


def test_quality_control_workflow(api: Api) -> None:
    bad, good = api.reviewing("up-bad"), api.reviewing("up-good")
    # 1. GET /task/{id} to retrieve task details
    assert "REVIEWING" == api.call("GET", bad, key="READ").json()["payload"]["status"]
    # 2. quality issues found: POST /task/{id}/report
    issue = {"issues": [{"label": "quality", "value": "blurry scan"}]}
    assert 201 == api.call("POST", bad, "report", issue).status
    # 3. either fix and POST /task/{id}/complete ...
    fixed = {"meta": [{"name": "total", "value": "12.50"}]}
    assert "PROCESSING" == api.call("POST", good, "complete", fixed).json()["payload"]["status"]
    # ... or PUT /task/{id}/discard
    assert "DISCARDED" == api.call("PUT", bad, "discard").json()["payload"]["status"]


def test_correction_workflow(api: Api) -> None:
    task_id = api.reviewing()
    api.call("POST", task_id, "complete", {"meta": [{"name": "total", "value": "1"}]})
    api.service.run_step(TEAM, task_id)
    api.call("POST", task_id, "complete")
    assert SendAIStatus.COMPLETED == api.service.run_step(TEAM, task_id).status
    # 1. PUT /task/{id}/unlock to unlock a completed task
    assert "REVIEWING" == api.call("PUT", task_id, "unlock").json()["payload"]["status"]
    # 2. make necessary corrections; 3. POST /task/{id}/complete to reprocess
    corrected = {"meta": [{"name": "total", "value": "2"}]}
    response = api.call("POST", task_id, "complete", corrected)
    assert ("PROCESSING", "Task processing started") == (
        response.json()["payload"]["status"],
        response.json()["message"],
    )
    task = api.service.run_step(TEAM, task_id)
    assert (SendAIStatus.COMPLETED, "2") == (task.status, task.meta[0].value)


def test_batch_processing_workflow(api: Api) -> None:
    tasks = upload(api.service, "batch", count=3)
    for task in tasks:
        api.service.run_step(TEAM, task.id)
    # 1. retrieve multiple tasks from uploads (a service call: no endpoint)
    listed = api.service.tasks_of_upload(READER, "batch")
    assert [t.id for t in tasks] == [t.id for t in listed]
    # 2. process each task programmatically; 3. POST /task/{id}/complete with extracted data
    extracted = [{"name": "total", "value": "9"}]
    first, second, third = (t.id for t in listed)
    assert 200 == api.call("POST", first, "complete", {"meta": extracted}).status
    # 4. handle errors with POST /task/{id}/report or PUT /task/{id}/discard
    assert 400 == api.call("POST", second, "complete").status
    no_total = {"issues": [{"label": "extraction", "value": "no total"}]}
    assert 201 == api.call("POST", second, "report", no_total).status
    assert 200 == api.call("PUT", third, "discard").status
    statuses = [t.status.value for t in api.service.tasks_of_upload(READER, "batch")]
    assert ["PROCESSING", "REVIEWING", "DISCARDED"] == statuses


def test_a_repeated_get_answers_alike_and_a_change_shows_at_once(api: Api) -> None:
    task_id = api.reviewing()
    first, second = api.call("GET", task_id, key="READ"), api.call("GET", task_id, key="READ")
    assert (200, first.body) == (second.status, second.body)
    api.call("POST", task_id, "discard")
    assert "DISCARDED" == api.call("GET", task_id, key="READ").json()["payload"]["status"]
