"""Values on and behind the wire: integers are integers (not bools, not floats), every
instant is whole seconds, and a signature check answers True or False for any header."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskcore import ManualClock, SeededIds, ValidationError
from taskcore.claro._recorded import RecordedTargets
from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks, RowOutcome
from taskcore.claro.webhooks import sign, verify_signature
from taskcore.claro.wire import cancel_response, estimated_completion
from taskcore.clock import format_wire_instant, parse_instant
from taskcore.locks.lease import Lease, decide_release, decide_renew, require_holder
from taskcore.store import MemoryStore

WHOLE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"

# -- webhook signatures ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["sha256=é", "", "sha256=", "é" * 64, "\ud800", "sha256=" + "0" * 64, "x" * 10_000]
)
def test_any_signature_header_text_is_simply_not_a_match(header: str) -> None:
    assert False is verify_signature("s3cret", b"{}", header)


def test_the_right_signature_matches() -> None:
    assert True is verify_signature("s3cret", b"{}", sign("s3cret", b"{}"))
    assert False is verify_signature("other", b"{}", sign("s3cret", b"{}"))


# -- integers ----------------------------------------------------------------------------


@pytest.mark.parametrize("index", [True, False, 1.0, 2.5, "1", None, 10**30 * 1.0])
@pytest.mark.parametrize("keyword", ["succeeded", "failed"])
def test_recorded_indices_must_be_integers_naming_the_field(keyword: str, index: Any) -> None:
    bitmap = RecordedTargets(4)
    batch: list[Any] = [[0], [3]]
    batch[keyword == "failed"] = [0, index] if keyword == "succeeded" else [3, index]
    with pytest.raises(ValidationError) as refused:
        bitmap.check(batch)
    assert keyword == refused.value.field
    assert "integers" in str(refused.value)
    assert bytes(4) == bytes(bitmap.flags)


@pytest.mark.parametrize("group", [None, 5, object()])
def test_a_group_that_is_not_a_collection_is_a_validation_error(group: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        RecordedTargets(4).check([[], group])
    assert "failed" == refused.value.field


def test_ranges_and_sets_of_integers_pass_and_a_single_group_names_the_index() -> None:
    bitmap = RecordedTargets(6)
    assert [range(2), (2, 3)] == bitmap.check([range(2), [2, 3]])
    assert [(5,)] == bitmap.check([{5}])
    with pytest.raises(ValidationError) as refused:
        bitmap.check([[True]])
    assert "index" == refused.value.field


def bulk_service() -> tuple[ClaroTasks, str, int]:
    service = ClaroTasks(MemoryStore(ManualClock()), ids=SeededIds(9))
    dataset = service.create_dataset("acc", Grid(["r1", "r2"], ["c1"]))
    task = service.create_bulk("acc", dataset, {})
    service.start(task.task_id)
    return service, task.task_id, task.lease_token


@pytest.mark.parametrize("succeeded", [[True], [1.0], ["1"], [None]])
def test_claro_record_refuses_indices_that_are_not_integers(succeeded: list[Any]) -> None:
    service, task_id, token = bulk_service()
    with pytest.raises(ValidationError) as refused:
        service.record(task_id, token=token, succeeded=succeeded)
    assert "succeeded" == refused.value.field
    assert 1 == service.record(task_id, token=token, succeeded=[1]).progress.completed


def test_claro_record_rows_refuses_a_bool_row_index() -> None:
    service = ClaroTasks(MemoryStore(ManualClock()), ids=SeededIds(9))
    dataset = service.create_dataset("acc", Grid(["r1"], ["c1"]))
    task = service.create_new_rows("acc", dataset, {"rowCount": 2})
    service.start(task.task_id)
    with pytest.raises(ValidationError) as refused:
        service.record_rows(task.task_id, [RowOutcome(True)], token=task.lease_token)
    assert "index" == refused.value.field


NOW = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)
LEASE = Lease("ds", "task_1", 2, NOW, NOW + timedelta(minutes=1))


@pytest.mark.parametrize("token", [2.0, True, "2", None, 2.5])
def test_fencing_tokens_must_be_integers(token: Any) -> None:
    for check in (
        lambda: require_holder(LEASE, 2, "ds", token),
        lambda: decide_renew(LEASE, 2, "ds", token, NOW, timedelta(minutes=1)),
        lambda: decide_release(2, token),
    ):
        with pytest.raises(ValidationError) as refused:
            check()
        assert "token" == refused.value.field


def test_integer_fencing_tokens_still_fence() -> None:
    assert LEASE == require_holder(LEASE, 2, "ds", 2)
    assert "released" == decide_release(2, 2)


# -- whole seconds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "down", "up"),
    [
        (NOW, "2024-03-14T15:30:00Z", "2024-03-14T15:30:00Z"),
        (NOW + timedelta(microseconds=1), "2024-03-14T15:30:00Z", "2024-03-14T15:30:01Z"),
        (NOW + timedelta(seconds=59.6), "2024-03-14T15:30:59Z", "2024-03-14T15:31:00Z"),
    ],
)
def test_wire_instants_are_whole_seconds_truncated_or_rounded_up(
    instant: datetime, down: str, up: str
) -> None:
    assert (down, up) == (format_wire_instant(instant), format_wire_instant(instant, up=True))


def test_every_instant_on_the_claro_wire_is_whole_seconds() -> None:
    clock = ManualClock(NOW + timedelta(microseconds=250_000))
    service = ClaroTasks(MemoryStore(clock), ids=SeededIds(9))
    dataset = service.create_dataset("acc", Grid(["r1", "r2"], ["c1"]))
    hook = service.register_webhook("acc", "https://hooks.invalid/", "s")
    task = service.create_bulk("acc", dataset, {"webhookId": hook.webhook_id})
    clock.advance(0.5)
    service.start(task.task_id)
    clock.advance(1.3)
    service.record(task.task_id, succeeded=[0], token=task.lease_token)
    processing = service.status("acc", dataset, task.task_id)
    service.record(task.task_id, succeeded=[1], token=task.lease_token)
    clock.advance(0.1)
    service.complete(task.task_id, token=task.lease_token)
    completed = service.status("acc", dataset, task.task_id)
    (record,) = service.outbox()
    other = service.create_new_rows("acc", dataset, {"rowCount": 1})
    cancelled = service.cancel("acc", dataset, other.task_id)
    instants = {
        **{f"processing.{k}": v for k, v in processing.items() if k.endswith(("At", "tion"))},
        **{f"completed.{k}": v for k, v in completed.items() if k.endswith("At")},
        "webhook.completedAt": record.payload()["completedAt"],
        "cancel.cancelledAt": cancel_response(cancelled)["cancelledAt"],
    }
    assert 8 == len(instants)
    whole = {key: bool(re.fullmatch(WHOLE, value)) for key, value in instants.items()}
    assert dict.fromkeys(instants, True) == whole
    # started at :00.75, half done at :02.05, so done at :03.35, rounded up
    assert "2024-03-14T15:30:04Z" == processing["estimatedCompletion"]


def test_estimated_completion_is_never_before_now_and_rounded_up() -> None:
    clock = ManualClock(NOW)
    service = ClaroTasks(MemoryStore(clock), ids=SeededIds(9), lease_ttl=timedelta(days=1))
    dataset = service.create_dataset("acc", Grid(["r1"], ["c1"]))
    task = service.create_new_rows("acc", dataset, {"rowCount": 1})
    task = service.start(task.task_id)
    late = NOW + timedelta(hours=1, microseconds=300)
    finish = estimated_completion(task, late)
    assert late <= finish
    assert NOW + timedelta(hours=1, seconds=1) == finish
    soon = NOW + timedelta(seconds=1)
    assert NOW + timedelta(seconds=math.ceil(task.estimate_high)) == estimated_completion(
        task, soon
    )
    clock.set(late)
    wire = service.status("acc", dataset, task.task_id)["estimatedCompletion"]
    assert late <= parse_instant(wire)
