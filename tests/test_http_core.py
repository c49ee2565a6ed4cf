"""The sans-IO HTTP core every API's router is built from."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from taskcore import TaskcoreError, Unauthorized, ValidationError
from taskcore.http import Request, Response, Route, Router, bearer_token, json_response


def echo(request: Request, params: Mapping[str, str]) -> Response:
    if params.get("item_id") == "boom":
        raise ValidationError("boom", field="item")
    return json_response(200, {"params": dict(params), "method": request.method})


def plain_text(error: TaskcoreError) -> Response:
    return Response(error.status, {"Content-Type": "text/plain"}, str(error).encode())


ROUTER = Router(
    [Route("GET", "/items/{item_id}", echo), Route("DELETE", "/items/{item_id}", echo)],
    plain_text,
)


def test_placeholders_match_one_segment_and_are_unquoted() -> None:
    response = ROUTER.handle(Request("GET", "/items/a%20b"))
    assert {"params": {"item_id": "a b"}, "method": "GET"} == response.json()
    assert "application/json" == response.headers["content-type"]
    assert 404 == ROUTER.handle(Request("GET", "/items/a/b")).status


def test_errors_are_rendered_by_the_apis_own_renderer() -> None:
    response = ROUTER.handle(Request("GET", "/items/boom"))
    assert (400, b"boom") == (response.status, response.body)
    assert "text/plain" == response.headers["content-type"]


def test_unknown_path_is_404_and_wrong_method_405_with_allow() -> None:
    assert (404, b"No route for GET /nowhere") == (
        ROUTER.handle(Request("GET", "/nowhere")).status,
        ROUTER.handle(Request("GET", "/nowhere")).body,
    )
    response = ROUTER.handle(Request("POST", "/items/1"))
    assert 405 == response.status
    assert "DELETE, GET" == response.headers["allow"]


def test_header_names_are_case_insensitive() -> None:
    request = Request("GET", "/", {"AUTHORIZATION": "Bearer  tok "})
    assert "tok" == bearer_token(request)


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer   "])
def test_missing_or_malformed_bearer_is_unauthorized(header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with pytest.raises(Unauthorized):
        bearer_token(Request("GET", "/", headers))


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "must be a JSON object"), (b"  ", "must be a JSON object"),
     (b"{", "not valid JSON"), (b"\xff", "not valid JSON")],
)  # fmt: skip
def test_request_json_refuses_empty_or_invalid_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Request("POST", "/", body=body).json()
    assert {"a": 1} == Request("POST", "/", body=b'{"a": 1}').json()
