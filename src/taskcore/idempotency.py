"""Idempotency keys: a create retried with the same key returns the original response.

The pattern every payment and task API uses (and Claro's "Manage Webhooks" page
retries deliveries for 24 hours): a client that did not see the answer to a create
sends it again with the same ``Idempotency-Key`` header, and gets the *original*
response back, not a second task and not the task's current state.

- A key is scoped: the store key is :func:`~taskcore.keys.composite_key` of the scope
  parts (the account) and the key, so one tenant's key never meets another's.
- A key is bound to its request by a fingerprint of the *parsed, validated* request: the
  same key with a different request is ``IDEMPOTENCY_CONFLICT``.
- A key is kept for ``retention`` (default 24 hours) after its first use; after that it
  is forgotten and may be used again.  Expired keys are pruned through an
  :class:`~taskcore.retention.ExpiryIndex`, a few at a time, by every :meth:`remember`
  and by :meth:`prune`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from taskcore.clock import format_instant, parse_instant
from taskcore.errors import IdempotencyConflict, ValidationError
from taskcore.keys import composite_key
from taskcore.retention import ExpiryIndex
from taskcore.store.port import Unit
from taskcore.text import UNFIT

__all__ = ["DEFAULT_RETENTION", "MAX_KEY_LENGTH", "IdempotencyKeys", "fingerprint"]

DEFAULT_RETENTION: Final = timedelta(hours=24)
"""How long a key is remembered after its first use."""
MAX_KEY_LENGTH: Final = 255
"""The longest key accepted, in characters."""
_PRUNE_BATCH: Final = 8
"""Control characters (C0, DEL, C1) and lone surrogates: never part of a key."""


def fingerprint(*parts: Any) -> str:
    """A SHA-256 hex digest of ``parts`` as canonical JSON (sorted keys, ASCII)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def check_key(key: object) -> str:
    """Return ``key`` if it is a usable idempotency key, taken as it is (no trimming).

    A key is 1 to :data:`MAX_KEY_LENGTH` characters, not blank, without control
    characters or lone surrogates; any other printable text, non-ASCII included, is a key.

    Raises:
        ValidationError: otherwise (``field`` is ``Idempotency-Key``).
    """
    if (
        not isinstance(key, str)
        or not key.strip()
        or len(key) > MAX_KEY_LENGTH
        or UNFIT.search(key)
    ):
        raise ValidationError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            field="Idempotency-Key",
        )
    return key


class IdempotencyKeys:
    """Idempotency keys kept in a store table, with a retention.

    Holds no state beyond its settings: safe to share between threads.

    Args:
        table: the store table of the keys (``<table>.expiry`` holds their index).
        retention: how long a key is remembered after its first use.
    """

    def __init__(self, table: str, retention: timedelta = DEFAULT_RETENTION) -> None:
        if retention <= timedelta(0):
            raise ValueError(f"retention must be positive, not {retention}")
        self.table = table
        self.retention = retention
        self._expiry = ExpiryIndex(f"{table}.expiry")

    def recall(self, unit: Unit, scope: Sequence[str], key: str, print_: str) -> Any | None:
        """The response first given for ``key``, or ``None`` when the key is new (or
        expired).

        Raises:
            IdempotencyConflict: the key was used for a request with another fingerprint;
                nothing changed.
        """
        doc = unit.get(self.table, composite_key(*scope, key))
        if doc is None or parse_instant(doc["expiresAt"]) <= unit.now:
            return None
        if doc["fingerprint"] != print_:
            raise IdempotencyConflict(key, doc["ref"])
        return doc["response"]

    def remember(
        self, unit: Unit, scope: Sequence[str], key: str, print_: str, ref: str, response: Any
    ) -> None:
        """Keep ``response`` for ``key`` (``ref`` names what it created), and prune a few
        expired keys, inside the caller's unit."""
        self.prune(unit, _PRUNE_BATCH)
        store_key = composite_key(*scope, key)
        expires = unit.now + self.retention
        unit.put(self.table, store_key, {
            "fingerprint": print_, "ref": ref, "response": response,
            "expiresAt": format_instant(expires),
        })  # fmt: skip
        self._expiry.add(unit, expires, store_key)

    def prune(self, unit: Unit, limit: int) -> int:
        """Forget up to ``limit`` expired keys; return how many index entries were due."""
        due = self._expiry.pop_due(unit, limit)
        for store_key in due:
            doc = unit.get(self.table, store_key)
            if doc is not None and parse_instant(doc["expiresAt"]) <= unit.now:
                unit.delete(self.table, store_key)
        return len(due)
