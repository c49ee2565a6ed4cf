"""The Send AI router never raises: whatever a client sends (method, path, body,
Authorization header), the answer is a response whose JSON parses, never a 500, and an
error body is always ``{"code", "message"}`` (the pattern of test_router_hardening)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from router_fuzz import HOSTILE_SEGMENTS, json_bodies
from sendai_setup import EDITOR, PROJECT, READER, TEAM, make_service, upload
from taskcore.clock import ManualClock
from taskcore.http import Request, Response
from taskcore.sendai.http import sendai_router
from taskcore.store import MemoryStore

SERVICE = make_service(MemoryStore(ManualClock()))
TASKS = upload(SERVICE, count=3)
for _task in TASKS[:2]:
    SERVICE.run_step(TEAM, _task.id)
ROUTER = sendai_router(SERVICE, {"KEY": EDITOR, "READ": READER})
IDS = [t.id for t in TASKS]

segments = st.one_of(
    st.sampled_from([TEAM, PROJECT, "globex", "receipts", *IDS, "nope", *HOSTILE_SEGMENTS]),
    st.text(max_size=6),
)  # fmt: skip
actions = st.sampled_from(["", "/unlock", "/complete", "/discard", "/report", "/approve", "/"])
paths = st.one_of(
    st.builds(lambda team, project, task, action: f"/v2/{team}/project/{project}/task/{task}"
              + action, segments, segments, segments, actions),
    st.lists(segments, max_size=6).map(lambda parts: "/v2/" + "/".join(parts)),
    st.text(max_size=40),
)  # fmt: skip
raw_bodies = st.one_of(
    st.binary(max_size=40),
    json_bodies,
    st.sampled_from([b"", b"{}", b'{"meta": []}', b'{"meta": [{"name": "total", "value": "1"}]}',
                     b'{"issues": [{"label": "a", "value": "b"}]}', b'{"issues": []}',
                     b'{"meta": [{"name": "\\ud800", "value": "x"}]}', b"[" * 1000 + b"]" * 1000,
                     b'{"meta": 1e999}', b"NaN", b"1" * 5000, b'{"\\ud800": 1}',
                     b'{"meta": [], "meta": []}']),
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["Bearer KEY", "Bearer READ", "bearer KEY", "Bearer \ud800", "Basic x", "",
                     "Bearer " + "x" * 5000]),
)  # fmt: skip


@given(
    method=st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "get", ""]),
                     st.text(max_size=5)),
    path=paths,
    body=raw_bodies,
    authorization=st.one_of(st.just("Bearer KEY"), st.none(), header_values),
)  # fmt: skip
def test_the_sendai_router_always_answers_with_a_response_whose_json_parses(
    method: str, path: str, body: bytes, authorization: str | None
) -> None:
    headers: dict[str, Any] = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = ROUTER.handle(Request(method, path, headers, body))
    assert isinstance(response, Response)
    assert response.status in {200, 201, 207, 400, 401, 404, 405}
    payload = json.loads(response.body.decode("utf-8"))
    if response.status >= 400:
        assert {"code", "message"} == set(payload)
    else:
        assert "payload" in payload
