"""The Claro task lifecycle: every state x every event, and a stateful run against a
naive model (exhaustive table, then stateful against a naive model)."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from taskcore import IllegalTransition, TaskNotCancellable
from taskcore.claro import CLARO_TASK, ClaroEvent, ClaroStatus

Q, P, C, F, X = (
    ClaroStatus.QUEUED,
    ClaroStatus.PROCESSING,
    ClaroStatus.COMPLETED,
    ClaroStatus.FAILED,
    ClaroStatus.CANCELLED,
)
START, RECORD, COMPLETE, FAIL, CANCEL = (
    ClaroEvent.START,
    ClaroEvent.RECORD,
    ClaroEvent.COMPLETE,
    ClaroEvent.FAIL,
    ClaroEvent.CANCEL,
)


@attrs.frozen
class Progress:
    completed: int
    total: int


DONE = Progress(5, 5)
HALF = Progress(2, 5)

# Written from the Claro reference and docs/claro.md, independently of the lifecycle table.
EXPECTED: dict[tuple[ClaroStatus, ClaroEvent], ClaroStatus] = {
    (Q, START): P,
    (Q, FAIL): F,
    (Q, CANCEL): X,
    (P, RECORD): P,
    (P, COMPLETE): C,  # only with every target recorded
    (P, FAIL): F,
    (P, CANCEL): X,
}


@pytest.mark.parametrize("event", list(ClaroEvent), ids=str)
@pytest.mark.parametrize("state", list(ClaroStatus), ids=str)
def test_every_state_and_event(state: ClaroStatus, event: ClaroEvent) -> None:
    expected = EXPECTED.get((state, event))
    if expected is not None:
        assert expected == CLARO_TASK.fire(state, event, DONE)
        return
    expected_type = TaskNotCancellable if event is CANCEL else IllegalTransition
    with pytest.raises(expected_type) as caught:
        CLARO_TASK.fire(state, event, DONE)
    error = caught.value
    assert expected_type is type(error)
    assert (state.value, event.value) == (error.state, error.event)
    assert tuple(e.value for e in CLARO_TASK.allowed(state)) == error.allowed


def test_complete_is_refused_until_every_target_is_recorded() -> None:
    with pytest.raises(IllegalTransition) as caught:
        CLARO_TASK.fire(P, COMPLETE, HALF)
    assert ("all_recorded",) == caught.value.failed_guards


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (C, "Task is already completed or failed"),
        (F, "Task is already completed or failed"),
        (X, "Task is already cancelled"),
    ],
)
def test_cancel_is_refused_once_terminal_with_the_documented_body(
    state: ClaroStatus, message: str
) -> None:
    with pytest.raises(TaskNotCancellable) as caught:
        CLARO_TASK.fire(state, CANCEL)
    assert {
        "error": "Cannot cancel task",
        "code": "TASK_NOT_CANCELLABLE",
        "details": {"message": message, "currentStatus": state.value},
    } == caught.value.to_wire()
    assert state.value == caught.value.current_status
    assert 409 == caught.value.status


def test_terminal_states_are_the_documented_end_states() -> None:
    assert {C, F, X} == CLARO_TASK.terminal
    assert CLARO_TASK.initial == Q
    assert set(ClaroStatus) == CLARO_TASK.reachable()


class ClaroTaskMachine(RuleBasedStateMachine):
    """One task driven by random events, against a naive model written with ifs."""

    def __init__(self) -> None:
        super().__init__()
        self.state = CLARO_TASK.initial
        self.model = "queued"
        self.total = 3
        self.recorded = 0
        self.history: list[ClaroStatus] = [self.state]

    def _model_next(self, event: ClaroEvent) -> str | None:
        m = self.model
        if event is CANCEL:
            return "cancelled" if m in ("queued", "processing") else None
        if event is FAIL:
            return "failed" if m in ("queued", "processing") else None
        if event is START:
            return "processing" if m == "queued" else None
        if event is RECORD:
            return "processing" if m == "processing" else None
        return "completed" if m == "processing" and self.recorded >= self.total else None

    @rule(event=st.sampled_from(list(ClaroEvent)))
    def fire(self, event: ClaroEvent) -> None:
        expected = self._model_next(event)
        progress = Progress(self.recorded, self.total)
        before = self.state
        note(f"{before.value} --{event.value}--> expected {expected}")
        try:
            self.state = CLARO_TASK.fire(before, event, progress)
        except IllegalTransition as error:
            assert expected is None
            assert before == self.state  # nothing changed
            assert before.value == error.state
            return
        assert expected == self.state.value
        self.model = expected
        if event is RECORD:
            self.recorded += 1
        self.history.append(self.state)

    @precondition(lambda self: self.model == "processing")
    @rule()
    def record_everything(self) -> None:
        self.recorded = self.total

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.model == self.state.value

    @invariant()
    def terminal_states_never_change(self) -> None:
        seen_terminal = [s for s in self.history if CLARO_TASK.is_terminal(s)]
        assert len(seen_terminal) <= 1
        if seen_terminal:
            assert seen_terminal[0] == self.history[-1]


TestClaroTaskMachine = ClaroTaskMachine.TestCase
