"""The router never raises: unexpected errors become a logged 500, paths are matched
whole and decoded once, strictly, and errors carry the standard HTTP headers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router_fuzz import json_bodies
from taskcore import ManualClock, SeededIds
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.errors import (
    InternalError,
    QuotaExceeded,
    TaskcoreError,
    Unauthorized,
    ValidationError,
)
from taskcore.http import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    Request,
    Response,
    Route,
    Router,
    idempotency_key,
    json_response,
)
from taskcore.quota import WindowQuota
from taskcore.store import MemoryStore

SECRET = "do-not-leak-this"


def echo(request: Request, params: Mapping[str, str]) -> Response:
    return json_response(200, dict(params))


def explode(request: Request, params: Mapping[str, str]) -> Response:
    raise RuntimeError(SECRET)


def refuse_quota(request: Request, params: Mapping[str, str]) -> Response:
    raise QuotaExceeded(account_id="a", limit=1, window_seconds=60, retry_after_seconds=59.999843)


def refuse_auth(request: Request, params: Mapping[str, str]) -> Response:
    raise Unauthorized("no")


def render(error: TaskcoreError) -> Response:
    return json_response(error.status, error.to_wire())


ROUTES = [
    Route("GET", "/items/{item_id}", echo),
    Route("GET", "/boom", explode),
    Route("GET", "/quota", refuse_quota),
    Route("GET", "/auth", refuse_auth),
]
ROUTER = Router(ROUTES, render, auth_scheme="Bearer")


def get(path: str, router: Router = ROUTER) -> Response:
    return router.handle(Request("GET", path))


# -- unexpected errors -------------------------------------------------------------------


def test_an_unexpected_handler_error_is_a_logged_500_that_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="taskcore.http"):
        response = get("/boom")
    assert 500 == response.status
    assert {
        "error": "Internal error",
        "code": "INTERNAL_ERROR",
        "details": {"message": InternalError().message},
    } == response.json()
    assert SECRET.encode() not in response.body
    (record,) = caplog.records
    assert ("taskcore.http", logging.ERROR) == (record.name, record.levelno)
    assert record.exc_info is not None
    assert RuntimeError is record.exc_info[0]


def test_a_handler_that_returns_no_response_is_a_500() -> None:
    def nothing(request: Request, params: Mapping[str, str]) -> Response:
        return None  # type: ignore[return-value]  # the bug under test

    response = get("/x", Router([Route("GET", "/x", nothing)], render))
    assert (500, "INTERNAL_ERROR") == (response.status, response.json()["code"])


def test_a_failing_error_renderer_falls_back_to_a_minimal_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(error: TaskcoreError) -> Response:
        raise KeyError(SECRET)

    router = Router(ROUTES, broken)
    with caplog.at_level(logging.ERROR, logger="taskcore.http"):
        responses = [get("/boom", router), get("/nowhere", router), get("/auth", router)]
    assert [500, 500, 500] == [r.status for r in responses]
    assert all(SECRET.encode() not in r.body for r in responses)
    assert b"Internal Server Error" == responses[0].body
    assert len(caplog.records) >= 3


# -- paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/items/x\n", "/boom\n", "/items/x\r\n", "\n/items/x"])
def test_a_path_with_a_trailing_newline_matches_no_route(path: str) -> None:
    assert 404 == get(path).status


@pytest.mark.parametrize(
    ("path", "item_id"),
    [
        ("/items/a%20b", "a b"),
        ("/items/%2541", "%41"),
        ("/items/%C3%A9t%C3%A9", "été"),
        ("/items/été", "été"),
        ("/items/a+b", "a+b"),
    ],
)
def test_placeholders_are_percent_decoded_exactly_once(path: str, item_id: str) -> None:
    assert {"item_id": item_id} == get(path).json()


@pytest.mark.parametrize(
    "path",
    [
        "/items/%ff",
        "/items/%C3",
        "/items/a%2Fb",
        "/items/a%2fb",
        "/items/%00",
        "/items/a%0Ab",
        "/items/%7F",
        "/items/a\x00b",
        "/items/a\tb",
        "/items/\ud800",
        "/items/%ED%A0%80",
        "/items/.",
        "/items/..",
        "/items/%2E%2E",
        "/items//",
    ],
)
def test_placeholders_that_do_not_decode_to_one_clean_segment_are_not_found(path: str) -> None:
    response = get(path)
    assert (404, "NOT_FOUND") == (response.status, response.json()["code"])


# -- HTTP headers ------------------------------------------------------------------------


def test_a_429_carries_retry_after_in_whole_seconds_rounded_up() -> None:
    response = get("/quota")
    assert (429, "60") == (response.status, response.headers["retry-after"])
    assert 60 == response.json()["details"]["retryAfterSeconds"]


@pytest.mark.parametrize(("given_seconds", "whole"), [(59.999843, 60), (0.2, 1), (0, 1), (12, 12)])
def test_quota_exceeded_retries_after_whole_seconds_at_least_one(
    given_seconds: float, whole: int
) -> None:
    error = QuotaExceeded(
        account_id="a", limit=1, window_seconds=60, retry_after_seconds=given_seconds
    )
    assert (whole, whole) == (error.retry_after_seconds, error.retry_after)
    assert int is type(error.retry_after)


def test_errors_have_no_retry_after_by_default() -> None:
    assert None is ValidationError("x").retry_after
    assert "retry-after" not in get("/nowhere").headers


def test_a_401_carries_www_authenticate_when_the_router_has_an_auth_scheme() -> None:
    assert "Bearer" == get("/auth").headers["www-authenticate"]
    assert "www-authenticate" not in get("/auth", Router(ROUTES, render)).headers
    assert "www-authenticate" not in get("/nowhere").headers


@pytest.mark.parametrize(
    "value", ["", " ", "k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1), "a\nb", "a\x00", "\x7f", "\ud800"]
)
def test_odd_idempotency_keys_are_validation_errors(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        idempotency_key(Request("POST", "/", {"Idempotency-Key": value}))
    assert "Idempotency-Key" == refused.value.field


@pytest.mark.parametrize("value", ["k1", "k" * MAX_IDEMPOTENCY_KEY_LENGTH, "clé-été", "a b"])
def test_printable_idempotency_keys_up_to_the_limit_are_taken_as_they_are(value: str) -> None:
    assert value == idempotency_key(Request("POST", "/", {"Idempotency-Key": value}))
    assert None is idempotency_key(Request("POST", "/"))


# -- the Claro router --------------------------------------------------------------------


class Claro:
    """A Claro service with a dataset and an API key, behind its router."""

    def __init__(self, quota: WindowQuota | None = None) -> None:
        self.clock = ManualClock()
        self.service = ClaroTasks(MemoryStore(self.clock), ids=SeededIds(5), quota=quota)
        self.service.create_dataset("acc", Grid(["row_1", "row_2"], ["col_1"]), dataset_id="ds")
        self.router = claro_router(self.service, {"KEY": "acc"})

    def post(self, path: str, body: bytes, **headers: str) -> Response:
        headers = {"Authorization": "Bearer KEY", **headers}
        return self.router.handle(Request("POST", path, headers, body))


NEW_ROWS = "/api/v2/datasets/ds/tasks/new-rows"


def test_claro_creates_nothing_for_a_path_with_a_trailing_newline() -> None:
    claro = Claro()
    assert 404 == claro.post(NEW_ROWS + "\n", b'{"rowCount": 1}').status
    assert 201 == claro.post(NEW_ROWS, b'{"rowCount": 1}').status


def test_claro_401_says_bearer_and_429_says_when_to_retry() -> None:
    claro = Claro(WindowQuota(1, 60))
    unauthorized = claro.router.handle(Request("GET", "/api/v2/datasets/ds/tasks/t"))
    assert (401, "Bearer") == (unauthorized.status, unauthorized.headers["www-authenticate"])
    task_id = claro.post(NEW_ROWS, b'{"rowCount": 1}').json()["taskId"]
    claro.clock.advance(0.25)
    claro.service.cancel("acc", "ds", task_id)
    limited = claro.post(NEW_ROWS, b'{"rowCount": 1}')
    assert (429, "60") == (limited.status, limited.headers["retry-after"])
    assert 60 == limited.json()["details"]["retryAfterSeconds"]


def test_claro_refuses_an_odd_idempotency_key_after_the_dataset_check() -> None:
    claro = Claro()
    long_key = "k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1)
    refused = claro.post(NEW_ROWS, b'{"rowCount": 1}', **{"Idempotency-Key": long_key})
    assert (400, "Idempotency-Key") == (refused.status, refused.json()["details"]["field"])
    missing = claro.post(
        "/api/v2/datasets/nope/tasks/new-rows", b'{"rowCount": 1}', **{"Idempotency-Key": "\n"}
    )
    assert (404, "DATASET_NOT_FOUND") == (missing.status, missing.json()["code"])
    ok = claro.post(NEW_ROWS, b'{"rowCount": 1}', **{"Idempotency-Key": "é" * 255})
    assert 201 == ok.status


@pytest.mark.parametrize("value", ["Bearer é", "", "Bearer " + "x" * 100_000, "\ud800", "Bearer"])
def test_claro_answers_odd_authorization_headers_with_401(value: str) -> None:
    claro = Claro()
    response = claro.router.handle(
        Request("GET", "/api/v2/datasets/ds/tasks/t", {"Authorization": value})
    )
    assert (401, "UNAUTHORIZED") == (response.status, response.json()["code"])


# -- never raises: a property over everything a client can send ---------------------------

CLARO = Claro()  # one service: a request that does change it is still a valid answer

segments = st.one_of(
    st.sampled_from(["ds", "nope", "new-rows", "bulk", "task_x", "", ".", "..", "%00", "%ff",
                     "%2F", "%25", "%C3%A9", "\ud800", "a\n", "%", "%e"]),
    st.text(max_size=6),
)  # fmt: skip
paths = st.one_of(
    st.lists(segments, max_size=3).map(lambda parts: "/api/v2/datasets/" + "/".join(parts)),
    st.lists(segments, max_size=2).map(
        lambda parts: "/api/v2/datasets/ds/tasks/" + "/".join(parts)
    ),
    st.builds(lambda p, tail: p + tail, st.sampled_from([NEW_ROWS, "/api/v2/datasets//tasks"]),
              st.sampled_from(["", "\n", "/", "//", "/..", "%0A", "\r\n"])),
    st.text(max_size=40),
)  # fmt: skip
raw_bodies = st.one_of(
    st.binary(max_size=40),
    json_bodies,
    st.sampled_from([b'{"rowCount": 1}', b'{"rowCount": 1, "rowCount": 2}',
                     b'{"rowIds": ["\\ud800"]}', b"[" * 1000 + b"]" * 1000,
                     b'{"rowCount": 1e999}', b"NaN", b"1" * 5000,
                     b'{"cellIds": ["\\udc00"]}', b'{"\\ud800": 1}']),
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["Bearer KEY", "bearer KEY", "Bearer  KEY ", "Bearer \ud800", "Basic x", "",
                     "k" * 300, "Bearer " + "x" * 5000]),
)  # fmt: skip


@given(
    method=st.one_of(
        st.sampled_from(["GET", "POST", "DELETE", "PUT", "get", ""]), st.text(max_size=5)
    ),
    path=paths,
    body=raw_bodies,
    authorization=st.one_of(st.just("Bearer KEY"), st.none(), header_values),
    key=st.one_of(st.none(), header_values),
)
def test_the_claro_router_always_answers_with_a_response_whose_json_parses(
    method: str, path: str, body: bytes, authorization: str | None, key: str | None
) -> None:
    headers: dict[str, Any] = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if key is not None:
        headers["Idempotency-Key"] = key
    response = CLARO.router.handle(Request(method, path, headers, body))
    assert isinstance(response, Response)
    assert 200 <= response.status < 600
    if response.headers.get("content-type") == "application/json":
        payload = json.loads(response.body.decode("utf-8"))
        if response.status >= 400:
            assert {"error", "code", "details"} == set(payload)
        assert response.status != 500
