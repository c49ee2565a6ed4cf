"""The lock manager: lease rules (:mod:`taskcore.locks.lease`) run inside a store's units.

Every operation comes two ways:

- ``*_in(unit, ...)`` works inside the caller's unit of work, so a service commits "task
  created" with "lease granted", or "task ended" with "lease released", as one
  transaction (docs/locks.md); a refusal raises before anything is
  written, and the caller's unit rolls back whatever else it did;
- the plain method opens a unit of its own for that one operation.

State lives in two tables of the store: :data:`LEASES` (resource -> current lease, kept
until released or taken over) and :data:`TOKENS` (resource -> last token issued, kept
forever, so tokens keep increasing across releases).  Expiry is judged with the unit's
instant (:attr:`Unit.now <taskcore.store.Unit.now>`) whenever a resource is touched; no
background thread is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

from taskcore.clock import as_span, format_instant
from taskcore.errors import DatasetLocked
from taskcore.locks.lease import (
    EPOCH,
    MICROSECOND,
    Grant,
    Lease,
    Released,
    decide_acquire,
    decide_release,
    decide_renew,
    live_lease,
    require_holder,
)
from taskcore.store.port import Store, Unit

__all__ = ["DEFAULT_TTL", "LEASES", "TOKENS", "LockManager"]

LEASES: Final = "locks.leases"
"""Store table: resource id -> the current lease's record (:meth:`Lease.to_record`)."""
TOKENS: Final = "locks.tokens"
"""Store table: resource id -> the last fencing token issued on it (never deleted)."""
DEFAULT_TTL: Final = timedelta(minutes=5)
"""A lease's life when neither the manager nor the call says otherwise."""


def _as_ttl(ttl: timedelta | float) -> timedelta:
    return as_span(ttl, "a lease's ttl")


class LockManager:
    """Dataset locks as leases with fencing tokens, kept in a store.

    Holds no state of its own beyond its settings: thread- and process-safety come from
    the store's units (serialised in memory; ``BEGIN IMMEDIATE`` in SQLite).

    Args:
        store: where leases and tokens live (the service's own store, so both share units).
        ttl: a lease's life, as a timedelta or seconds.

    Raises:
        ValueError: ``ttl`` is not positive.
    """

    def __init__(self, store: Store, ttl: timedelta | float = DEFAULT_TTL) -> None:
        self.store = store
        self.ttl: timedelta = _as_ttl(ttl)

    def _ttl(self, ttl: timedelta | float | None) -> timedelta:
        return self.ttl if ttl is None else _as_ttl(ttl)

    # --- inside the caller's unit ------------------------------------------------------

    def lease_in(self, unit: Unit, resource_id: str) -> Lease | None:
        """Return the resource's lease, live or expired (not yet taken over), or ``None``."""
        record = unit.get(LEASES, resource_id)
        return None if record is None else Lease.from_record(resource_id, record)

    def holder_in(self, unit: Unit, resource_id: str) -> Lease | None:
        """Return the resource's live lease at ``unit.now``, or ``None`` when free."""
        return live_lease(self.lease_in(unit, resource_id), unit.now)

    def last_token_in(self, unit: Unit, resource_id: str) -> int:
        """Return the last fencing token issued on the resource (0 when none ever was)."""
        token: int | None = unit.get(TOKENS, resource_id)
        return 0 if token is None else token

    def acquire_in(
        self,
        unit: Unit,
        resource_id: str,
        task_id: str,
        ttl: timedelta | float | None = None,
    ) -> Grant:
        """Lock ``resource_id`` for ``task_id`` in ``unit``.

        Args:
            unit: the caller's unit of work.
            resource_id: the dataset to lock.
            task_id: the task that will hold it.
            ttl: the lease's life; the manager's when ``None``.

        Returns:
            The grant: the task's live lease back unchanged (``reentered``), or a new
            lease with the next token, plus the expired lease it took over, if any.

        Raises:
            DatasetLocked: another task holds a live lease; nothing was written.
            ValueError: ``ttl`` is not positive; nothing was written.
        """
        span = self.ttl if ttl is None else _as_ttl(ttl)
        # The hot path of every lock: lookups inlined, and the record built from integer
        # microseconds rather than by converting the lease's datetimes back (same values:
        # both sides are exact microsecond arithmetic; docs/locks.md, "Cost").
        record = unit.get(LEASES, resource_id)
        last_token = unit.get(TOKENS, resource_id)
        now = unit.now
        grant = decide_acquire(
            None if record is None else Lease.from_record(resource_id, record),
            0 if last_token is None else last_token,
            resource_id,
            task_id,
            now,
            span,
        )
        if not grant.reentered:
            token = grant.lease.token
            now_us = (now - EPOCH) // MICROSECOND
            unit.put(LEASES, resource_id, [task_id, token, now_us, now_us + span // MICROSECOND])
            unit.put(TOKENS, resource_id, token)
        return grant

    def renew_in(
        self, unit: Unit, resource_id: str, token: int, ttl: timedelta | float | None = None
    ) -> Lease:
        """Extend the lease ``token`` names to ``unit.now + ttl`` (same token).

        Returns:
            The renewed lease.

        Raises:
            StaleToken: the lease was released or taken over since; nothing was written.
            LeaseNotHeld: no lease with ``token`` holds the resource; nothing was written.
            ValueError: ``ttl`` is not positive; nothing was written.
        """
        span = self._ttl(ttl)
        lease = decide_renew(
            self.lease_in(unit, resource_id),
            self.last_token_in(unit, resource_id),
            resource_id,
            token,
            unit.now,
            span,
        )
        unit.put(LEASES, resource_id, lease.to_record())
        return lease

    def release_in(self, unit: Unit, resource_id: str, token: int) -> Released:
        """Release the lease ``token`` names, if it is the one holding the resource.

        Returns:
            :attr:`Released.RELEASED`, or :attr:`Released.NOT_HELD` when the token is
            stale, foreign or already released, in which case nothing was written (the
            holder, if any, keeps its lease).
        """
        record = unit.get(LEASES, resource_id)
        outcome = decide_release(None if record is None else record[1], token)
        if outcome is Released.RELEASED:
            unit.delete(LEASES, resource_id)
        return outcome

    def check_token_in(self, unit: Unit, resource_id: str, token: int) -> Lease:
        """The fencing check before a write on behalf of the lease ``token`` names.

        Returns:
            The lease the token names (it may have expired without being taken over:
            no newer grant exists, so the write is still safe).

        Raises:
            StaleToken: a newer token was granted; the caller must not write.
            LeaseNotHeld: no lease with ``token`` holds the resource; the caller must
                not write.
        """
        return require_holder(
            self.lease_in(unit, resource_id),
            self.last_token_in(unit, resource_id),
            resource_id,
            token,
        )

    def check_unlocked(self, unit: Unit, dataset_id: str) -> None:
        """Refuse a structure or data edit of ``dataset_id`` while a task holds it.

        Raises:
            DatasetLocked: a live lease holds the dataset (the error names its task);
                nothing was written.
        """
        lease = self.holder_in(unit, dataset_id)
        if lease is not None:
            raise DatasetLocked(
                dataset_id=dataset_id,
                active_task_id=lease.holder_task_id,
                expires_at=format_instant(lease.expires_at),
            )

    # --- one unit of their own ---------------------------------------------------------

    def acquire(
        self, resource_id: str, task_id: str, ttl: timedelta | float | None = None
    ) -> Grant:
        """:meth:`acquire_in` in a unit of its own.

        Raises:
            DatasetLocked: another task holds a live lease; nothing changed.
            ValueError: ``ttl`` is not positive; nothing changed.
        """
        with self.store.unit() as unit:
            return self.acquire_in(unit, resource_id, task_id, ttl)

    def renew(self, lease: Lease, ttl: timedelta | float | None = None) -> Lease:
        """:meth:`renew_in` for ``lease`` in a unit of its own.

        Raises:
            StaleToken: the lease was released or taken over since; nothing changed.
            LeaseNotHeld: the lease no longer holds the resource; nothing changed.
            ValueError: ``ttl`` is not positive; nothing changed.
        """
        with self.store.unit() as unit:
            return self.renew_in(unit, lease.resource_id, lease.token, ttl)

    def release(self, lease: Lease) -> Released:
        """:meth:`release_in` for ``lease`` in a unit of its own (see there)."""
        with self.store.unit() as unit:
            return self.release_in(unit, lease.resource_id, lease.token)

    def holder(self, resource_id: str) -> Lease | None:
        """:meth:`holder_in` in a unit of its own."""
        with self.store.unit() as unit:
            return self.holder_in(unit, resource_id)

    def check_token(self, lease: Lease) -> Lease:
        """:meth:`check_token_in` for ``lease`` in a unit of its own.

        Raises:
            StaleToken: a newer token was granted; nothing changed.
            LeaseNotHeld: the lease no longer holds the resource; nothing changed.
        """
        with self.store.unit() as unit:
            return self.check_token_in(unit, lease.resource_id, lease.token)

    @contextmanager
    def guard_edit(self, dataset_id: str) -> Iterator[Unit]:
        """Open a unit for an edit of ``dataset_id`` that no task holds.

        The check and the edit share the unit, so no task can lock the dataset in
        between::

            with locks.guard_edit("ds_1") as unit:
                unit.put("cells", "ds_1/r1/c1", "new value")

        Raises:
            DatasetLocked: a live lease holds the dataset; the block does not run and
                nothing changed.
        """
        with self.store.unit() as unit:
            self.check_unlocked(unit, dataset_id)
            yield unit
