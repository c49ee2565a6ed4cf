"""Running sequences of steps: one from a list, random ones under Hypothesis, replays.

- :func:`run_steps` resets the system, makes a fresh model and makes the steps in
  order, feeding each exchange to the model and capturing variables, until the first
  divergence (the steps after it are not made).
- :func:`explore` draws random sequences with Hypothesis (``st.data()``: the number of
  steps, then each step from :meth:`ApiModel.operations` in the state the earlier ones
  left), each after a reset; the first divergence is shrunk by Hypothesis to a short
  sequence, which is what it returns.
- :func:`replay` re-runs a sequence ``n`` times and counts how often the divergence
  shows again (reproducible when every time, else nondeterministic).

Everything here raises :class:`~taskcore.verify.exchange.Unreachable` or
:class:`~taskcore.verify.sut.ResetFailed` when the system cannot be reached or reset;
a divergence is a result, never an exception.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from taskcore.verify.exchange import Exchange, Step, UnboundVariable
from taskcore.verify.model import ApiModel, Divergence, judge
from taskcore.verify.sut import SystemUnderTest, is_unreachable

__all__ = ["Exploration", "Outcome", "explore", "replay", "run_steps"]

ModelFactory = Callable[[], ApiModel]


@attrs.define
class Outcome:
    """A sequence made: its steps, the exchanges, the divergences of its last step
    (empty when none showed), and the model as the sequence left it."""

    steps: list[Step]
    exchanges: list[Exchange]
    divergences: list[Divergence]
    model: ApiModel

    @property
    def diverged(self) -> bool:
        """Whether a divergence showed."""
        return bool(self.divergences)


def _make(
    sut: SystemUnderTest, model: ApiModel, step: Step, bindings: dict[str, str], index: int
) -> tuple[Exchange | None, list[Divergence]]:
    try:
        exchange = sut.send(step, bindings, model.auth_headers(step.tenant))
    except UnboundVariable as error:
        # An earlier answer did not give the id this step names: that answer diverged
        # already, or a replayed sequence met a system that answers otherwise.
        return None, [Divergence("responses", f"step {index + 1}: {error}", (), index)]
    found = judge(model, exchange)
    bindings.update(model.captured(step, exchange))
    return exchange, [attrs.evolve(d, step=index) for d in found]


def run_steps(sut: SystemUnderTest, make_model: ModelFactory, steps: Sequence[Step]) -> Outcome:
    """Reset, then make ``steps`` until the first divergence (see the module docstring).

    Raises:
        Unreachable, ResetFailed: the system cannot be reached or reset.
    """
    sut.reset()
    model = make_model()
    bindings: dict[str, str] = {}
    made: list[Step] = []
    exchanges: list[Exchange] = []
    for index, step in enumerate(steps):
        exchange, found = _make(sut, model, step, bindings, index)
        made.append(step)
        if exchange is not None:
            exchanges.append(exchange)
        if found:
            return Outcome(made, exchanges, found, model)
    return Outcome(made, exchanges, [], model)


@attrs.define
class Exploration:
    """What :func:`explore` did: sequences and steps made, checks per property,
    transitions seen, the shrunk failing sequence (``None`` when none diverged), and
    the last model's state."""

    sequences: int = 0
    steps: int = 0
    tally: Counter[str] = attrs.field(factory=Counter)
    coverage: Counter[str] = attrs.field(factory=Counter)
    failure: Outcome | None = None
    state: dict[str, Any] = attrs.field(factory=dict)
    timed_out: bool = False


class _Diverged(AssertionError):
    """Raised inside the Hypothesis test so that it shrinks the sequence."""


class _Stop(BaseException):
    """Carries an error that ends the whole run (an unreachable system) out of the
    Hypothesis test without it being taken for a failure to shrink."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def explore(
    sut: SystemUnderTest,
    make_model: ModelFactory,
    *,
    examples: int,
    seed: int,
    max_time: float | None = None,
    max_steps: int = 12,
    progress: Callable[[Exploration], None] = lambda _: None,
) -> Exploration:
    """Random sequences against ``sut`` under Hypothesis (see the module docstring).

    Args:
        examples: how many sequences Hypothesis generates (shrinking runs more).
        seed: Hypothesis' seed: the same seed against the same system draws the same
            sequences.
        max_time: seconds after which no new sequence is started and a sequence in
            flight makes no further step (``None``: no limit).
        max_steps: the longest sequence, in steps.
        progress: called after each sequence.

    Raises:
        Unreachable, ResetFailed: the system cannot be reached or reset.
        ImportError: Hypothesis is not installed (``pip install 'taskcore[testing]'``).
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    result = Exploration()
    deadline = None if max_time is None else time.monotonic() + max_time
    last: list[Outcome] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
    )
    @given(st.data())
    def sequence(data: st.DataObject) -> None:
        if deadline is not None and time.monotonic() > deadline:
            result.timed_out = True
            return
        try:
            sut.reset()
            model = make_model()
            bindings: dict[str, str] = {}
            steps: list[Step] = []
            exchanges: list[Exchange] = []
            count = data.draw(st.integers(1, max_steps), label="steps")
            result.sequences += 1
            try:
                for index in range(count):
                    if deadline is not None and time.monotonic() > deadline:
                        result.timed_out = True  # --max-time also ends a sequence in flight
                        break
                    step = data.draw(model.operations(), label=f"step {index + 1}")
                    steps.append(step)
                    exchange, found = _make(sut, model, step, bindings, index)
                    result.steps += 1
                    if exchange is not None:
                        exchanges.append(exchange)
                    if found:
                        last[:] = [Outcome(steps, exchanges, found, model)]
                        raise _Diverged(found[0].message)
            finally:
                result.tally.update(model.tally)
                result.coverage.update(model.coverage)
                result.state = model.state()
                progress(result)
        except _Diverged:
            raise
        except Exception as error:
            if is_unreachable(error):
                raise _Stop(error) from None
            raise

    hypothesis_seed(seed)(sequence)
    try:
        sequence()
    except _Stop as stop:
        raise stop.error from None
    except _Diverged:
        pass
    except Exception:  # Hypothesis' own (Flaky): the divergence did not always show
        if not last:
            raise
    if last:
        result.failure = last[0]
    return result


def replay(
    sut: SystemUnderTest, make_model: ModelFactory, steps: Sequence[Step], times: int
) -> tuple[int, Outcome | None]:
    """Re-run ``steps`` ``times`` times (each after a reset).

    Returns:
        How many runs diverged, and the last run that did (``None`` when none did).

    Raises:
        Unreachable, ResetFailed: the system cannot be reached or reset.
    """
    diverged = 0
    seen: Outcome | None = None
    for _ in range(times):
        outcome = run_steps(sut, make_model, steps)
        if outcome.diverged:
            diverged += 1
            seen = outcome
    return diverged, seen
