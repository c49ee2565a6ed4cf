"""A naive model of dataset locks and a Hypothesis state machine that holds a
:class:`~taskcore.locks.LockManager` on any :class:`~taskcore.store.Store` to it.

Run it against your own store::

    from taskcore.testing.locks import lock_machine

    TestMyStoreLocks = lock_machine(lambda clock: MyStore(clock=clock)).TestCase

The model is written independently of :mod:`taskcore.locks.lease` (plain dicts and
integers, no shared helpers), so the machine checks the rules, not a copy of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from taskcore.clock import Clock, ManualClock, format_instant
from taskcore.errors import DatasetLocked, LeaseNotHeld, StaleToken, TaskcoreError
from taskcore.locks import Lease, LockManager, Released
from taskcore.store import Store

__all__ = ["LockModel", "ModelLease", "lock_machine"]

RESOURCES = ("ds_a", "ds_b")
TASKS = ("task_1", "task_2", "task_3")
TTLS = (1.0, 5.0, 30.0)
STEPS = (0.5, 1.0, 4.0, 10.0, 31.0)
T = TypeVar("T")


@dataclass(frozen=True)
class ModelLease:
    """The model's lease: seconds since the machine's start instead of datetimes."""

    task: str
    token: int
    acquired: float
    expires: float


@dataclass
class LockModel:
    """Dataset locks, as plainly as they can be said.

    ``now`` is seconds since the start; ``leases`` holds each resource's lease until it
    is released or taken over; ``issued`` is the last token issued per resource.
    """

    now: float = 0.0
    leases: dict[str, ModelLease] = field(default_factory=dict)
    issued: dict[str, int] = field(default_factory=dict)

    def live(self, resource: str) -> ModelLease | None:
        """The resource's lease if it is live now."""
        lease = self.leases.get(resource)
        return lease if lease is not None and self.now < lease.expires else None

    def acquire(self, resource: str, task: str, ttl: float) -> tuple[str, ModelLease]:
        """Return ``("locked" | "reentered" | "granted" | "took_over", lease)``."""
        held = self.leases.get(resource)
        if held is not None and self.now < held.expires:
            return ("reentered" if held.task == task else "locked"), held
        token = self.issued.get(resource, 0) + 1
        self.issued[resource] = token
        self.leases[resource] = ModelLease(task, token, self.now, self.now + ttl)
        return ("granted" if held is None else "took_over"), self.leases[resource]

    def holds(self, resource: str, token: int) -> str:
        """``"ok"``, ``"stale"`` (a newer token exists) or ``"not_held"``."""
        if token < self.issued.get(resource, 0):
            return "stale"
        held = self.leases.get(resource)
        return "ok" if held is not None and held.token == token else "not_held"

    def renew(self, resource: str, token: int, ttl: float) -> str:
        """Extend the lease ``token`` names; return :meth:`holds`' verdict."""
        verdict = self.holds(resource, token)
        if verdict == "ok":
            held = self.leases[resource]
            self.leases[resource] = ModelLease(held.task, token, held.acquired, self.now + ttl)
        return verdict

    def release(self, resource: str, token: int) -> bool:
        """Remove the lease ``token`` names, if it is the resource's; say whether."""
        held = self.leases.get(resource)
        if held is not None and held.token == token:
            del self.leases[resource]
            return True
        return False


def lock_machine(store_factory: Callable[[Clock], Store]) -> type[RuleBasedStateMachine]:
    """Build the lock contract machine for stores made by ``store_factory``.

    Args:
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        A ``RuleBasedStateMachine`` subclass; its ``TestCase`` runs under pytest.
    """

    class LockContract(RuleBasedStateMachine):
        """Acquire, re-acquire, renew, release, fenced writes and clock moves, each
        checked against :class:`LockModel`."""

        leases = Bundle("leases")

        def __init__(self) -> None:
            super().__init__()
            self.clock = ManualClock()
            self.start = self.clock.now()
            self.store = store_factory(self.clock)
            self.locks = LockManager(self.store, ttl=5.0)
            self.model = LockModel()
            self.highest: dict[str, int] = {}

        def teardown(self) -> None:
            self.store.close()

        def _expires(self, lease: ModelLease) -> str:
            return format_instant(self.start + timedelta(seconds=lease.expires))

        def _real(self, resource: str, lease: ModelLease) -> Lease:
            return Lease(
                resource,
                lease.task,
                lease.token,
                self.start + timedelta(seconds=lease.acquired),
                self.start + timedelta(seconds=lease.expires),
            )

        @initialize()
        def nothing_is_locked_at_first(self) -> None:
            for resource in RESOURCES:
                assert self.locks.holder(resource) is None

        @rule(
            target=leases,
            resource=st.sampled_from(RESOURCES),
            task=st.sampled_from(TASKS),
            ttl=st.sampled_from(TTLS),
        )
        def acquire(self, resource: str, task: str, ttl: float) -> object:
            before = self.model.leases.get(resource)
            verdict, expected = self.model.acquire(resource, task, ttl)
            note(f"acquire {resource} by {task} ttl={ttl}: {verdict} {expected}")
            grant, error = _attempt(lambda: self.locks.acquire(resource, task, ttl))
            if verdict == "locked":
                # The refusal names the holder and its expiry; nothing changed (the
                # invariants compare holder and last token with the model's).
                assert isinstance(error, DatasetLocked), error
                assert (resource, expected.task, self._expires(expected)) == (
                    error.dataset_id,
                    error.active_task_id,
                    error.expires_at,
                )
                return multiple()
            assert grant is not None, error
            assert self._real(resource, expected) == grant.lease
            assert (verdict == "reentered") == grant.reentered
            taken = before if verdict == "took_over" else None
            assert (None if taken is None else self._real(resource, taken)) == grant.taken_over
            if not grant.reentered:
                assert grant.lease.token > self.highest.get(resource, 0)
                self.highest[resource] = grant.lease.token
            return grant.lease

        @rule(lease=leases, ttl=st.sampled_from(TTLS))
        def renew(self, lease: Lease, ttl: float) -> None:
            resource = lease.resource_id
            holder_before = self.model.leases.get(resource)
            verdict = self.model.renew(resource, lease.token, ttl)
            note(f"renew {lease}: {verdict}")
            renewed, error = _attempt(lambda: self.locks.renew(lease, ttl))
            if verdict == "ok":
                assert self._real(resource, self.model.leases[resource]) == renewed
                return
            expected_error = StaleToken if verdict == "stale" else LeaseNotHeld
            assert isinstance(error, StaleToken | LeaseNotHeld), error
            assert (expected_error, resource, lease.token) == (
                type(error),
                error.resource_id,
                error.token,
            )
            assert holder_before == self.model.leases.get(resource)

        @rule(lease=leases)
        def release(self, lease: Lease) -> None:
            resource = lease.resource_id
            held_before = self.model.leases.get(resource)
            released = self.model.release(resource, lease.token)
            note(f"release {lease}: {released}")
            expected = Released.RELEASED if released else Released.NOT_HELD
            assert expected == self.locks.release(lease)
            if not released:
                # A stale or foreign release never touches the holder.
                expected_holder = None if held_before is None else self._real(resource, held_before)
                with self.store.unit() as unit:
                    assert expected_holder == self.locks.lease_in(unit, resource)

        @rule(lease=leases)
        def write_with_a_token(self, lease: Lease) -> None:
            self._check_write(lease.resource_id, lease.token)

        @rule(resource=st.sampled_from(RESOURCES), token=st.integers(-1, 12))
        def write_with_any_token(self, resource: str, token: int) -> None:
            self._check_write(resource, token)

        def _check_write(self, resource: str, token: int) -> None:
            verdict = self.model.holds(resource, token)
            note(f"write on {resource} with token {token}: {verdict}")
            with self.store.unit() as unit:
                lease, error = _attempt(lambda: self.locks.check_token_in(unit, resource, token))
            if verdict == "ok":
                assert self._real(resource, self.model.leases[resource]) == lease
            elif verdict == "stale":
                assert isinstance(error, StaleToken), error
                assert (self.model.issued.get(resource, 0), token) == (
                    error.current_token,
                    error.token,
                )
            else:
                assert isinstance(error, LeaseNotHeld), error
                held = self.model.leases.get(resource)
                assert (None if held is None else held.task) == error.active_task_id

        @rule(resource=st.sampled_from(RESOURCES))
        def edit(self, resource: str) -> None:
            live = self.model.live(resource)

            def edit() -> None:
                with self.locks.guard_edit(resource) as unit:
                    unit.put("cells", resource, "edited")

            _, error = _attempt(edit)
            if live is None:
                assert error is None, error
            else:
                assert isinstance(error, DatasetLocked), error
                assert live.task == error.active_task_id

        @rule(seconds=st.sampled_from(STEPS))
        def time_passes(self, seconds: float) -> None:
            self.clock.advance(seconds)
            self.model.now += seconds

        @precondition(
            lambda self: any(lease.expires > self.model.now for lease in self.model.leases.values())
        )
        @rule(resource=st.sampled_from(RESOURCES))
        def time_reaches_an_expiry(self, resource: str) -> None:
            # The boundary itself: a lease is live before expires_at, and not at it.
            lease = self.model.leases.get(resource)
            if lease is None or lease.expires <= self.model.now:
                note(f"{resource} has no lease still to expire")
                return
            self.time_passes(lease.expires - self.model.now)

        @invariant()
        def the_live_holder_is_the_models(self) -> None:
            with self.store.unit() as unit:
                for resource in RESOURCES:
                    live = self.model.live(resource)
                    expected = None if live is None else self._real(resource, live)
                    assert expected == self.locks.holder_in(unit, resource)

        @invariant()
        def the_last_token_is_the_models(self) -> None:
            with self.store.unit() as unit:
                for resource in RESOURCES:
                    expected = self.model.issued.get(resource, 0)
                    assert expected == self.locks.last_token_in(unit, resource)

    return LockContract


def _attempt(call: Callable[[], T]) -> tuple[T | None, TaskcoreError | None]:
    """Run ``call``; return its result, or the taskcore error it raised."""
    try:
        return call(), None
    except TaskcoreError as error:
        return None, error
