"""Process bodies for test_store_postgres_faults.py (a module of their own, so a
``spawn`` child imports them without importing pytest or the tests)."""

from __future__ import annotations

import time
from typing import Any

from taskcore.store.postgres import PostgresStore


def commit_then_hold_a_unit_until_killed(dsn: str, ready: Any) -> None:
    """Process body: commit ``("t", "committed") = 1``, then in a second unit change it
    to 2 and write ``("t", "held")`` (both read first, which locks them: a write alone
    waits to travel with the commit), say ``"inside"`` on ``ready`` and never end."""
    store = PostgresStore(dsn, busy_timeout=60)
    with store.unit() as unit:
        unit.put("t", "committed", 1)
    with store.unit() as unit:
        unit.get_many([("t", "committed"), ("t", "held")])
        unit.put("t", "committed", 2)
        unit.put("t", "held", "never committed")
        ready.put("inside")
        time.sleep(600)  # pragma: no cover - killed long before
