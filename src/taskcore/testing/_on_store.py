"""The one way a service state machine is bound to a store of the user's choosing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from taskcore.clock import Clock
from taskcore.store import Store

__all__ = ["on_store"]


class _StoreMachine(Protocol):
    def make_store(self, clock: Clock) -> Store: ...


M = TypeVar("M", bound=_StoreMachine)


def on_store(machine: type[M], store_factory: Callable[[Clock], Store]) -> type[M]:
    """A subclass of ``machine`` whose ``make_store`` calls ``store_factory``.

    Args:
        machine: a service state machine class with a ``make_store(clock)`` method.
        store_factory: called with a :class:`~taskcore.clock.ManualClock` for each
            example; returns a fresh, empty store on that clock.  The machine closes it.

    Returns:
        The subclass (named ``<Machine>OnStore``); its ``TestCase`` runs under pytest.
    """

    def make_store(self: M, clock: Clock) -> Store:
        return store_factory(clock)

    name = machine.__name__.removesuffix("Machine") + "OnStore"
    return type(name, (machine,), {"make_store": make_store, "__module__": machine.__module__})
