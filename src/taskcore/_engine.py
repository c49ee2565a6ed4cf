"""The one door to ``transitions`` (no other module imports it).

Nothing else in taskcore imports ``transitions``.  For each lifecycle this module builds
exactly one ``transitions.Machine`` (``auto_transitions=False``, no model), shared by every
task of that lifecycle, and compiles it into a lookup that the kernel fires from.  The
machine stays the single definition: :func:`compile_machine` reads rows, guards and their
order back out of it, and :func:`machine_fire` fires through it for the tests that prove
the lookup agrees.  ``MachineError`` never leaves this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from transitions import Machine, MachineError

__all__ = ["build_machine", "compile_machine", "machine_fire"]

_REFERENCE_LOCK = threading.Lock()


class _GuardCondition:
    """A ``transitions`` condition that asks a taskcore guard about the fire's context."""

    def __init__(self, guard: Any) -> None:
        self.guard = guard

    def __call__(self, event_data: Any) -> bool:
        return bool(self.guard(event_data.kwargs.get("context")))


def build_machine(
    name: str,
    *,
    states: Sequence[str],
    initial: str,
    rows: Sequence[tuple[str, str, str, Any]],
) -> Any:
    """Build the lifecycle's machine from ``(source, event, target, guard|None)`` rows."""
    machine = Machine(
        model=None,
        states=list(states),
        initial=initial,
        auto_transitions=False,
        send_event=True,
        name=name,
    )
    for source, event, target, guard in rows:
        conditions: list[str | Callable[..., bool | None]] | None = (
            [_GuardCondition(guard)] if guard is not None else None
        )
        machine.add_transition(event, source, target, conditions=conditions)
    return machine


def compile_machine(machine: Any) -> dict[tuple[str, str], tuple[tuple[Any, str], ...]]:
    """Read ``(source, event) -> ((guard|None, target), ...)`` out of ``machine``.

    Alternatives keep the machine's order, which is the order it tries them in.
    """
    compiled: dict[tuple[str, str], tuple[tuple[Any, str], ...]] = {}
    for event_name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            compiled[(source, event_name)] = tuple(
                (
                    transition.conditions[0].func.guard if transition.conditions else None,
                    transition.dest,
                )
                for transition in transitions
            )
    return compiled


class _Probe:
    """A throwaway model that carries one state through one reference fire."""

    state: str


def machine_fire(machine: Any, state: str, event: str, context: Any) -> str | None:
    """Fire ``event`` from ``state`` through the machine; the target, or ``None`` if refused."""
    with _REFERENCE_LOCK:
        probe = _Probe()
        machine.add_model(probe, initial=state)
        try:
            moved = probe.trigger(event, context=context)  # type: ignore[attr-defined]
            return probe.state if moved else None
        except MachineError:
            return None
        finally:
            machine.remove_model(probe)
