"""Kernel budgets (issue 2): firing a transition, and creating many tasks.

- ``kernel.fire``: ``CLARO_TASK.fire`` at most 3x a bare ``{(state, event): target}``
  lookup on a frozen attrs task value.  Also shown, not budgeted: ``transitions`` used the
  common way (one ``Machine`` per task object, a self-loop trigger).
- ``kernel.create_time`` / ``kernel.create_memory``: creating 100,000 tasks (frozen attrs
  values holding the lifecycle's initial state; the lifecycle's one shared machine) at
  least 20x faster and 20x smaller than one ``transitions.Machine`` per task.
"""

from __future__ import annotations

from typing import Any

import attrs
from transitions import Machine

from harness import Budget, Report, measure_memory, median_seconds
from taskcore.claro import CLARO_TASK, ClaroEvent, ClaroStatus

TASKS = 100_000
MEMORY_TASKS = 20_000  # tracemalloc slows allocation ~10x; bytes per task do not depend on N
FIRES = 200_000


@attrs.frozen
class Task:
    """The shape of a task value: an id and the lifecycle state it is in."""

    task_id: int
    state: ClaroStatus


class MachineTask:
    """A task object as ``transitions`` is commonly used: it owns its own Machine."""

    state: str


def _machine_rows() -> list[dict[str, Any]]:
    return [
        {"trigger": r.event.value, "source": r.source.value, "dest": r.target.value}
        for r in CLARO_TASK.rows()
    ]


def _machine_per_task(rows: list[dict[str, Any]]) -> MachineTask:
    model = MachineTask()
    Machine(
        model=model,
        states=[s.value for s in ClaroStatus],
        transitions=rows,
        initial="queued",
        auto_transitions=False,
    )
    return model


def run(report: Report) -> None:
    """Measure and record the kernel budgets."""
    task = Task(1, ClaroStatus.PROCESSING)
    table = {(r.source, r.event): r.target for r in CLARO_TASK.rows() if r.guard is None}
    event = ClaroEvent.RECORD

    def bare_lookup() -> None:
        t, e, lookup = task, event, table
        for _ in range(FIRES):
            lookup[(t.state, e)]

    def kernel_fire() -> None:
        t, e, fire = task, event, CLARO_TASK.fire
        for _ in range(FIRES):
            fire(t.state, e)

    rows = _machine_rows()
    model = _machine_per_task(rows)
    model.trigger("start")  # type: ignore[attr-defined]
    trigger = model.trigger  # type: ignore[attr-defined]

    def transitions_fire() -> None:
        for _ in range(FIRES // 20):
            trigger("record")

    baseline = median_seconds(bare_lookup) / FIRES
    ours = median_seconds(kernel_fire) / FIRES
    theirs = median_seconds(transitions_fire) / (FIRES // 20)
    report.say(f"firing one transition (median of 7 rounds of {FIRES:,}):")
    fire_ratio = report.ratio("kernel.fire", "CLARO_TASK.fire vs dict lookup", ours, baseline)
    report.ratio("info", "transitions Machine per task vs dict lookup", theirs, baseline)
    report.say(f"  CLARO_TASK.fire is {theirs / ours:.1f}x faster than a per-task Machine")
    report.budget(Budget("kernel.fire", fire_ratio, 3.0))

    initial = CLARO_TASK.initial

    def create_values() -> list[Task]:
        return [Task(i, initial) for i in range(TASKS)]

    def create_machines() -> list[MachineTask]:
        return [_machine_per_task(rows) for _ in range(TASKS)]

    ours_create = median_seconds(create_values, repeat=5)
    theirs_create = median_seconds(create_machines, repeat=3)
    speedup = theirs_create / ours_create
    report.say(
        f"creating {TASKS:,} tasks: values {ours_create * 1e3:,.0f} ms, "
        f"Machine per task {theirs_create * 1e3:,.0f} ms = {speedup:.0f}x faster"
    )
    report.budget(Budget("kernel.create_time", speedup, 20.0, at_most=False))

    ours_bytes = measure_memory(lambda: [Task(i, initial) for i in range(MEMORY_TASKS)])
    theirs_bytes = measure_memory(lambda: [_machine_per_task(rows) for _ in range(MEMORY_TASKS)])
    smaller = theirs_bytes / ours_bytes
    report.say(
        f"memory per task (measured on {MEMORY_TASKS:,}): "
        f"values {ours_bytes / MEMORY_TASKS:,.0f} B, "
        f"Machine per task {theirs_bytes / MEMORY_TASKS:,.0f} B = {smaller:.0f}x smaller "
        f"({TASKS:,} tasks: {ours_bytes * TASKS / MEMORY_TASKS / 2**20:,.1f} MiB vs "
        f"{theirs_bytes * TASKS / MEMORY_TASKS / 2**20:,.0f} MiB)"
    )
    report.budget(Budget("kernel.create_memory", smaller, 20.0, at_most=False))
