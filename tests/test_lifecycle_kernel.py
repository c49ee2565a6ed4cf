"""The lifecycle kernel: definition checks, firing, refusals, introspection, and the
compiled lookup agreeing with the shared ``transitions.Machine`` for every state, event
and guard outcome."""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore import Guard, IllegalTransition, Lifecycle, LifecycleDefinitionError, When
from taskcore.docs import LIFECYCLES


class Light(StrEnum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


class Press(StrEnum):
    TOGGLE = "toggle"
    SMASH = "smash"


HAS_POWER: Guard[Any] = Guard("has_power", lambda c: c.power, "mains is on")
IS_FRAGILE: Guard[Any] = Guard("is_fragile", lambda c: c.fragile, "glass bulb")


def lamp() -> Lifecycle[Light, Press, Any]:
    """A toy with a guarded row and a row of alternatives (guarded, then fallback)."""
    return Lifecycle(
        "toy.lamp",
        states=Light,
        events=Press,
        initial=Light.OFF,
        table={
            Light.OFF: {Press.TOGGLE: When(HAS_POWER, Light.ON), Press.SMASH: Light.BROKEN},
            Light.ON: {
                Press.TOGGLE: Light.OFF,
                Press.SMASH: (When(IS_FRAGILE, Light.BROKEN), Light.OFF),
            },
            Light.BROKEN: {},
        },
    )


def test_unguarded_row_fires_to_its_target() -> None:
    assert lamp().fire(Light.OFF, Press.SMASH) == Light.BROKEN


def test_guarded_row_fires_when_its_guard_holds() -> None:
    assert lamp().fire(Light.OFF, Press.TOGGLE, SimpleNamespace(power=True)) == Light.ON


def test_guarded_row_is_refused_naming_the_guard_when_it_does_not_hold() -> None:
    with pytest.raises(IllegalTransition) as caught:
        lamp().fire(Light.OFF, Press.TOGGLE, SimpleNamespace(power=False))
    error = caught.value
    assert ("toy.lamp", "off", "toggle") == (error.lifecycle, error.state, error.event)
    assert ("has_power",) == error.failed_guards
    assert ("toggle", "smash") == error.allowed
    assert "toy.lamp: event 'toggle' refused in state 'off': guard has_power does not hold" == str(
        error
    )


def test_alternatives_are_tried_in_order_and_the_unguarded_one_is_the_fallback() -> None:
    assert lamp().fire(Light.ON, Press.SMASH, SimpleNamespace(fragile=True)) == Light.BROKEN
    assert lamp().fire(Light.ON, Press.SMASH, SimpleNamespace(fragile=False)) == Light.OFF


def test_terminal_state_refuses_every_event_and_names_none_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        lamp().fire(Light.BROKEN, Press.TOGGLE)
    assert () == caught.value.allowed
    assert "toy.lamp: event 'toggle' is not allowed in state 'broken'; allowed there: none" == str(
        caught.value
    )
    assert 409 == caught.value.status
    assert "ILLEGAL_TRANSITION" == caught.value.code


def test_a_guarded_row_without_context_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="guarded by 'has_power'"):
        lamp().fire(Light.OFF, Press.TOGGLE)


def test_can_fire_answers_without_raising() -> None:
    machine = lamp()
    assert machine.can_fire(Light.OFF, Press.SMASH)
    assert not machine.can_fire(Light.BROKEN, Press.SMASH)
    assert not machine.can_fire(Light.OFF, Press.TOGGLE, SimpleNamespace(power=False))


def test_introspection_reports_states_initial_terminal_and_allowed_events() -> None:
    machine = lamp()
    assert machine.states == (Light.OFF, Light.ON, Light.BROKEN)
    assert machine.events == (Press.TOGGLE, Press.SMASH)
    assert machine.initial == Light.OFF
    assert frozenset({Light.BROKEN}) == machine.terminal
    assert machine.is_terminal(Light.BROKEN)
    assert not machine.is_terminal(Light.ON)
    assert machine.allowed(Light.ON) == (Press.TOGGLE, Press.SMASH)
    assert () == machine.allowed(Light.BROKEN)
    assert frozenset(Light) == machine.reachable()
    assert frozenset({Light.BROKEN}) == machine.reachable(Light.BROKEN)
    assert ("has_power", "is_fragile") == tuple(g.name for g in machine.guards())
    assert 5 == len(list(machine.rows()))
    assert "<Lifecycle toy.lamp: 3 states, 5 rows>" == repr(machine)


@pytest.mark.parametrize(
    ("table", "initial", "why"),
    [
        ({Light.OFF: {Press.TOGGLE: Light.ON, Press.SMASH: Light.BROKEN}, Light.ON: {}},
         Light.OFF, "states without a row"),
        ({Light.OFF: {Press.TOGGLE: "lit", Press.SMASH: Light.BROKEN}, Light.ON: {},
          Light.BROKEN: {}}, Light.OFF, "not a state"),
        ({Light.OFF: {Press.TOGGLE: Light.ON}, Light.ON: {}, Light.BROKEN: {}},
         Light.OFF, "events no row uses"),
        ({Light.OFF: {Press.TOGGLE: Light.ON, Press.SMASH: Light.OFF}, Light.ON: {},
          Light.BROKEN: {}}, Light.OFF, "unreachable"),
        ({Light.OFF: {Press.TOGGLE: (Light.ON, When(HAS_POWER, Light.BROKEN)),
                      Press.SMASH: Light.BROKEN}, Light.ON: {}, Light.BROKEN: {}},
         Light.OFF, "unguarded alternative must come last"),
        ({Light.OFF: {"push": Light.ON, Press.SMASH: Light.BROKEN}, Light.ON: {},
          Light.BROKEN: {}}, Light.OFF, "unknown event"),
        ({Light.OFF: {Press.TOGGLE: Light.ON, Press.SMASH: Light.BROKEN}, Light.ON: {},
          Light.BROKEN: {}, "dim": {}}, Light.OFF, "unknown state"),
        ({Light.OFF: {}, Light.ON: {}, Light.BROKEN: {}}, "dim", "is not a state"),
    ],
    ids=["missing-row", "bad-target", "unused-event", "unreachable", "fallback-first",
         "unknown-event", "unknown-state", "bad-initial"],
)  # fmt: skip
def test_malformed_tables_are_refused_when_declared(table: Any, initial: Any, why: str) -> None:
    with pytest.raises(LifecycleDefinitionError, match=why):
        Lifecycle("toy.bad", states=Light, events=Press, initial=initial, table=table)


# -- the compiled lookup agrees with the transitions Machine -------------------------------

ALL_LIFECYCLES: list[Lifecycle[Any, Any, Any]] = [lamp(), *LIFECYCLES]


@st.composite
def fire_cases(draw: st.DrawFn) -> tuple[Lifecycle[Any, Any, Any], Any, Any, dict[str, bool]]:
    lifecycle = draw(st.sampled_from(ALL_LIFECYCLES))
    state = draw(st.sampled_from(lifecycle.states))
    event = draw(st.sampled_from(lifecycle.events))
    outcomes = {g.name: draw(st.booleans()) for g in lifecycle.guards()}
    for exclusive in _EXCLUSIVE:  # at most one of them can hold: keep the first that does
        held = [name for name in exclusive if outcomes.get(name)]
        outcomes.update(dict.fromkeys(held[1:], False))
    for stronger, weaker in _IMPLIES:  # a guard that holds only when another does
        if outcomes.get(stronger):
            outcomes[weaker] = True
    return lifecycle, state, event, outcomes


# Per guard and outcome, the context entries that make the guard give that outcome.  The
# guards of one lifecycle read different keys, so their witnesses merge into one context.
_WITNESSES: dict[str, dict[bool, dict[str, Any]]] = {
    "has_power": {True: {"power": True}, False: {"power": False}},
    "is_fragile": {True: {"fragile": True}, False: {"fragile": False}},
    "all_recorded": {True: {"completed": 3, "total": 3}, False: {"completed": 2, "total": 3}},
    # Chunkr's two guards read one key, a re-run's origin: at most one holds at a time.
    "rerun_of_succeeded": {True: {"rerun_of": "Succeeded"}, False: {}},
    "rerun_of_failed": {True: {"rerun_of": "Failed"}, False: {}},
    "passes_validation": {True: {"valid": True}, False: {"valid": False}},
    # Visual Layer's abort guard holds only for a dataset creation (_IMPLIES).
    "dataset_creation_outside_commit_phase": {
        True: {"in_commit_phase": False},
        False: {"in_commit_phase": True},
    },
    "dataset_creation": {
        True: {"task_type": "DATASET_CREATION"},
        False: {"task_type": "REINDEX"},
    },
    "unlockable": {
        True: {"exported": False, "upload_fully_processed": False},
        False: {"exported": True, "upload_fully_processed": False},
    },
}
# What a context holds before the witnesses are merged in (a guard's False may be "unset").
_BASE: dict[str, Any] = {"rerun_of": None}
# Guards that cannot hold together (they read the same key).
_EXCLUSIVE: tuple[tuple[str, ...], ...] = (("rerun_of_succeeded", "rerun_of_failed"),)
# Guards that hold only when another one does: (stronger, weaker).
_IMPLIES: tuple[tuple[str, str], ...] = (
    ("dataset_creation_outside_commit_phase", "dataset_creation"),
)


def _context(lifecycle: Lifecycle[Any, Any, Any], outcomes: dict[str, bool]) -> SimpleNamespace:
    """A context under which each guard answers ``outcomes[guard.name]`` (checked)."""
    merged: dict[str, Any] = dict(_BASE)
    for guard in lifecycle.guards():
        merged.update(_WITNESSES[guard.name][outcomes[guard.name]])
    context = SimpleNamespace(**merged)
    assert {g.name: g(context) for g in lifecycle.guards()} == outcomes
    return context


def test_every_guard_of_every_lifecycle_has_witnesses_for_both_outcomes() -> None:
    names = {g.name for lc in ALL_LIFECYCLES for g in lc.guards()}
    assert names == set(_WITNESSES)


@given(fire_cases())
def test_compiled_lookup_agrees_with_the_transitions_machine(
    case: tuple[Lifecycle[Any, Any, Any], Any, Any, dict[str, bool]],
) -> None:
    lifecycle, state, event, outcomes = case
    context = _context(lifecycle, outcomes)
    expected = lifecycle.reference_fire(state, event, context)
    try:
        actual = lifecycle.fire(state, event, context)
    except IllegalTransition as error:
        assert expected is None
        assert (state.value, event.value) == (error.state, error.event)
    else:
        assert expected == actual


def test_only_the_engine_module_imports_transitions() -> None:
    importers = []
    for path in Path("src/taskcore").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom)
                else []
            )  # fmt: skip
            if any(n == "transitions" or n.startswith("transitions.") for n in names):
                importers.append(path.name)
    assert ["_engine.py"] == importers
