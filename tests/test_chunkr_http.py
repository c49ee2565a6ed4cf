"""The Chunkr router: the five endpoints (cancel is a GET), plain-text refusals, API-key
auth with per-user tenancy, the usage limit, bad input that changes nothing, and golden
``TaskResponse`` bodies that the ``chunkr-ai`` client's own model parses
(docs/chunkr.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chunkr_ai.models import TaskResponse

from taskcore.chunkr import Chunk, ChunkrTasks, Output, Segment
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.service import FILES, OUTPUTS, TASKS
from taskcore.clock import ManualClock
from taskcore.http import MAX_JSON_DEPTH, Request, Response, Router
from taskcore.ids import SeededIds
from taskcore.quota import WindowQuota
from taskcore.store import MemoryStore

GOLDEN = Path(__file__).parent / "golden" / "chunkr"
BASE = "https://chunkr.example"
KEYS = {"key-me": "user_me", "key-other": "user_other"}
OUTPUT = Output(
    [
        Chunk(
            "chunk-1",
            [
                Segment("seg-1", "Title", "Annual report", page_width=612.0, page_height=792.0),
                Segment(
                    "seg-2", "Text", "Revenue grew.", confidence=0.98, html="<p>Revenue grew.</p>"
                ),
            ],
        )
    ],
    page_count=1,
    pdf_url="https://files.example/report.pdf",
    mime_type="application/pdf",
)


class Api:
    """A router over a fresh service, with helpers that speak like the client."""

    def __init__(self, *, usage_limit: WindowQuota | None = None, max_body: int = 1 << 20) -> None:
        self.clock = ManualClock()
        self.service = ChunkrTasks(
            MemoryStore(clock=self.clock), ids=SeededIds(7, prefix=""), usage_limit=usage_limit
        )
        self.router: Router = chunkr_router(
            self.service, KEYS, base_url=BASE + "/", max_body=max_body
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "key-me",
        raw: bytes | None = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Response:
        headers = {} if key is None else {"Authorization": key}
        data = b""
        if raw is not None or body is not None:
            headers["Content-Type"] = content_type
            data = raw if raw is not None else json.dumps(body).encode()
        return self.router.handle(Request(method, path, headers, data, query or {}))

    def create(self, **config: Any) -> str:
        body = {"file": "JVBERi0xLjQ=", "file_name": "report.pdf", **config}
        response = self.call("POST", "/api/v1/task/parse", body)
        assert 200 == response.status, response.body
        return str(response.json()["task_id"])

    def snapshot(self) -> list[Any]:
        with self.service.store.unit(readonly=True) as unit:
            return list(unit.items(TASKS)) + list(unit.items(FILES)) + list(unit.items(OUTPUTS))


def refused(api: Api, status: int, text: str, *args: Any, **kwargs: Any) -> None:
    before = api.snapshot()
    response = api.call(*args, **kwargs)
    assert (status, text) == (response.status, response.body.decode())
    assert response.headers["content-type"].startswith("text/plain")
    assert before == api.snapshot()


# -- the five endpoints ------------------------------------------------------------------


def test_a_parse_task_through_every_endpoint() -> None:
    api = Api()
    task_id = api.create(expires_in=3600)
    url = f"/api/v1/task/{task_id}"
    got = api.call("GET", url).json()
    assert ("Starting", "Task queued", BASE + url) == (
        got["status"],
        got["message"],
        got["task_url"],
    )
    api.service.start(task_id)
    api.service.succeed(task_id, OUTPUT)
    updated = api.call("PATCH", url + "/parse", {"high_resolution": True})
    assert (200, "Starting", "Task queued for update", True) == (
        updated.status,
        updated.json()["status"],
        updated.json()["message"],
        updated.json()["configuration"]["high_resolution"],
    )
    cancelled = api.call("GET", url + "/cancel")
    assert (200, b"Task cancelled", "text/plain; charset=utf-8") == (
        cancelled.status,
        cancelled.body,
        cancelled.headers["content-type"],
    )
    back = api.call("GET", url).json()
    assert ("Succeeded", "Task succeeded", None) == (
        back["status"],
        back["message"],
        back["configuration"]["high_resolution"],
    )
    deleted = api.call("DELETE", url)
    assert (200, b"Task deleted") == (deleted.status, deleted.body)
    refused(api, 404, "Task not found", "GET", url)


def test_refusals_are_plain_text_with_the_servers_messages() -> None:
    api = Api()
    task_id = api.create()
    url = f"/api/v1/task/{task_id}"
    refused(
        api,
        400,
        "Task cannot be updated: status is Starting",
        "PATCH",
        url + "/parse",
        {"high_resolution": True},
    )
    refused(api, 400, "Task cannot be deleted: status is Starting", "DELETE", url)
    api.service.start(task_id)
    refused(api, 400, "Task cannot be cancelled: status is Processing", "GET", url + "/cancel")
    api.service.succeed(task_id, OUTPUT)
    refused(
        api,
        400,
        "Task cannot be updated: new configuration must be different from the current one",
        "PATCH",
        url + "/parse",
        {},
    )


def test_another_users_task_is_not_found() -> None:
    api = Api()
    url = f"/api/v1/task/{api.create()}"
    for method, path in (("GET", url), ("GET", url + "/cancel"), ("DELETE", url)):
        refused(api, 404, "Task not found", method, path, key="key-other")
    refused(
        api,
        404,
        "Task not found",
        "PATCH",
        url + "/parse",
        {"ocr_strategy": "All"},
        key="key-other",
    )


@pytest.mark.parametrize("key", [None, "", "Bearer key-me", "nope"])
def test_a_missing_or_unknown_key_is_401(key: str | None) -> None:
    api = Api()
    url = f"/api/v1/task/{api.create()}"
    response = api.call("GET", url, key=key)
    assert 401 == response.status
    assert response.headers["content-type"].startswith("text/plain")


def test_over_the_usage_limit_a_create_is_429_with_retry_after() -> None:
    api = Api(usage_limit=WindowQuota(1, 60))
    api.create()
    before = api.snapshot()
    response = api.call("POST", "/api/v1/task/parse", {"file": "https://x.example/a.pdf"})
    assert (429, b"Usage limit exceeded") == (response.status, response.body)
    assert "retry-after" in response.headers
    assert before == api.snapshot()


def test_include_chunks_and_base64_urls() -> None:
    api = Api()
    task_id = api.create()
    api.service.start(task_id)
    api.service.succeed(task_id, OUTPUT)
    url = f"/api/v1/task/{task_id}"
    plain = api.call("GET", url).json()
    assert (1, None) == (len(plain["output"]["chunks"]), plain["configuration"]["input_file_url"])
    bare = api.call("GET", url, query={"include_chunks": "false", "base64_urls": "true"}).json()
    assert [] == bare["output"]["chunks"]
    assert "data:application/pdf;base64,JVBERi0xLjQ=" == bare["configuration"]["input_file_url"]
    refused(
        api,
        400,
        "Invalid value for include_chunks: expected true or false",
        "GET",
        url,
        query={"include_chunks": "yes"},
    )


def test_an_input_given_by_url_is_that_url() -> None:
    api = Api()
    created = api.call("POST", "/api/v1/task/parse", {"file": "https://x.example/a.pdf"}).json()
    assert "https://x.example/a.pdf" == created["configuration"]["input_file_url"]


def test_an_expired_task_is_not_found() -> None:
    api = Api()
    task_id = api.create(expires_in=10)
    api.service.start(task_id)
    api.service.succeed(task_id, OUTPUT)
    api.clock.advance(10)
    refused(api, 404, "Task not found", "GET", f"/api/v1/task/{task_id}")


# -- bad input ---------------------------------------------------------------------------

CREATE = "/api/v1/task/parse"


@pytest.mark.parametrize(
    ("raw", "content_type", "text"),
    [
        (
            b'{"file": "not base64!"}',
            "application/json",
            "Invalid value for file: not a URL nor valid base64",
        ),
        (b'{"file": ""}', "application/json", "Invalid value for file: expected a URL or base64"),
        (b'{"file": 5}', "application/json", "Invalid value for file: expected a URL or base64"),
        (b'{"file": "https://a b"}', "application/json", "Invalid file URL"),
        (b'{"file_name": "a.pdf"}', "application/json", "Missing field file"),
        (
            b'{"file": "aGk=", "file_name": 3}',
            "application/json",
            "Invalid value for file_name: expected a string of at most 255 characters",
        ),
        (b'{"file": "aGk=", "nope": 1}', "application/json", "Unknown field nope"),
        (
            b'{"file": "aGk=", "ocr_strategy": "Never"}',
            "application/json",
            "Unknown value 'Never' for ocr_strategy: expected one of All, Auto",
        ),
        (
            b'{"file": "aGk=", "expires_in": "1"}',
            "application/json",
            "Invalid value for expires_in: expected a whole number from 0 to 2147483647",
        ),
        (b"[]", "application/json", "Request body must be a JSON object"),
        (b"{", "application/json", "Request body is not valid JSON"),
        (
            b'{"file": "\\ud800"}',
            "application/json",
            "Request body holds a string that is not valid Unicode (a lone surrogate)",
        ),
        (
            b"[" * (MAX_JSON_DEPTH + 1),
            "application/json",
            f"Request body is nested deeper than {MAX_JSON_DEPTH} levels",
        ),
        (b'{"file": "aGk="}', "text/plain", "Content-Type must be application/json"),
        (b'{"file": "aGk="}', "", "Content-Type must be application/json"),
    ],
)
def test_bad_create_input_is_400_and_changes_nothing(
    raw: bytes, content_type: str, text: str
) -> None:
    api = Api()
    refused(api, 400, text, "POST", CREATE, raw=raw, content_type=content_type)


def test_a_huge_body_is_400() -> None:
    api = Api(max_body=64)
    body = json.dumps({"file": "aGk=" * 64}).encode()
    refused(api, 400, "Request body is larger than 64 bytes", "POST", CREATE, raw=body)


def test_an_update_takes_no_file() -> None:
    api = Api()
    task_id = api.create()
    api.service.start(task_id)
    api.service.succeed(task_id, OUTPUT)
    refused(
        api, 400, "Unknown field file", "PATCH", f"/api/v1/task/{task_id}/parse", {"file": "aGk="}
    )
    refused(
        api,
        400,
        "Request body must be a JSON object",
        "PATCH",
        f"/api/v1/task/{task_id}/parse",
        [1],
    )


def test_cancel_is_a_get_and_odd_paths_are_404_or_405() -> None:
    api = Api()
    task_id = api.create()
    assert 405 == api.call("POST", f"/api/v1/task/{task_id}/cancel").status
    assert "GET" == api.call("POST", f"/api/v1/task/{task_id}/cancel").headers["allow"]
    assert 404 == api.call("GET", "/api/v1/task/a%2Fb").status
    assert 404 == api.call("GET", "/api/v1/tasks").status


# -- golden TaskResponse bodies, parsed by the chunkr-ai client's own model ---------------


def scenario() -> dict[str, dict[str, Any]]:
    """Every status, chunks on and off, through the router (deterministic ids and times)."""
    api = Api()
    bodies: dict[str, dict[str, Any]] = {}
    config = {
        "expires_in": 86400,
        "ocr_strategy": "Auto",
        "segment_processing": {"table": {"format": "Html"}},
    }
    new = api.create(**config)
    url = f"/api/v1/task/{new}"
    bodies["starting"] = api.call("GET", url).json()
    api.clock.advance(2)
    api.service.start(new)
    bodies["processing"] = api.call("GET", url).json()
    api.clock.advance(3)
    api.service.succeed(new, OUTPUT)
    bodies["succeeded"] = api.call("GET", url).json()
    bodies["succeeded_without_chunks"] = api.call(
        "GET", url, query={"include_chunks": "false"}
    ).json()
    update = {
        "chunk_processing": {"target_length": 512, "tokenizer": {"Enum": "Cl100kBase"}},
        "llm_processing": {"fallback_strategy": {"Model": "gpt-4o"}, "temperature": 0.0},
    }
    bodies["starting_for_update"] = api.call("PATCH", url + "/parse", update).json()
    failing = api.create()
    api.service.start(failing)
    api.clock.advance(1)
    api.service.fail(failing, "Could not read the document")
    bodies["failed"] = api.call("GET", f"/api/v1/task/{failing}").json()
    cancelled = api.create()
    api.call("GET", f"/api/v1/task/{cancelled}/cancel")
    bodies["cancelled"] = api.call("GET", f"/api/v1/task/{cancelled}").json()
    return bodies


BODIES = scenario()


@pytest.mark.parametrize("name", sorted(BODIES))
def test_golden_task_response(name: str) -> None:
    golden = json.loads((GOLDEN / f"task_response.{name}.json").read_text(encoding="utf-8"))
    assert golden == BODIES[name]


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_chunkr_ai_client_parses_every_task_response(name: str) -> None:
    body = BODIES[name]
    parsed = TaskResponse(**body)
    assert (body["task_id"], body["status"], body["message"]) == (
        parsed.task_id,
        parsed.status.value,
        parsed.message,
    )
    assert body["task_url"] == parsed.task_url
    assert (body["output"] is None) == (parsed.output is None)
    if parsed.output is not None:
        assert len(body["output"]["chunks"]) == len(parsed.output.chunks)
    if body["configuration"]["segment_processing"] is not None:
        assert parsed.configuration.segment_processing is not None


def test_the_client_reads_what_it_sent() -> None:
    body = BODIES["starting_for_update"]
    parsed = TaskResponse(**body)
    assert 512 == parsed.configuration.chunk_processing.target_length
    assert "Html" == parsed.configuration.segment_processing.table.format.value
    assert "gpt-4o" == parsed.configuration.llm_processing.fallback_strategy.model_id
    assert BODIES["succeeded"]["output"]["chunks"][0]["segments"][1]["content"] == (
        TaskResponse(**BODIES["succeeded"]).output.chunks[0].segments[1].content
    )
