"""Chunkr edges found by probing the slice from outside: non-finite numbers, answers the
caller owns, a user call that names no user, updates that give nothing, and settings
that would overflow the calendar."""

from __future__ import annotations

import pytest

from taskcore.chunkr import Chunk, ChunkrTasks, Output, Segment
from taskcore.chunkr.configuration import MAX_EXPIRES_IN
from taskcore.chunkr.errors import ConfigurationUnchanged
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.wire import parse_create, parse_update
from taskcore.errors import ValidationError
from taskcore.http import Request


def succeeded(service: ChunkrTasks, **configuration: object) -> str:
    task = service.create("u", parse_create({"file": "https://x.example/a.pdf", **configuration}))
    service.start(task.task_id)
    service.succeed(task.task_id, Output([Chunk("c", [Segment("s", "Text", "x")])]))
    return task.task_id


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_an_output_with_a_number_that_is_not_finite_is_refused_and_changes_nothing(
    number: float,
) -> None:
    service = ChunkrTasks()
    router = chunkr_router(service, {"k": "u"})
    task = service.create("u", parse_create({"file": "https://x.example/a.pdf"}))
    service.start(task.task_id)
    bad = Output([Chunk("c", [Segment("s", "Text", "x", confidence=number)])])
    with pytest.raises(ValidationError) as caught:
        service.succeed(task.task_id, bad)
    assert "output" == caught.value.field
    answer = router.handle(Request("GET", f"/api/v1/task/{task.task_id}", {"Authorization": "k"}))
    assert (200, "Processing") == (answer.status, answer.json()["status"])


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_a_configuration_number_that_is_not_finite_is_refused(number: float) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_create({"file": "https://x.example/a.pdf", "llm_processing": {"temperature": number}})
    assert "llm_processing.temperature" == caught.value.field


def test_a_response_is_the_callers_own_to_change() -> None:
    service = ChunkrTasks()
    task_id = succeeded(service, llm_processing={"model_id": "m1"})
    answer = service.response("u", task_id, task_url="x")
    answer["configuration"]["llm_processing"]["model_id"] = "changed"
    answer["output"]["chunks"].clear()
    again = ChunkrTasks(service.store).response("u", task_id, task_url="x")
    assert ("m1", 1) == (
        again["configuration"]["llm_processing"]["model_id"],
        len(again["output"]["chunks"]),
    )


@pytest.mark.parametrize("user_id", [None, "", 5])
def test_a_user_call_must_name_its_user(user_id: object) -> None:
    service = ChunkrTasks()
    task_id = succeeded(service)
    for call in (
        lambda: service.get(user_id, task_id),  # type: ignore[arg-type]
        lambda: service.cancel(user_id, task_id),  # type: ignore[arg-type]
        lambda: service.delete(user_id, task_id),  # type: ignore[arg-type]
        lambda: service.update(user_id, task_id, parse_update({"high_resolution": True})),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert "user_id" == caught.value.field
    assert "Succeeded" == service.get("u", task_id).status


@pytest.mark.parametrize(
    "given", [{"segment_processing": {}}, {"segment_processing": {"Table": None}}]
)
def test_an_update_that_names_no_segment_type_gives_nothing(given: dict[str, object]) -> None:
    service = ChunkrTasks()
    for task_id in (
        succeeded(service),
        succeeded(service, segment_processing={"Text": {"format": "Html"}}),
    ):
        with pytest.raises(ConfigurationUnchanged):
            service.update("u", task_id, parse_update(given))
        assert "Succeeded" == service.get("u", task_id).status


@pytest.mark.parametrize("seconds", [MAX_EXPIRES_IN + 1, 10**12, -1])
def test_a_default_expiry_beyond_the_clients_limit_is_refused_at_once(seconds: int) -> None:
    with pytest.raises(ValueError, match="default_expires_in"):
        ChunkrTasks(default_expires_in=seconds)


@pytest.mark.parametrize("file", ["http://", "https://x\u0000y", "https:///path", "http://[::1"])
def test_a_file_url_without_a_host_or_with_control_characters_is_refused(file: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_create({"file": file})
    assert "file" == caught.value.field


@pytest.mark.parametrize("file", ["YWJj\nZGVm\n", "data:application/pdf;name=a.pdf;base64,YWJj"])
def test_base64_with_line_breaks_and_data_urls_with_parameters_are_accepted(file: str) -> None:
    form = parse_create({"file": file})
    assert (None, True) == (form.file_url, bool(form.file_data))
