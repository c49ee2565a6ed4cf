"""The Send AI task lifecycle: every status x every event x every guard outcome
(Send AI Task Management API, "Task Lifecycle"; docs/sendai.md)."""

from __future__ import annotations

import itertools

import pytest

from taskcore.sendai import FINALIZED, SENDAI_TASK, InvalidTaskState, SendAIEvent, SendAIStatus
from taskcore.sendai.lifecycle import USER_EVENTS, WORKER_EVENTS
from taskcore.sendai.service import GuardFacts

S, E = SendAIStatus, SendAIEvent
FACTS = [
    GuardFacts(valid, exported, processed)
    for valid, exported, processed in itertools.product([True, False], repeat=3)
]


def expected(status: SendAIStatus, event: SendAIEvent, facts: GuardFacts) -> SendAIStatus | None:
    """Written from the reference and docs/sendai.md, independently of the table."""
    if event is E.REPORT:
        return status  # a report never changes status, in any status
    if status is S.PROCESSING:
        return {E.ADVANCE: S.REVIEWING, E.FINISH: S.COMPLETED, E.FILTER: S.FILTERED,
                E.FAIL: S.FAILED}.get(event)  # fmt: skip
    if status is S.REVIEWING:
        if event is E.COMPLETE:
            return S.PROCESSING if facts.valid else None
        return S.DISCARDED if event is E.DISCARD else None
    if status in FINALIZED and event is E.UNLOCK:
        unlockable = not facts.exported and not facts.upload_fully_processed
        return S.REVIEWING if unlockable else None
    if status is S.COMPLETED and event is E.EXPORT:
        return S.COMPLETED
    return None


@pytest.mark.parametrize("facts", FACTS, ids=repr)
@pytest.mark.parametrize("event", list(SendAIEvent), ids=str)
@pytest.mark.parametrize("status", list(SendAIStatus), ids=str)
def test_every_status_event_and_guard_outcome(
    status: SendAIStatus, event: SendAIEvent, facts: GuardFacts
) -> None:
    target = expected(status, event, facts)
    if target is not None:
        assert target == SENDAI_TASK.fire(status, event, facts)
        assert target == SENDAI_TASK.reference_fire(status, event, facts)
        return
    with pytest.raises(InvalidTaskState) as caught:
        SENDAI_TASK.fire(status, event, facts)
    assert 400 == caught.value.status
    assert "INVALID_TASK_STATE" == caught.value.code
    assert status.value == caught.value.current_status
    assert event.value == caught.value.event
    assert None is SENDAI_TASK.reference_fire(status, event, facts)


def test_the_six_documented_statuses_in_order() -> None:
    assert ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"] == [
        s.value for s in SendAIStatus
    ]


def test_complete_and_discard_are_accepted_only_from_reviewing() -> None:
    for event in (E.COMPLETE, E.DISCARD):
        accepting = [s for s in S if SENDAI_TASK.can_fire(s, event, GuardFacts())]
        assert [S.REVIEWING] == accepting


def test_unlock_is_accepted_only_from_the_finalized_statuses() -> None:
    accepting = {s for s in S if SENDAI_TASK.can_fire(s, E.UNLOCK, GuardFacts())}
    assert FINALIZED == accepting


def test_failed_is_a_dead_end_but_for_reports() -> None:
    assert (E.REPORT,) == SENDAI_TASK.allowed(S.FAILED)


def test_the_guards_are_named() -> None:
    assert ["unlockable", "passes_validation"] == sorted(
        (g.name for g in SENDAI_TASK.guards()), reverse=True
    )


def test_the_unlock_refusal_names_the_guard() -> None:
    with pytest.raises(InvalidTaskState) as caught:
        SENDAI_TASK.fire(S.COMPLETED, E.UNLOCK, GuardFacts(exported=True))
    assert ("unlockable",) == caught.value.failed_guards
    assert "Task cannot be unlocked: status is COMPLETED" == str(caught.value)


def test_user_and_worker_events_cover_every_event() -> None:
    assert set(SendAIEvent) == set(USER_EVENTS) | set(WORKER_EVENTS)
    assert not set(USER_EVENTS) & set(WORKER_EVENTS)
