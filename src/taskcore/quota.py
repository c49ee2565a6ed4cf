"""The quota port: how many tasks an account may create (Claro ``QUOTA_EXCEEDED``).

A quota is consulted last when a task is created (DESIGN.md: dataset exists -> input
valid -> webhook exists -> dataset unlocked -> quota), inside the create's unit of work:
a create refused for any reason rolls back, so it never counts against the quota.
:class:`Unlimited` is the default; :class:`WindowQuota` allows ``limit`` creations per
account in any sliding window of ``window_seconds``, its state kept in the store.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from taskcore.clock import format_instant, parse_instant
from taskcore.errors import QuotaExceeded
from taskcore.store.port import Unit

__all__ = ["Quota", "Unlimited", "WindowQuota"]


class Quota(Protocol):
    """Counts one task creation for an account, or refuses it."""

    def charge(self, unit: Unit, account_id: str) -> None:
        """Count a creation now (``unit.now``), inside the creating unit of work.

        Raises:
            QuotaExceeded: the account is at its limit; nothing was counted.
        """
        ...


class Unlimited:
    """No limit: every creation is allowed and nothing is stored."""

    def charge(self, unit: Unit, account_id: str) -> None:
        """Allow the creation."""


class WindowQuota:
    """At most ``limit`` creations per account in any window of ``window_seconds``.

    Args:
        limit: creations allowed per window (at least 1).
        window_seconds: the sliding window's length (positive).
    """

    TABLE = "quota"

    def __init__(self, limit: int, window_seconds: float) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a quota needs limit >= 1 and window_seconds > 0")
        self.limit = limit
        self.window_seconds = window_seconds

    def charge(self, unit: Unit, account_id: str) -> None:
        """Count a creation, dropping the ones that left the window.

        Raises:
            QuotaExceeded: ``limit`` creations already lie in the window; nothing changed.
        """
        now = unit.now
        window = timedelta(seconds=self.window_seconds)
        recent = [
            instant
            for instant in map(parse_instant, unit.get(self.TABLE, account_id) or [])
            if instant > now - window
        ]
        if len(recent) >= self.limit:
            retry = (min(recent) + window - now).total_seconds()
            raise QuotaExceeded(
                account_id=account_id,
                limit=self.limit,
                window_seconds=self.window_seconds,
                retry_after_seconds=retry,
            )
        unit.put(self.TABLE, account_id, [format_instant(i) for i in [*recent, now]])
