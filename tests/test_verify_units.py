"""The verify framework's values and parsers: steps, checks, scenario files, the reset
hook's forms; bad input is a clear ``ValidationError`` naming where."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskcore.errors import ValidationError
from taskcore.verify import Check, Divergence, HttpClient, Step, SystemUnderTest, Unreachable
from taskcore.verify.exchange import UnboundVariable, capture_value, fill
from taskcore.verify.scenario import MAX_SCENARIO_BYTES, load_scenario, shipped_scenarios
from taskcore.verify.sut import ResetFailed
from verify_servers import serving, write_fixture


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(write_fixture(tmp_path_factory.mktemp("units"))) as base:
        yield base


def test_a_step_round_trips_through_json() -> None:
    step = Step(
        "POST",
        "/api/v1/task/${task_1}/parse",
        '{"a": "${task_1}"}',
        "other",
        {"x-trace": "1"},
        {"task_2": "task_id"},
        "update",
    )
    assert step == Step.from_json(step.to_json())
    text = Step("POST", "/p", "not json")
    assert text == Step.from_json(text.to_json())
    assert {"method": "GET", "path": "/p"} == Step("GET", "/p").to_json()
    assert Step("GET", "/x", tenant="control").control


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([], "$"),
        ({"method": "GET", "path": "/", "extra": 1}, "$"),
        ({"method": "G T", "path": "/"}, "$.method"),
        ({"method": "GET", "path": "x"}, "$.path"),
        ({"method": "GET", "path": "/", "as": "admin"}, "$.as"),
        ({"method": "GET", "path": "/", "headers": {"a": 1}}, "$.headers"),
        ({"method": "GET", "path": "/", "capture": {"not a name": "x"}}, "$.capture"),
        ({"method": "GET", "path": "/", "label": 3}, "$.label"),
    ],
)
def test_a_malformed_step_is_refused_naming_where(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Step.from_json(value)
    assert field == caught.value.field


def test_placeholders_are_filled_encoded_for_paths_and_escaped_for_bodies() -> None:
    bound = {"id": 'a/b "c"'}
    assert "/t/a%2Fb%20%22c%22" == fill("/t/${id}", bound, in_path=True)
    assert '{"x": "a/b \\"c\\""}' == fill('{"x": "${id}"}', bound, in_path=False)
    with pytest.raises(UnboundVariable) as caught:
        fill("/t/${missing}", bound, in_path=True)
    assert "missing" == caught.value.name


def test_captured_values_are_strings_or_numbers_at_a_dotted_path() -> None:
    document = {"payload": {"id": "t1", "n": 3, "ok": True, "items": [{"id": "i0"}]}}
    assert "t1" == capture_value(document, "payload.id")
    assert "3" == capture_value(document, "payload.n")
    assert "i0" == capture_value(document, "payload.items.0.id")
    assert capture_value(document, "payload.ok") is None
    assert capture_value(document, "payload.items.5") is None
    assert capture_value(document, "payload.missing") is None


def test_checks_compare_status_text_fields_and_presence() -> None:
    body = json.dumps({"code": "X", "details": {"n": 2}}).encode()
    assert Check("status", "==", 409).holds(409, body)
    assert Check("text", "in", ["nope", body.decode()]).holds(200, body)
    assert Check("body.details.n", ">=", 2).holds(200, body)
    assert Check("body.details.n", "<=", 2).holds(200, body)
    assert Check("body.code", "!=", "Y").holds(200, body)
    assert Check("has.code", "==", True).holds(200, body)
    assert Check("has.missing", "==", False).holds(200, body)
    assert Check("body", "not in", [None]).holds(200, body)
    assert not Check("body.code", ">=", 3).holds(200, body)  # str vs int: no order
    assert Check("body.code", "==", None).holds(200, b"not json")
    assert "body.code == 'X'" == str(Check("body.code", "==", "X"))
    divergence = Divergence("lock", "why", (Check("status", "==", 409),), 2)
    assert {"property": "lock", "message": "why", "step": 2, "checks": [
        {"target": "status", "op": "==", "value": 409}]} == divergence.to_json()  # fmt: skip


def _scenario(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "name": "s",
        "api": "claro",
        "steps": [{"method": "GET", "path": "/p", "expect": {"status": 200}}],
    }
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[", "not valid JSON"),
        (b"[]", "a scenario is a JSON object"),
        (_scenario(extra=1), "unknown key 'extra'"),
        (_scenario(name=None), "$.name must be a non-empty string"),
        (_scenario(api=3), "$.api must name the API"),
        (_scenario(steps=[]), "$.steps must be a list of 1 to"),
        (_scenario(variables={"a": 1}), "$.variables must map names to strings"),
        (_scenario(needs=["root"]), "$.needs lists"),
        (_scenario(steps=[3]), "$.steps[0] must be an object"),
        (_scenario(steps=[{"method": "GET", "path": "/", "expect": []}]), "expect must be"),
        (
            _scenario(steps=[{"method": "GET", "path": "/", "expect": {"status": 99}}]),
            "status must be an HTTP status",
        ),
        (
            _scenario(steps=[{"method": "GET", "path": "/", "expect": {"fields": []}}]),
            "fields must be an object",
        ),
        (_scenario(steps=[{"method": "GET", "path": "x"}]), "$.steps[0].path must start"),
    ],
)
def test_a_malformed_scenario_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_scenario(data, name="bad.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("bad.json: ")


def test_scenario_files_too_big_or_missing_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_SCENARIO_BYTES + 1))
    with pytest.raises(ValidationError, match="larger than"):
        load_scenario(big)
    with pytest.raises(ValidationError, match="Cannot read scenario"):
        load_scenario(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_bytes(_scenario(needs=["worker"], variables={"a": "b"}))
    scenario = load_scenario(good)
    assert (str(good), frozenset({"worker"}), {"a": "b"}) == (
        scenario.source,
        scenario.needs,
        dict(scenario.variables),
    )


def test_the_shipped_scenarios_parse_and_name_their_api() -> None:
    assert 2 == len(shipped_scenarios("claro")) == len(shipped_scenarios("chunkr"))
    assert [] == shipped_scenarios("sendai")


def test_the_client_refuses_bad_base_urls_and_big_answers(url: str) -> None:
    with pytest.raises(ValidationError):
        HttpClient("https://example.com")
    with pytest.raises(ValidationError):
        HttpClient("http://127.0.0.1:99999")
    with pytest.raises(Unreachable, match="longer than 4 bytes"):
        HttpClient(url, max_body=4).send("GET", "/healthz", {}, b"")


def test_the_reset_hook_in_its_three_forms(url: str) -> None:
    client = HttpClient(url)
    assert "true" == SystemUnderTest(client).reset_shell()
    assert "make reset" == SystemUnderTest(client, reset_command="make reset").reset_shell()
    assert (
        '"$BASE_URL"/_taskcore/reset'
        in SystemUnderTest(client, reset_url=f"{url}/_taskcore/reset").reset_shell()
    )
    assert (
        "curl -fsS -X POST http://elsewhere/reset"
        in SystemUnderTest(client, reset_url="http://elsewhere/reset").reset_shell()
    )
    SystemUnderTest(client).reset()  # no hook: nothing to do
    with pytest.raises(ResetFailed, match="answered 405"):
        SystemUnderTest(client, reset_url=f"{url}/healthz").reset()


def test_the_control_probe_reads_a_missing_route_as_no_control(url: str) -> None:
    client = HttpClient(url)
    assert SystemUnderTest(client).probe_control("claro")
    assert not SystemUnderTest(client).probe_control("nothing")  # 404 NOT_FOUND
    assert not SystemUnderTest(HttpClient(url + "/healthz")).probe_control("claro")


def test_repro_scripts_keep_labels_and_messages_out_of_the_code(tmp_path: Path) -> None:
    from taskcore.verify.repro import write_counterexample

    evil = 'x\nexit 0 # \'"""\\'
    step = Step("GET", "/healthz", label=evil)
    write_counterexample(
        tmp_path,
        api="claro",
        base_url="http://127.0.0.1:9",
        reset="true",
        steps=[step],
        auth=[{}],
        divergence=Divergence("fields", evil, (Check("status", "==", 200),)),
        exchanges=[],
        label="reproducible",
        reproduced=3,
        runs=3,
    )
    script = (tmp_path / "repro.sh").read_text()
    assert "\nexit 0 #" not in script
    test = (tmp_path / "test_repro.py").read_text()
    compile(test, "test_repro.py", "exec")  # valid Python whatever the message holds
    assert f"MESSAGE = {evil!r}" in test


def test_a_recorded_request_is_traced_back_to_its_tenant(tmp_path: Path) -> None:
    from taskcore.fixtures import parse
    from taskcore.verify.chunkr import ChunkrChecker
    from taskcore.verify.claro import ClaroChecker
    from verify_servers import KEY, OTHER_KEY

    fixture = parse(write_fixture(tmp_path))
    claro = ClaroChecker(fixture, KEY, control=True)
    assert "main" == claro.tenant_of("/api/v2/x", {"Authorization": f"Bearer {KEY}"})
    assert "other" == claro.tenant_of("/api/v2/x", {"authorization": f"Bearer {OTHER_KEY}"})
    assert "none" == claro.tenant_of("/api/v2/x", {})
    assert "bad" == claro.tenant_of("/api/v2/x", {"authorization": "Bearer nope"})
    assert "control" == claro.tenant_of("/_taskcore/worker/claro/tasks/t/advance", {})
    chunkr = ChunkrChecker(fixture, KEY, control=False)
    assert "main" == chunkr.tenant_of("/api/v1/task/t", {"authorization": KEY})
    with pytest.raises(ValidationError, match="not a Chunkr API key"):
        ChunkrChecker(fixture, "nope", control=False)
