"""Retention: an expiry index kept in a store, so that what a service keeps per task or
per request (idempotency keys, delivered notifications, ended tasks) is pruned on time.

An :class:`ExpiryIndex` is one store table whose keys are ``<instant>|<ref>``, the
instant as 20 zero-padded digits of microseconds since the Unix epoch (UTC), so the
table's key order is time order.  Finding what is due is a range scan from the start of
the table up to *now*, with a limit: its cost depends on how much is due, never on how
much history the store holds.  The owner decides what a ``ref`` names and deletes it;
the index only says when.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskcore.store.port import Unit

__all__ = ["ExpiryIndex"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _stamp(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


class ExpiryIndex:
    """When each ``ref`` of one kind of record expires, in a store table of its own.

    Holds no state beyond its table name: safe to share between threads.

    Args:
        table: the store table that holds the index.
    """

    def __init__(self, table: str) -> None:
        self.table = table

    def add(self, unit: Unit, at: datetime, ref: str) -> None:
        """Note that ``ref`` expires at ``at`` (UTC), inside the caller's unit."""
        unit.put(self.table, f"{_stamp(at):020d}|{ref}", ref)

    def pop_due(self, unit: Unit, limit: int, *, until: datetime | None = None) -> list[str]:
        """Remove and return up to ``limit`` refs that expired at or before ``until``
        (default ``unit.now``), oldest first.  The caller deletes what they name, in the
        same unit.

        Each entry is taken with :meth:`Unit.claim <taskcore.store.Unit.claim>`: an
        entry another unit is popping at the same time (on a store whose write units run
        at once, PostgreSQL) is passed over, so two units never pop one entry and the
        list may be shorter than the entries the scan found."""
        stop = f"{_stamp(unit.now if until is None else until) + 1:020d}"
        popped = []
        for key, _ in list(unit.scan(self.table, stop=stop, limit=limit)):
            ref = unit.claim(self.table, key)
            if ref is not None:  # else popped, or being popped, by another unit
                unit.delete(self.table, key)
                popped.append(ref)
        return popped
