"""Strict JSON on the wire: nesting depth, duplicate keys, valid Unicode, integers that
are integers, and a JSON response that cannot fail to encode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskcore import ManualClock, SeededIds, ValidationError
from taskcore.claro.grid import Grid
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.claro.wire import parse_new_rows
from taskcore.http import MAX_JSON_DEPTH, MAX_NUMBER_LENGTH, Request, Response, json_response
from taskcore.store import MemoryStore

KEY = "k"


def parse(body: bytes) -> Any:
    return Request("POST", "/", body=body).json()


def refusal(body: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        parse(body)
    return refused.value


# -- nesting depth -----------------------------------------------------------------------


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_json_nested_deeper_than_the_limit_is_a_validation_error(opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    deepest = opening * MAX_JSON_DEPTH + b"1" + closing * MAX_JSON_DEPTH
    assert parse(deepest) is not None
    too_deep = opening * (MAX_JSON_DEPTH + 1) + b"1" + closing * (MAX_JSON_DEPTH + 1)
    assert f"nested deeper than {MAX_JSON_DEPTH}" in str(refusal(too_deep))


@pytest.mark.parametrize(
    "body",
    [b"[" * 1000 + b"]" * 1000, b"[" * 100_000, b'{"a":' * 5000, b"[" * 70 + b'"]]]"'],
)
def test_absurdly_deep_json_is_refused_without_recursing(body: bytes) -> None:
    assert "VALIDATION_ERROR" == refusal(body).code


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"a": "[" * 500, "b": '\\"[[[' * 100, "c": ["{" * 70]})
    assert {"a": "[" * 500, "b": '\\"[[[' * 100, "c": ["{" * 70]} == parse(text.encode())


def test_an_unterminated_string_costs_linear_time() -> None:
    assert "not valid JSON" in str(refusal(b'"\\"' * 200_000))


# -- duplicate keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"rowCount": 10001, "rowCount": 1}', "rowCount"),
        (b'{"a": {"b": 1, "c": 2, "b": 3}}', "b"),
        (b'[{"x": 1}, {"y": [{"z": 1, "z": 1}]}]', "z"),
    ],
)
def test_duplicate_keys_are_refused_at_any_depth_naming_the_key(body: bytes, field: str) -> None:
    error = refusal(body)
    assert field == error.field
    assert "Duplicate key" in str(error)


# -- Unicode -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"rowIds": ["\\ud800"]}', "rowIds"),
        (b'{"webhookId": "x\\udfff"}', "webhookId"),
        (b'{"cellIds": ["ok", "\\udc00:col"]}', "cellIds"),
        (b'{"columnIds": [{"deep": ["\\ud83d"]}]}', "columnIds"),
        (b'{"\\ud800": 1}', "\\ud800"),
        (b'{"a": {"\\ud800x": 1}}', "a"),
        (b'"\\ud800"', None),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(body: bytes, field: str | None) -> None:
    error = refusal(body)
    assert field == error.field
    assert "not valid Unicode" in str(error)
    json_response(400, error.to_wire()).body.decode("utf-8")


def test_surrogate_pairs_and_escaped_backslashes_are_valid_text() -> None:
    body = b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}'
    assert {"a": "\U0001f600", "b": "\\ud800"} == parse(body)


def test_json_response_replaces_lone_surrogates_instead_of_raising() -> None:
    response = json_response(404, {"taskId": "t\ud800", "\udfff": ["x"]})
    assert {"taskId": "t\ufffd", "\ufffd": ["x"]} == response.json()


def test_json_response_refuses_non_finite_numbers_rather_than_writing_invalid_json() -> None:
    with pytest.raises(ValueError, match="Out of range"):
        json_response(200, {"x": float("nan")})


# -- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b"[-Infinity]"])
def test_nan_and_infinity_are_not_json(body: bytes) -> None:
    assert "not a JSON number" in str(refusal(body))


@pytest.mark.parametrize(
    "body", [b"1" * 5000, b"-" + b"9" * (MAX_NUMBER_LENGTH), b"0." + b"1" * 200, b"1e999"]
)
def test_numbers_with_absurdly_many_digits_or_out_of_range_are_validation_errors(
    body: bytes,
) -> None:
    assert "VALIDATION_ERROR" == refusal(body).code


def test_numbers_up_to_the_limit_parse() -> None:
    assert 10 ** (MAX_NUMBER_LENGTH - 1) == parse(b"1" + b"0" * (MAX_NUMBER_LENGTH - 1))
    assert isinstance(parse(b"1.5e3"), float)


@pytest.mark.parametrize("count", [100.0, 1.0000000000000001, 5.0, 0.5])
def test_row_count_with_a_fraction_or_exponent_is_not_an_integer(count: float) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_new_rows({"rowCount": count})
    assert "rowCount" == refused.value.field


# -- through the Claro router ------------------------------------------------------------


def router_call(body: bytes) -> Response:
    service = ClaroTasks(MemoryStore(ManualClock()), ids=SeededIds(3))
    service.create_dataset("acc", Grid(["row_1"], ["col_1"]), dataset_id="ds")
    router = claro_router(service, {KEY: "acc"})
    headers = {"Authorization": f"Bearer {KEY}"}
    return router.handle(Request("POST", "/api/v2/datasets/ds/tasks/new-rows", headers, body))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"rowCount": 10001, "rowCount": 1}', "rowCount"),
        (b'{"rowCount": 1.0000000000000001}', "rowCount"),
        (b'{"rowCount": 100.0}', "rowCount"),
        (b'{"rowCount": 1E2}', "rowCount"),
        (b'{"rowCount": 1, "webhookId": "\\ud800"}', "webhookId"),
        (b'{"rowCount": 1, "\\udc80": 1}', "\\udc80"),
    ],
)
def test_the_router_answers_strict_json_violations_with_validation_error(
    body: bytes, field: str
) -> None:
    response = router_call(body)
    assert (400, "VALIDATION_ERROR", field) == (
        response.status,
        response.json()["code"],
        response.json()["details"]["field"],
    )


def test_the_router_answers_a_deep_body_with_validation_error() -> None:
    response = router_call(b"[" * 1000 + b"]" * 1000)
    assert (400, "VALIDATION_ERROR") == (response.status, response.json()["code"])
