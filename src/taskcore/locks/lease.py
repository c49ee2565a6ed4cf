"""Leases and the rules that grant, renew, release and check them (pure: no I/O, no clock).

Theory of operation (docs/locks.md):

- A :class:`Lease` is a value: which task holds which resource (a dataset), under which
  fencing token, from when until when.  It is *live* while ``now < expires_at``.
- ``token`` is a fencing token: the resource's grants are numbered 1, 2, 3, ... and the
  number never goes back, whatever happens in between (release, expiry, takeover).  A
  write that carries a token older than the latest grant is refused (:class:`StaleToken`).
- The rules are functions of (the resource's current lease or ``None``, the last token
  issued on it, ``now``) that return the new lease or raise, so :mod:`manager` can run
  them inside any store's unit of work and nothing here can change anything on refusal.
- An expired lease stays the resource's lease until someone touches the resource: its
  holder may still renew it or write with its token (no other grant happened, so its
  token still fences correctly), and any acquire takes it over with the next token.

Decisions where the issue is silent (docs/locks.md):

- Re-acquiring by the holder's task id returns the same lease, unchanged, only while it
  is live; an expired lease is taken over even by its own task (new token, reported in
  :attr:`Grant.taken_over`), so "expired" means one thing for every acquirer.
- Release returns a :class:`Released` value rather than raising: ending a task must be
  idempotent, and a stale release is an expected race, not a caller error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import attrs

from taskcore.clock import format_instant, parse_instant
from taskcore.errors import DatasetLocked, LeaseNotHeld, StaleToken, ValidationError

__all__ = [
    "EPOCH",
    "MICROSECOND",
    "Grant",
    "Lease",
    "Released",
    "decide_acquire",
    "decide_release",
    "decide_renew",
    "live_lease",
    "require_holder",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""Origin of the instants in a lease's store record."""
MICROSECOND: Final = timedelta(microseconds=1)
"""Unit of the instants in a lease's store record."""


@attrs.frozen
class Lease:
    """A task's hold on a resource.

    Attributes:
        resource_id: what is locked (a dataset id).
        holder_task_id: the task holding it.
        token: the fencing token, strictly increasing per resource across every grant.
        acquired_at: when this grant was made (renewal does not change it).
        expires_at: when the lease lapses unless renewed.
    """

    resource_id: str
    holder_task_id: str
    token: int
    acquired_at: datetime
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        """Return whether the lease still holds at ``now`` (``now < expires_at``)."""
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """The lease as JSON (camelCase keys, instants as ``2024-03-14T15:30:00Z``)."""
        return {
            "resourceId": self.resource_id,
            "holderTaskId": self.holder_task_id,
            "token": self.token,
            "acquiredAt": format_instant(self.acquired_at),
            "expiresAt": format_instant(self.expires_at),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Lease:
        """Read a lease back from :meth:`to_dict`'s form.

        Raises:
            ValidationError: ``data`` is not a lease's JSON (a missing or mistyped field).
        """
        try:
            resource_id = data["resourceId"]
            holder_task_id = data["holderTaskId"]
            token = data["token"]
            acquired_at = parse_instant(data["acquiredAt"])
            expires_at = parse_instant(data["expiresAt"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValidationError(f"not a lease: {error}") from None
        if not (
            isinstance(resource_id, str) and isinstance(holder_task_id, str) and type(token) is int
        ):
            raise ValidationError("not a lease: resourceId, holderTaskId or token mistyped")
        return cls(resource_id, holder_task_id, token, acquired_at, expires_at)

    def to_record(self) -> list[Any]:
        """The compact form a store keeps: ``[holder, token, acquired_us, expires_us]``
        (instants as integer microseconds since the epoch: exact, and cheap to make)."""
        return [
            self.holder_task_id,
            self.token,
            (self.acquired_at - EPOCH) // MICROSECOND,
            (self.expires_at - EPOCH) // MICROSECOND,
        ]

    @classmethod
    def from_record(cls, resource_id: str, record: Any) -> Lease:
        """Read a lease back from :meth:`to_record`'s form (trusted: the store's own)."""
        holder_task_id, token, acquired_us, expires_us = record
        return cls(
            resource_id,
            holder_task_id,
            token,
            EPOCH + timedelta(microseconds=acquired_us),
            EPOCH + timedelta(microseconds=expires_us),
        )


@attrs.frozen
class Grant:
    """What an acquire gave.

    Attributes:
        lease: the lease now holding the resource.
        taken_over: the expired lease this grant replaced, if any: its task lost the
            resource, and a service should mark it failed (``lease_expired``) in the same
            unit of work.
        reentered: true when the task already held the live lease and got it back
            unchanged.
    """

    lease: Lease
    taken_over: Lease | None = None
    reentered: bool = False


class Released(StrEnum):
    """What a release did."""

    RELEASED = "released"
    """The lease held the resource and was removed; the resource is free."""
    NOT_HELD = "not_held"
    """The token names no lease holding the resource (stale, foreign or already
    released); nothing changed."""


def live_lease(current: Lease | None, now: datetime) -> Lease | None:
    """Return ``current`` when it is live at ``now``, else ``None``."""
    if current is not None and now < current.expires_at:
        return current
    return None


def decide_acquire(
    current: Lease | None,
    last_token: int,
    resource_id: str,
    task_id: str,
    now: datetime,
    ttl: timedelta,
) -> Grant:
    """Decide an acquire of ``resource_id`` by ``task_id`` at ``now``.

    Args:
        current: the resource's lease, live or expired, or ``None`` when free.
        last_token: the last token ever issued on the resource (0 when none).
        resource_id: the resource to lock.
        task_id: the task asking.
        now: the store's instant.
        ttl: how long a new lease lasts.

    Returns:
        The same lease when ``task_id`` holds it live (``reentered``); otherwise a new
        lease with token ``last_token + 1``, and the expired lease it replaces, if any.

    Raises:
        DatasetLocked: another task holds a live lease (its id and expiry are in the
            error); nothing changed.
    """
    if current is not None and now < current.expires_at:
        if current.holder_task_id == task_id:
            return Grant(current, None, True)
        raise DatasetLocked(
            dataset_id=resource_id,
            active_task_id=current.holder_task_id,
            expires_at=format_instant(current.expires_at),
        )
    lease = Lease(resource_id, task_id, last_token + 1, now, now + ttl)
    return Grant(lease, current, False)


def _require_int_token(token: object) -> None:
    """A fencing token is an ``int``: not a bool, not a float equal to one (``2.0``)."""
    if type(token) is not int:
        raise ValidationError(f"A fencing token is an integer, not {token!r}", field="token")


def require_holder(current: Lease | None, last_token: int, resource_id: str, token: int) -> Lease:
    """Check that ``token`` is the lease holding ``resource_id`` (the fencing check).

    An expired lease not yet taken over still holds: no other grant was made since.

    Returns:
        The lease that ``token`` names.

    Raises:
        ValidationError: ``token`` is not an ``int`` (``field`` is ``"token"``);
            nothing changed.
        StaleToken: a newer token was granted on the resource; nothing changed.
        LeaseNotHeld: no lease with ``token`` holds the resource (released, or never
            issued); nothing changed.
    """
    _require_int_token(token)
    if token < last_token:
        raise StaleToken(resource_id=resource_id, token=token, current_token=last_token)
    if current is None or current.token != token:
        raise LeaseNotHeld(
            resource_id=resource_id,
            token=token,
            active_task_id=None if current is None else current.holder_task_id,
        )
    return current


def decide_renew(
    current: Lease | None,
    last_token: int,
    resource_id: str,
    token: int,
    now: datetime,
    ttl: timedelta,
) -> Lease:
    """Decide a renewal: the lease ``token`` names now expires at ``now + ttl``.

    Same token, same ``acquired_at``.  An expired lease not yet taken over may be renewed.

    Raises:
        ValidationError: ``token`` is not an ``int``; nothing changed.
        StaleToken: the lease was released or taken over and a newer token granted;
            nothing changed.
        LeaseNotHeld: no lease with ``token`` holds the resource; nothing changed.
    """
    lease = require_holder(current, last_token, resource_id, token)
    return attrs.evolve(lease, expires_at=now + ttl)


def decide_release(current_token: int | None, token: int) -> Released:
    """Decide a release by ``token``: only the lease holding the resource is released.

    Args:
        current_token: the token of the resource's lease (live or expired), or ``None``
            when the resource has none.
        token: the token presented.

    Returns:
        :attr:`Released.RELEASED` when ``token`` is the current lease's, else
        :attr:`Released.NOT_HELD` (and the caller must change nothing).

    Raises:
        ValidationError: ``token`` is not an ``int`` (a caller's error, unlike a stale
            release); nothing changed.
    """
    _require_int_token(token)
    if current_token is not None and current_token == token:
        return Released.RELEASED
    return Released.NOT_HELD
