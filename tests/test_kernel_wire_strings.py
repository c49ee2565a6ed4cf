"""The lifecycle kernel takes the API's wire strings as well as its enums, and refuses
anything else with a typed error naming the lifecycle and the unknown value."""

from __future__ import annotations

from typing import Any

import pytest

from taskcore import ValidationError
from taskcore.claro import CLARO_TASK, ClaroEvent, ClaroStatus
from taskcore.errors import IllegalTransition, TaskNotCancellable

# The kernel is typed for its enums; these tests call it as a caller holding wire text.
KERNEL: Any = CLARO_TASK


def test_wire_strings_fire_like_the_enums_they_are_the_values_of() -> None:
    assert ClaroStatus.PROCESSING == KERNEL.fire("queued", "start")
    assert ClaroStatus.PROCESSING is KERNEL.fire("queued", "start")
    assert ClaroStatus.COMPLETED is KERNEL.fire("processing", "complete", _Progress(1, 1))


def test_a_refused_wire_string_event_raises_the_lifecycles_own_error() -> None:
    with pytest.raises(TaskNotCancellable) as refused:
        KERNEL.fire("completed", "cancel")
    assert ("completed", "cancel", ()) == (
        refused.value.state,
        refused.value.event,
        refused.value.allowed,
    )
    with pytest.raises(IllegalTransition) as guarded:
        KERNEL.fire("processing", "complete", _Progress(0, 1))
    assert ("all_recorded",) == guarded.value.failed_guards


def test_introspection_takes_wire_strings() -> None:
    assert (False, True) == (
        KERNEL.can_fire("completed", "cancel"),
        KERNEL.can_fire("queued", "cancel"),
    )
    assert CLARO_TASK.allowed(ClaroStatus.QUEUED) == KERNEL.allowed("queued")
    assert (True, False) == (KERNEL.is_terminal("failed"), KERNEL.is_terminal("queued"))
    assert isinstance(KERNEL.refusal("failed", "start"), IllegalTransition)
    assert "start" == KERNEL.refusal("failed", "start").event
    assert ClaroStatus.PROCESSING is KERNEL.reference_fire("queued", "start")
    assert None is KERNEL.reference_fire("completed", "cancel")
    assert frozenset({ClaroStatus.COMPLETED}) == KERNEL.reachable("completed")


UNKNOWN: list[tuple[str, tuple[Any, ...], str]] = [
    ("fire", ("done", ClaroEvent.CANCEL), "state"),
    ("fire", ("queued", "explode"), "event"),
    ("fire", (ClaroStatus.QUEUED, "explode"), "event"),
    ("fire", (["queued"], "start"), "state"),
    ("fire", (None, None), "state"),
    ("fire", ("QUEUED", "start"), "state"),
    ("can_fire", ("done", "cancel"), "state"),
    ("can_fire", ("queued", 3), "event"),
    ("allowed", ("done",), "state"),
    ("is_terminal", ("done",), "state"),
    ("is_terminal", ({},), "state"),
    ("refusal", ("queued", "explode"), "event"),
    ("reference_fire", ("done", "start"), "state"),
    ("reachable", ("done",), "state"),
]


@pytest.mark.parametrize(("method", "args", "field"), UNKNOWN)
def test_unknown_states_and_events_are_validation_errors_naming_the_value(
    method: str, args: tuple[Any, ...], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        getattr(KERNEL, method)(*args)
    assert field == refused.value.field
    assert "claro.task" in str(refused.value)
    assert "VALIDATION_ERROR" == refused.value.to_wire()["code"]


class _Progress:
    def __init__(self, completed: int, total: int) -> None:
        self.completed = completed
        self.total = total
