"""The benchmark harness: medians, ratios against a baseline run alongside, budgets.

Every benchmark measures taskcore and its baseline in the same run, on the same data,
and reports the ratio: machines here are shared and noisy, so absolute times mean little.
A :class:`Budget` is a named limit from an issue; ``bench/run.py`` prints one line per
budget at the end, exactly ``budget <name>: <measured> (limit <limit>) ok|over``.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Budget", "Report", "calls_per_round", "measure_memory", "median_seconds"]


def median_seconds(fn: Callable[[], object], *, repeat: int = 7, number: int = 1) -> float:
    """Median wall time of one call of ``fn``, over ``repeat`` rounds of ``number`` calls.

    Garbage collection is paused during each round so that one round does not pay for
    another's garbage.
    """
    rounds = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            rounds.append((time.perf_counter() - start) / number)
        finally:
            gc.enable()
    return statistics.median(rounds)


def calls_per_round(fn: Callable[[], object], *, round_seconds: float = 0.01) -> int:
    """How many calls of ``fn`` fill a round of about ``round_seconds``.

    A call of a few microseconds timed alone measures the timer and a cold cache more than
    the call; timing many calls per round (as ``timeit`` does) measures the steady state.
    Use the same rule for the code under test and its baseline.
    """
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(round_seconds / once))


def measure_memory(build: Callable[[], object]) -> int:
    """Bytes still allocated by what ``build`` returns (tracemalloc, peak-free)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


@dataclass(frozen=True)
class Budget:
    """One budget's outcome.

    ``at_most`` budgets hold when ``measured <= limit`` (a cost ratio); ``at_least``
    budgets hold when ``measured >= limit`` (a speed-up or a rate).
    """

    name: str
    measured: float
    limit: float
    at_most: bool = True
    unit: str = "x"

    @property
    def ok(self) -> bool:
        """Whether the measurement is within the limit."""
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def line(self) -> str:
        """``budget <name>: <measured> (limit <limit>) ok|over``."""
        relation = "<=" if self.at_most else ">="
        verdict = "ok" if self.ok else "over"
        return (
            f"budget {self.name}: {self.measured:.2f}{self.unit} "
            f"(limit {relation} {self.limit:g}{self.unit}) {verdict}"
        )


@dataclass
class Report:
    """What one benchmark module found: printed lines and budgets."""

    budgets: list[Budget] = field(default_factory=list)

    def say(self, text: str) -> None:
        """Print a line of the benchmark's own report."""
        print(text, flush=True)

    def ratio(self, name: str, label: str, measured: float, baseline: float) -> float:
        """Print ``measured`` against ``baseline`` and return the ratio."""
        ratio = measured / baseline
        self.say(
            f"  {label}: {measured * 1e9:,.0f} ns vs baseline {baseline * 1e9:,.0f} ns "
            f"= {ratio:.2f}x  [{name}]"
        )
        return ratio

    def budget(self, budget: Budget) -> None:
        """Record a budget for the closing summary."""
        self.budgets.append(budget)
