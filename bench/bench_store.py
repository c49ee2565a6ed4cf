"""Store and quota budgets: costs that must not grow with the data.

- ``store.sqlite_scan``: ``Unit.scan`` with ``limit=10`` from the middle of a
  100,000-row table at most 2x the same scan of a 100-row table, on one ``SqliteStore``
  file, inside one open read unit (so the unit's own BEGIN/COMMIT is not what is timed).
  The scan is one walk of the ``(tbl, key)`` primary key: its cost must not depend on the
  table's size.
- ``store.memory_scan``: the same on ``MemoryStore``, which keeps a scanned table's keys
  sorted, so its scan is two binary searches and a slice.
- ``quota.charge``: ``WindowQuota.charge`` (in its own unit of work, on a ``MemoryStore``)
  for an account with 9,000 creations in the window at most 1.5x for an account with 10.
  GCRA keeps one small document per account, so both cost one read and one write.
  Also shown, not budgeted: the same on ``SqliteStore``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import Budget, Report, calls_per_round, median_seconds
from taskcore.quota import WindowQuota
from taskcore.store import MemoryStore, SqliteStore, Store

BIG, SMALL, LIMIT = 100_000, 100, 10
BUSY, QUIET = 9_000, 10


def fill(store: Store) -> None:
    """A ``big`` and a ``small`` table with keys ``k000000``, ``k000001``, ..."""
    with store.unit() as unit:
        for table, rows in (("big", BIG), ("small", SMALL)):
            for index in range(rows):
                unit.put(table, f"k{index:06}", {"n": index})


def scan_ratio(report: Report, name: str, store: Store) -> float:
    """Time a limited scan from the middle of each table; print and return the ratio."""
    fill(store)
    with store.unit(readonly=True) as unit:

        def big() -> list[tuple[str, object]]:
            return list(unit.scan("big", start=f"k{BIG // 2:06}", limit=LIMIT))

        def small() -> list[tuple[str, object]]:
            return list(unit.scan("small", start=f"k{SMALL // 2:06}", limit=LIMIT))

        assert len(big()) == len(small()) == LIMIT
        measured = median_seconds(big, number=calls_per_round(big))
        baseline = median_seconds(small, number=calls_per_round(small))
    return report.ratio(
        name, f"scan limit {LIMIT}: {BIG:,} rows vs {SMALL:,} rows", measured, baseline
    )


def charge_ratio(report: Report, name: str, store: Store) -> float:
    """Time a charge for an account with 9,000 creations in the window vs one with 10."""
    quota = WindowQuota(limit=1_000_000, window_seconds=3600)
    for account, creations in (("busy", BUSY), ("quiet", QUIET)):
        with store.unit() as unit:
            for _ in range(creations):
                quota.charge(unit, account)

    def busy() -> None:
        with store.unit() as unit:
            quota.charge(unit, "busy")

    def quiet() -> None:
        with store.unit() as unit:
            quota.charge(unit, "quiet")

    number = calls_per_round(quiet)
    measured = median_seconds(busy, number=number)
    baseline = median_seconds(quiet, number=number)
    return report.ratio(
        name, f"quota charge: {BUSY:,} vs {QUIET} creations in the window", measured, baseline
    )


def run(report: Report) -> None:
    """Measure and record the store and quota budgets."""
    with tempfile.TemporaryDirectory() as tmp:
        with SqliteStore(Path(tmp) / "scan.db") as store:
            ratio = scan_ratio(report, "store.sqlite_scan", store)
        report.budget(Budget("store.sqlite_scan", ratio, 2.0))
        with MemoryStore() as memory:
            ratio = scan_ratio(report, "store.memory_scan", memory)
        report.budget(Budget("store.memory_scan", ratio, 2.0))
        with MemoryStore() as memory:
            ratio = charge_ratio(report, "quota.charge", memory)
        report.budget(Budget("quota.charge", ratio, 1.5))
        with SqliteStore(Path(tmp) / "quota.db") as store:
            charge_ratio(report, "info: sqlite", store)
