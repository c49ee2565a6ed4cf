"""The lifecycle kernel: a task lifecycle declared as data, and the engine that fires it.

Theory of operation (after h11's ``_state.py``):

- A lifecycle is two :class:`~enum.StrEnum` types, ``State`` and ``Event``, whose values
  are the API's wire strings, and a table ``state -> event -> target``.  Terminal states
  have an explicit empty row.  A target is a state, or :class:`When` (a state reached only
  if a named :class:`Guard` holds), or a tuple of alternatives tried in order.
- :class:`Lifecycle` checks the table once, then hands it to the private engine
  (``taskcore._engine``, the only importer of ``transitions``), which builds one
  ``transitions.Machine`` for the lifecycle, shared by every task.  That machine is the
  single definition; :meth:`Lifecycle.fire` uses a lookup compiled *from the machine*
  (rows, guards and their order as the machine holds them), and a property test proves
  the two answer alike for every state, event and guard outcome.
- Firing is pure: ``fire(state, event, context) -> target``.  The task value, not the
  kernel, holds the state; a refusal raises :class:`~taskcore.errors.IllegalTransition`
  (or the lifecycle's own subclass for that event, such as Claro's
  ``TASK_NOT_CANCELLABLE``) and nothing changes, because nothing was changed.
- Every public method takes a state or event as its enum member *or* as its wire string
  (``"completed"``, ``"cancel"``), and answers with enum members.  Anything else (an
  unknown string, another type) is a :class:`~taskcore.errors.ValidationError` whose
  ``field`` is ``"state"`` or ``"event"`` and whose message names the lifecycle, the
  value and the values it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

import attrs

from taskcore import _engine
from taskcore.errors import IllegalTransition, LifecycleDefinitionError, ValidationError

__all__ = ["Guard", "Lifecycle", "Row", "When"]

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)
C = TypeVar("C")
M = TypeVar("M", bound=StrEnum)


@attrs.frozen
class Guard(Generic[C]):
    """A named condition on a conditional row.

    Attributes:
        name: a stable identifier, shown in errors and docs (``all_recorded``).
        predicate: decides from the context passed to :meth:`Lifecycle.fire`.
        description: one line for the docs.
    """

    name: str
    predicate: Callable[[C], bool] = attrs.field(eq=False, repr=False)
    description: str = ""

    def __call__(self, context: C) -> bool:
        """Return whether the guard holds for ``context``."""
        return self.predicate(context)


@attrs.frozen
class When(Generic[S, C]):
    """A conditional target: ``target`` is reached only when ``guard`` holds."""

    guard: Guard[C]
    target: S


@attrs.frozen
class Row(Generic[S, E, C]):
    """One transition of a lifecycle, as the docs and tests see it."""

    source: S
    event: E
    target: S
    guard: Guard[C] | None = None


# The rows the engine compiles for one (state, event): (guard or None, target), in order.
Alternatives = tuple[tuple[Guard[Any] | None, Any], ...]


class Lifecycle(Generic[S, E, C]):
    """One API's task lifecycle: states, events, table, and a shared engine.

    Immutable once built; safe to share between threads.

    Args:
        name: a dotted identifier (``"claro.task"``), used in errors and doc file names.
        states: the ``State`` enum.
        events: the ``Event`` enum.
        initial: the state every task starts in.
        table: ``state -> event -> target``; every state has a row, terminal ones empty.
        title: a human title for the docs.
        description: a paragraph for the docs (which API reference, which decisions).
        refusals: per event, the :class:`IllegalTransition` subclass raised when that
            event is refused (default: :class:`IllegalTransition` itself).

    Raises:
        LifecycleDefinitionError: the table is malformed (a state without a row, a
            target that is not a state, an event no row uses, a state unreachable from
            ``initial``, an unguarded alternative before the last).
    """

    def __init__(
        self,
        name: str,
        *,
        states: type[S],
        events: type[E],
        initial: S,
        table: Mapping[S, Mapping[E, S | When[S, C] | tuple[S | When[S, C], ...]]],
        title: str = "",
        description: str = "",
        refusals: Mapping[E, type[IllegalTransition]] | None = None,
    ) -> None:
        self.name = name
        self.states: tuple[S, ...] = tuple(states)
        self.events: tuple[E, ...] = tuple(events)
        self.initial = initial
        self.title: str = title or name
        self.description = description
        self._refusals = dict(refusals or {})
        self._rows = _flatten(name, self.states, self.events, initial, table)
        self._machine = _engine.build_machine(
            name,
            states=[s.value for s in self.states],
            initial=initial.value,
            rows=[(r.source.value, r.event.value, r.target.value, r.guard) for r in self._rows],
        )
        compiled = _engine.compile_machine(self._machine)
        # Plain rows go to a single dict lookup (the hot path); guarded ones keep their
        # alternatives in the machine's order.
        self._fast: dict[tuple[S, E], S] = {}
        self._guarded: dict[tuple[S, E], Alternatives] = {}
        for (source, event), alternatives in compiled.items():
            key = (states(source), events(event))
            resolved = tuple((guard, states(target)) for guard, target in alternatives)
            if len(resolved) == 1 and resolved[0][0] is None:
                self._fast[key] = resolved[0][1]
            else:
                self._guarded[key] = resolved
        self._allowed: dict[S, tuple[E, ...]] = {
            s: tuple(e for e in self.events if (s, e) in self._fast or (s, e) in self._guarded)
            for s in self.states
        }
        self.terminal: frozenset[S] = frozenset(s for s, es in self._allowed.items() if not es)
        # Wire string or member -> member: a StrEnum member hashes and compares as its
        # value, so one dict serves both spellings.
        self._state_of: dict[str, S] = {s.value: s for s in self.states}
        self._event_of: dict[str, E] = {e.value: e for e in self.events}

    def _state(self, value: S | str) -> S:
        """``value`` as a member of ``State``; a wire string is coerced.

        Raises:
            ValidationError: ``value`` names no state (``field`` is ``"state"``).
        """
        return _member(self.name, "state", self._state_of, value)

    def _event(self, value: E | str) -> E:
        """``value`` as a member of ``Event``; a wire string is coerced.

        Raises:
            ValidationError: ``value`` names no event (``field`` is ``"event"``).
        """
        return _member(self.name, "event", self._event_of, value)

    def __repr__(self) -> str:
        return f"<Lifecycle {self.name}: {len(self.states)} states, {len(self._rows)} rows>"

    # -- firing -------------------------------------------------------------------------

    def fire(self, state: S | str, event: E | str, context: C | None = None) -> S:
        """Return the state that ``event`` leads to from ``state``.

        Args:
            state: the task's current state (member or wire string).
            event: what happened (member or wire string).
            context: what guards decide from (required when the row is guarded).

        Returns:
            The target state (a member).  Nothing is mutated: the caller stores it.

        Raises:
            IllegalTransition: (or the lifecycle's subclass for ``event``) the state has
                no row for the event, or no guard of its row holds.  The caller's task
                is untouched.
            ValidationError: ``state`` or ``event`` is not one of the lifecycle's.
        """
        try:
            # The hot path: members and wire strings alike hit the compiled lookup.
            target = self._fast.get((state, event))  # type: ignore[arg-type]
        except TypeError:  # unhashable: not a state; _state() says so
            target = None
        if target is not None:
            return target
        return self._fire_guarded(self._state(state), self._event(event), context)

    def _fire_guarded(self, state: S, event: E, context: C | None) -> S:
        alternatives = self._guarded.get((state, event))
        if alternatives is None:
            raise self.refusal(state, event)
        for guard, target in alternatives:
            if guard is None or guard(_require_context(self, state, event, guard, context)):
                return target  # type: ignore[no-any-return]  # targets are S by construction
        raise self.refusal(
            state, event, failed_guards=[g.name for g, _ in alternatives if g is not None]
        )

    def can_fire(self, state: S | str, event: E | str, context: C | None = None) -> bool:
        """Return whether :meth:`fire` would accept ``event`` from ``state``.

        Raises:
            ValidationError: ``state`` or ``event`` is not one of the lifecycle's.
        """
        try:
            self.fire(state, event, context)
        except IllegalTransition:
            return False
        return True

    def refusal(
        self, state: S | str, event: E | str, *, failed_guards: list[str] | None = None
    ) -> IllegalTransition:
        """The error :meth:`fire` raises when ``event`` is refused in ``state``.

        Raises:
            ValidationError: ``state`` or ``event`` is not one of the lifecycle's.
        """
        state, event = self._state(state), self._event(event)
        error_type = self._refusals.get(event, IllegalTransition)
        return error_type(
            lifecycle=self.name,
            state=state.value,
            event=event.value,
            allowed=[e.value for e in self._allowed[state]],
            failed_guards=failed_guards or (),
        )

    def reference_fire(self, state: S | str, event: E | str, context: C | None = None) -> S | None:
        """Fire through the ``transitions.Machine`` itself; ``None`` when refused.

        The slow, authoritative path, for tests that prove :meth:`fire` agrees with the
        machine.  Serialised internally; not for production use.

        Raises:
            ValidationError: ``state`` or ``event`` is not one of the lifecycle's.
        """
        state, event = self._state(state), self._event(event)
        target = _engine.machine_fire(self._machine, state.value, event.value, context)
        return None if target is None else self._state_of[target]

    # -- introspection ------------------------------------------------------------------

    def allowed(self, state: S | str) -> tuple[E, ...]:
        """Events that have a row in ``state`` (guarded ones included), in enum order.

        Raises:
            ValidationError: ``state`` is not one of the lifecycle's.
        """
        return self._allowed[self._state(state)]

    def is_terminal(self, state: S | str) -> bool:
        """Whether ``state`` has an empty row (no event leaves it).

        Raises:
            ValidationError: ``state`` is not one of the lifecycle's.
        """
        return self._state(state) in self.terminal

    def rows(self) -> Iterator[Row[S, E, C]]:
        """Every transition, in table order."""
        return iter(self._rows)

    def reachable(self, start: S | str | None = None) -> frozenset[S]:
        """States reachable from ``start`` (default: initial), ignoring guards.

        Raises:
            ValidationError: ``start`` is not one of the lifecycle's states.
        """
        return _reach(self._rows, self.initial if start is None else self._state(start))

    def guards(self) -> tuple[Guard[C], ...]:
        """Every distinct guard the table uses, in table order."""
        found: dict[str, Guard[C]] = {}
        for row in self._rows:
            if row.guard is not None:
                found.setdefault(row.guard.name, row.guard)
        return tuple(found.values())


def _member(lifecycle: str, kind: str, members: Mapping[str, M], value: object) -> M:
    """The member ``value`` names in ``members`` (wire value -> member).

    Raises:
        ValidationError: ``value`` is not a member nor a member's wire string; ``field``
            is ``kind``.  The message shows the value with ``repr`` (never raw text).
    """
    member = members.get(value) if isinstance(value, str) else None
    if member is None:
        known = ", ".join(members)
        raise ValidationError(
            f"{lifecycle}: unknown {kind} {value!r}; {kind}s: {known}", field=kind
        ) from None
    return member


def _require_context(
    lifecycle: Lifecycle[Any, Any, Any],
    state: StrEnum,
    event: StrEnum,
    guard: Guard[Any],
    context: Any,
) -> Any:
    if context is None:
        raise TypeError(
            f"{lifecycle.name}: {event.value!r} from {state.value!r} is guarded by "
            f"{guard.name!r}; pass a context to fire()"
        )
    return context


def _flatten(
    name: str,
    states: tuple[S, ...],
    events: tuple[E, ...],
    initial: S,
    table: Mapping[S, Mapping[E, Any]],
) -> tuple[Row[S, E, Any], ...]:
    """Check the table and flatten it into rows (table order)."""

    def fail(why: str) -> LifecycleDefinitionError:
        return LifecycleDefinitionError(f"lifecycle {name}: {why}")

    if initial not in states:
        raise fail(f"initial state {initial!r} is not a state")
    missing = [s.value for s in states if s not in table]
    if missing:
        raise fail(f"states without a row (give terminal states an empty row): {missing}")
    rows: list[Row[S, E, Any]] = []
    for source, row in table.items():
        if source not in states:
            raise fail(f"row for unknown state {source!r}")
        for event, spec in row.items():
            if event not in events:
                raise fail(f"unknown event {event!r} in row {source.value!r}")
            alternatives = spec if isinstance(spec, tuple) else (spec,)
            for i, alternative in enumerate(alternatives):
                guard, target = (
                    (alternative.guard, alternative.target)
                    if isinstance(alternative, When)
                    else (None, alternative)
                )
                if target not in states:
                    raise fail(f"{source.value} --{event.value}--> {target!r}: not a state")
                if guard is None and i < len(alternatives) - 1:
                    raise fail(
                        f"{source.value} --{event.value}: an unguarded alternative must come last"
                    )
                rows.append(Row(source, event, target, guard))
    unused = [e.value for e in events if all(r.event != e for r in rows)]
    if unused:
        raise fail(f"events no row uses: {unused}")
    seen = _reach(rows, initial)
    unreachable = [s.value for s in states if s not in seen]
    if unreachable:
        raise fail(f"states unreachable from {initial.value!r}: {unreachable}")
    return tuple(rows)


def _reach(rows: tuple[Row[S, E, Any], ...] | list[Row[S, E, Any]], start: S) -> frozenset[S]:
    """States reachable from ``start`` along ``rows``, ignoring guards."""
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for row in rows:
            if row.source == state and row.target not in seen:
                seen.add(row.target)
                frontier.append(row.target)
    return frozenset(seen)
