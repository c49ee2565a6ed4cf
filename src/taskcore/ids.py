"""The id-factory port: where taskcore gets new ids.

Claro's task ids look like ``task_550e8400-e29b-41d4-a716-446655440000`` (Claro API
reference, "Tasks").
:class:`UuidIds` makes those from :func:`uuid.uuid4`; :class:`SeededIds` makes ids of the
same shape from a seeded generator, so a test or a demo replays exactly.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from taskcore.errors import IdCollision

__all__ = ["DRAWS", "IdFactory", "SeededIds", "UuidIds", "draw_free"]


@runtime_checkable
class IdFactory(Protocol):
    """Something that returns a fresh, never-repeated id on each call."""

    def __call__(self) -> str:
        """Return a new id."""
        ...


class UuidIds:
    """``<prefix><uuid4>`` ids (``task_550e8400-...``), the production default.

    Args:
        prefix: put before the UUID; Claro task ids use ``"task_"``.
    """

    def __init__(self, prefix: str = "task_") -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        """Return ``prefix`` followed by a random UUID4."""
        return f"{self.prefix}{uuid.uuid4()}"


class SeededIds:
    """Deterministic ids of the production shape, for tests and demos.

    Thread-safe: calls from many threads still never repeat an id.

    Args:
        seed: the same seed gives the same sequence of ids.
        prefix: put before the UUID.
    """

    def __init__(self, seed: int = 0, prefix: str = "task_") -> None:
        self.prefix = prefix
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """Return the next id of the sequence."""
        with self._lock:
            bits = self._random.getrandbits(128)
        return f"{self.prefix}{uuid.UUID(int=bits, version=4)}"


DRAWS: Final = 8
"""How many ids :func:`draw_free` draws before it gives up."""


def draw_free(kind: str, draw: Callable[[], str], free: Callable[[str], bool]) -> str:
    """An id from ``draw`` that ``free`` accepts, so a create never overwrites a record
    even when the factory repeats itself (a seeded factory after a restart).

    Raises:
        IdCollision: :data:`DRAWS` ids in a row were taken (``kind`` names what for).
    """
    for _ in range(DRAWS):
        candidate = draw()
        if free(candidate):
            return candidate
    raise IdCollision(kind, DRAWS)
