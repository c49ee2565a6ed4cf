"""Run every benchmark (``bench/bench_*.py``) and end with one line per budget.

Exits 1 when a budget is over.  ``python bench/run.py kernel`` runs only
``bench_kernel.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from harness import Report

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    """Run the benchmarks named in ``argv`` (all when empty); return the exit status."""
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    report = Report()
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        print(f"== {name}", flush=True)
        module.run(report)
    print()
    for budget in report.budgets:
        print(budget.line())
    return 0 if all(b.ok for b in report.budgets) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main(sys.argv[1:]))
