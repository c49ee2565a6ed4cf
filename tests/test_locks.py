"""Lock rules, one by one, through the LockManager on the memory store (the contract
machine in test_locks_contract.py runs them on every store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taskcore.clock import ManualClock, format_instant
from taskcore.errors import (
    CATALOGUE,
    DatasetLocked,
    LeaseNotHeld,
    StaleToken,
    ValidationError,
)
from taskcore.locks import LEASES, TOKENS, Grant, Lease, LockManager, Released
from taskcore.store import MemoryStore, Store

TTL = timedelta(seconds=10)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> Store:
    return MemoryStore(clock=clock)


@pytest.fixture
def locks(store: Store) -> LockManager:
    return LockManager(store, ttl=TTL)


def lock_state(store: Store) -> dict[str, list[tuple[str, object]]]:
    with store.unit() as unit:
        return {table: list(unit.items(table)) for table in (LEASES, TOKENS)}


def test_acquire_of_a_free_dataset_grants_token_one(locks: LockManager, clock: ManualClock) -> None:
    now = clock.now()
    expected = Grant(Lease("ds", "task_1", 1, now, now + TTL), None, False)
    assert expected == locks.acquire("ds", "task_1")
    assert expected.lease == locks.holder("ds")


def test_reacquire_by_the_holder_returns_the_same_lease(
    locks: LockManager, clock: ManualClock
) -> None:
    first = locks.acquire("ds", "task_1").lease
    clock.advance(3)
    assert Grant(first, None, True) == locks.acquire("ds", "task_1", ttl=60)
    assert first == locks.holder("ds")


def test_acquire_of_a_held_dataset_is_refused_naming_the_holder(
    locks: LockManager, store: Store, clock: ManualClock
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    before = lock_state(store)
    with pytest.raises(DatasetLocked) as refused:
        locks.acquire("ds", "task_2")
    assert ("ds", "task_1", format_instant(lease.expires_at)) == (
        refused.value.dataset_id,
        refused.value.active_task_id,
        refused.value.expires_at,
    )
    assert before == lock_state(store)


def test_a_lease_is_live_until_the_instant_it_expires(
    locks: LockManager, clock: ManualClock
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    clock.set(lease.expires_at - timedelta(microseconds=1))
    assert lease == locks.holder("ds")
    clock.set(lease.expires_at)
    assert locks.holder("ds") is None
    assert (True, False) == (
        lease.is_live(lease.expires_at - timedelta(microseconds=1)),
        lease.is_live(lease.expires_at),
    )


def test_acquire_of_an_expired_lease_takes_it_over_with_the_next_token(
    locks: LockManager, clock: ManualClock
) -> None:
    dead = locks.acquire("ds", "task_1").lease
    clock.advance(TTL)
    now = clock.now()
    expected = Grant(Lease("ds", "task_2", 2, now, now + TTL), dead, False)
    assert expected == locks.acquire("ds", "task_2")


def test_the_holder_reacquiring_after_expiry_gets_a_new_token(
    locks: LockManager, clock: ManualClock
) -> None:
    dead = locks.acquire("ds", "task_1").lease
    clock.advance(TTL)
    grant = locks.acquire("ds", "task_1")
    assert (2, dead, False) == (grant.lease.token, grant.taken_over, grant.reentered)


def test_tokens_keep_increasing_after_release(locks: LockManager, store: Store) -> None:
    tokens = []
    for task in ("task_1", "task_2", "task_1"):
        lease = locks.acquire("ds", task).lease
        tokens.append(lease.token)
        assert Released.RELEASED == locks.release(lease)
    assert [1, 2, 3] == tokens
    assert {LEASES: [], TOKENS: [("ds", 3)]} == lock_state(store)


def test_tokens_are_counted_per_dataset(locks: LockManager) -> None:
    first_a = locks.acquire("ds_a", "task_1").lease
    first_b = locks.acquire("ds_b", "task_2").lease
    locks.release(first_a)
    assert [1, 1, 2] == [first_a.token, first_b.token, locks.acquire("ds_a", "task_3").lease.token]


def test_renew_extends_the_expiry_and_keeps_the_token(
    locks: LockManager, clock: ManualClock
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    clock.advance(7)
    renewed = locks.renew(lease, ttl=30)
    assert Lease("ds", "task_1", 1, lease.acquired_at, clock.now() + timedelta(seconds=30)) == (
        renewed
    )
    assert renewed == locks.holder("ds")


def test_renew_of_an_expired_lease_not_yet_taken_over_succeeds(
    locks: LockManager, clock: ManualClock
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    clock.advance(TTL * 2)
    renewed = locks.renew(lease)
    assert (1, clock.now() + TTL) == (renewed.token, renewed.expires_at)
    assert renewed == locks.holder("ds")


def test_renew_after_a_takeover_is_refused_as_stale(
    locks: LockManager, store: Store, clock: ManualClock
) -> None:
    dead = locks.acquire("ds", "task_1").lease
    clock.advance(TTL)
    successor = locks.acquire("ds", "task_2").lease
    before = lock_state(store)
    with pytest.raises(StaleToken) as refused:
        locks.renew(dead)
    assert ("ds", 1, 2) == (
        refused.value.resource_id,
        refused.value.token,
        refused.value.current_token,
    )
    assert before == lock_state(store)
    assert successor == locks.holder("ds")


def test_renew_of_a_released_lease_is_refused_as_not_held(locks: LockManager, store: Store) -> None:
    lease = locks.acquire("ds", "task_1").lease
    locks.release(lease)
    before = lock_state(store)
    with pytest.raises(LeaseNotHeld) as refused:
        locks.renew(lease)
    assert ("ds", 1, None) == (
        refused.value.resource_id,
        refused.value.token,
        refused.value.active_task_id,
    )
    assert before == lock_state(store)


def test_release_with_a_stale_token_changes_nothing(
    locks: LockManager, store: Store, clock: ManualClock
) -> None:
    dead = locks.acquire("ds", "task_1").lease
    clock.advance(TTL)
    successor = locks.acquire("ds", "task_2").lease
    before = lock_state(store)
    assert Released.NOT_HELD == locks.release(dead)
    assert before == lock_state(store)
    assert successor == locks.holder("ds")


def test_release_twice_says_the_second_time_that_nothing_was_held(
    locks: LockManager, store: Store
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    assert Released.RELEASED == locks.release(lease)
    before = lock_state(store)
    assert Released.NOT_HELD == locks.release(lease)
    assert before == lock_state(store)


def test_release_of_an_expired_lease_not_yet_taken_over_frees_the_dataset(
    locks: LockManager, clock: ManualClock
) -> None:
    lease = locks.acquire("ds", "task_1").lease
    clock.advance(TTL * 3)
    assert Released.RELEASED == locks.release(lease)
    grant = locks.acquire("ds", "task_2")
    assert (2, None) == (grant.lease.token, grant.taken_over)


def test_a_write_with_the_current_token_passes(locks: LockManager) -> None:
    lease = locks.acquire("ds", "task_1").lease
    assert lease == locks.check_token(lease)


def test_a_write_with_an_older_token_is_refused(
    locks: LockManager, store: Store, clock: ManualClock
) -> None:
    first = locks.acquire("ds", "task_1").lease
    locks.release(first)
    locks.acquire("ds", "task_2")
    before = lock_state(store)
    with pytest.raises(StaleToken) as refused:
        locks.check_token(first)
    assert (1, 2) == (refused.value.token, refused.value.current_token)
    assert before == lock_state(store)


def test_a_write_with_a_released_token_is_refused_as_not_held(locks: LockManager) -> None:
    lease = locks.acquire("ds", "task_1").lease
    locks.release(lease)
    with pytest.raises(LeaseNotHeld):
        locks.check_token(lease)


def test_edits_are_refused_while_a_task_holds_the_dataset(
    locks: LockManager, store: Store, clock: ManualClock
) -> None:
    locks.acquire("ds", "task_1")
    before = lock_state(store)
    with pytest.raises(DatasetLocked) as refused, locks.guard_edit("ds") as unit:
        unit.put("cells", "ds/r1/c1", "edited")  # pragma: no cover - never reached
    assert "task_1" == refused.value.active_task_id
    with store.unit() as unit:
        assert unit.get("cells", "ds/r1/c1") is None
    assert before == lock_state(store)


def test_edits_pass_once_the_lease_has_expired(locks: LockManager, clock: ManualClock) -> None:
    locks.acquire("ds", "task_1")
    clock.advance(TTL)
    with locks.guard_edit("ds") as unit:
        unit.put("cells", "ds/r1/c1", "edited")
    with locks.store.unit() as unit:
        assert "edited" == unit.get("cells", "ds/r1/c1")
        locks.check_unlocked(unit, "other dataset")


def test_a_grant_in_a_service_unit_that_fails_is_never_seen(
    locks: LockManager, store: Store
) -> None:
    before = lock_state(store)

    def create_task_then_fail() -> None:
        with store.unit() as unit:
            locks.acquire_in(unit, "ds", "task_1")
            unit.put("tasks", "task_1", {"status": "queued"})
            raise RuntimeError("quota check failed after the lock was taken")

    with pytest.raises(RuntimeError, match="quota"):
        create_task_then_fail()
    assert before == lock_state(store)
    assert 1 == locks.acquire("ds", "task_2").lease.token


def test_task_end_and_release_commit_together(locks: LockManager, store: Store) -> None:
    lease = locks.acquire("ds", "task_1").lease
    with store.unit() as unit:
        unit.put("tasks", "task_1", {"status": "completed"})
        assert Released.RELEASED == locks.release_in(unit, "ds", lease.token)
    assert (None, 2) == (locks.holder("ds"), locks.acquire("ds", "task_2").lease.token)


@pytest.mark.parametrize("ttl", [0, -1, timedelta(0)])
def test_a_ttl_must_be_positive(store: Store, ttl: float | timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        LockManager(store, ttl=ttl)
    locks = LockManager(store)
    with pytest.raises(ValueError, match="positive"):
        locks.acquire("ds", "task_1", ttl=ttl)
    assert {LEASES: [], TOKENS: []} == lock_state(store)


def test_a_lease_round_trips_through_its_json(locks: LockManager) -> None:
    lease = locks.acquire("ds", "task_1").lease
    wire = lease.to_dict()
    assert {
        "resourceId": "ds",
        "holderTaskId": "task_1",
        "token": 1,
        "acquiredAt": "2024-03-14T15:30:00Z",
        "expiresAt": "2024-03-14T15:30:10Z",
    } == wire
    assert lease == Lease.from_dict(wire)
    assert lease == Lease.from_record("ds", lease.to_record())


@pytest.mark.parametrize(
    "broken",
    [
        None,
        {},
        {"resourceId": "ds", "holderTaskId": "t", "token": 1, "acquiredAt": "x"},
        {
            "resourceId": "ds",
            "holderTaskId": "t",
            "token": "1",
            "acquiredAt": "2024-03-14T15:30:00Z",
            "expiresAt": "2024-03-14T15:30:10Z",
        },
    ],
)
def test_a_lease_refuses_json_that_is_not_a_lease(broken: object) -> None:
    with pytest.raises(ValidationError, match="not a lease"):
        Lease.from_dict(broken)


def test_dataset_locked_has_the_seeds_error_body() -> None:
    error = DatasetLocked(
        dataset_id="ds",
        active_task_id="task_123e4567-e89b-12d3-a456-426614174000",
        expires_at="2024-03-14T15:30:10Z",
    )
    assert {
        "error": "Dataset is locked",
        "code": "DATASET_LOCKED",
        "details": {
            "message": "Dataset is currently being processed by another task",
            "activeTaskId": "task_123e4567-e89b-12d3-a456-426614174000",
        },
    } == error.to_wire()


def test_stale_token_is_data() -> None:
    error = StaleToken(resource_id="ds", token=1, current_token=3)
    assert ("STALE_TOKEN", 409, "Stale fencing token", StaleToken) == (
        error.code,
        error.status,
        error.title,
        CATALOGUE["STALE_TOKEN"],
    )
    assert "Token 1 on ds is stale: the latest token granted is 3" == str(error)
    assert {
        "message": "Token 1 on ds is stale: the latest token granted is 3",
        "resourceId": "ds",
        "token": 1,
        "currentToken": 3,
    } == error.details


@pytest.mark.parametrize(
    ("holder", "text"),
    [
        (None, "Token 2 holds no lease on ds; it is held by nobody"),
        ("task_9", "Token 2 holds no lease on ds; it is held by task task_9"),
    ],
)
def test_lease_not_held_is_data(holder: str | None, text: str) -> None:
    error = LeaseNotHeld(resource_id="ds", token=2, active_task_id=holder)
    assert ("LEASE_NOT_HELD", 409, "Lease not held", LeaseNotHeld) == (
        error.code,
        error.status,
        error.title,
        CATALOGUE["LEASE_NOT_HELD"],
    )
    assert text == str(error)
    free = {"message": text, "resourceId": "ds", "token": 2}
    assert (free if holder is None else {**free, "activeTaskId": holder}) == error.details
