"""The Chunkr router never raises: any method, path, body, query and headers get a
response; refusals are plain text, never a 500 (the router property test pattern of
tests/test_router_hardening.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from router_fuzz import HOSTILE_SEGMENTS, json_bodies
from taskcore.chunkr import Chunk, ChunkrTasks, Output, Segment
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.wire import parse_create
from taskcore.clock import ManualClock
from taskcore.http import Request, Response
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore

SERVICE = ChunkrTasks(MemoryStore(clock=ManualClock()), ids=SeededIds(11, prefix=""))
ROUTER = chunkr_router(SERVICE, {"KEY": "user"}, max_body=4096)
# One task in each of Starting and Succeeded, so ids reach every branch of the service.
QUEUED = SERVICE.create("user", parse_create({"file": "aGk="}))
DONE = SERVICE.create("user", parse_create({"file": "aGk="}))
SERVICE.start(DONE.task_id)
SERVICE.succeed(DONE.task_id, Output([Chunk("c", [Segment("s", "Text", "x")])]))

segments = st.one_of(
    st.sampled_from([QUEUED.task_id, DONE.task_id, "parse", "cancel", *HOSTILE_SEGMENTS]),
    st.text(max_size=6),
)  # fmt: skip
paths = st.one_of(
    st.lists(segments, max_size=3).map(lambda parts: "/api/v1/task/" + "/".join(parts)),
    st.builds(lambda s, tail: f"/api/v1/task/{s}{tail}", segments,
              st.sampled_from(["", "/parse", "/cancel", "\n", "/", "//", "%0A"])),
    st.text(max_size=40),
)  # fmt: skip
config_bodies = st.fixed_dictionaries(
    {},
    optional={
        "file": st.sampled_from(["aGk=", "https://x.example/a.pdf", "!!", "", 3]),
        "file_name": st.one_of(st.text(max_size=5), st.integers()),
        "high_resolution": st.one_of(st.booleans(), st.text(max_size=2)),
        "ocr_strategy": st.sampled_from(["All", "Auto", "Never", 1]),
        "expires_in": st.one_of(st.integers(-5, 2**32), st.floats()),
        "segment_processing": st.dictionaries(
            st.sampled_from(["Table", "table", "Tables", "ListItem"]),
            st.one_of(st.none(), st.dictionaries(st.sampled_from(["format", "x"]),
                                                 st.sampled_from(["Html", "Nope", 1]))),
            max_size=2,
        ),
        "chunk_processing": st.sampled_from([{"tokenizer": {"Enum": "Word"}}, {"tokenizer": "x"},
                                             {"target_length": -1}, []]),
    },
).map(lambda value: json.dumps(value).encode())  # fmt: skip
raw_bodies = st.one_of(
    st.binary(max_size=40),
    json_bodies,
    config_bodies,
    st.sampled_from([b'{"file": "aGk=", "file": "aGk="}', b'{"file": "\\ud800"}',
                     b"[" * 1000 + b"]" * 1000, b'{"expires_in": 1e999}', b"NaN",
                     b"1" * 5000, b'{"\\ud800": 1}']),
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=12), st.sampled_from(["KEY", "Bearer KEY", " KEY", "\ud800", "k" * 5000])
)
queries = st.dictionaries(
    st.sampled_from(["include_chunks", "base64_urls", "other"]),
    st.one_of(st.sampled_from(["true", "false", "True", "1", ""]), st.text(max_size=3)),
    max_size=2,
)


@given(
    method=st.one_of(
        st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "get", ""]), st.text(max_size=5)
    ),
    path=paths,
    body=raw_bodies,
    authorization=st.one_of(st.just("KEY"), st.none(), header_values),
    content_type=st.one_of(
        st.none(), st.sampled_from(["application/json", "application/json; charset=utf-8",
                                    "text/plain", "APPLICATION/JSON", "\ud800"])
    ),
    query=queries,
)  # fmt: skip
def test_the_chunkr_router_always_answers_and_refuses_in_plain_text(
    method: str,
    path: str,
    body: bytes,
    authorization: str | None,
    content_type: str | None,
    query: dict[str, str],
) -> None:
    headers: dict[str, Any] = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = ROUTER.handle(Request(method, path, headers, body, query))
    assert isinstance(response, Response)
    assert 200 <= response.status < 500
    if response.status >= 400:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.body.decode("utf-8")
    elif response.headers["content-type"] == "application/json":
        json.loads(response.body.decode("utf-8"))
