"""The quota port: how many tasks an account may create (Claro ``QUOTA_EXCEEDED``).

A quota is consulted last when a task is created (docs/claro.md, order of checks on
create: dataset exists -> input valid -> webhook exists -> dataset unlocked -> quota),
inside the create's unit of work: a create refused for any reason rolls back, so it
never counts against the quota.  :class:`Unlimited` is the default; :class:`WindowQuota`
allows ``limit`` creations per ``window_seconds`` (GCRA), its state kept in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from taskcore.clock import as_span
from taskcore.errors import QuotaExceeded
from taskcore.store.port import Unit

__all__ = ["Quota", "Unlimited", "WindowQuota"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


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
    """``limit`` creations per ``window_seconds`` and account, by the generic cell rate
    algorithm (GCRA): constant time and one small document per account.

    What is guaranteed, for each account (T = ``window_seconds / limit``, the emission
    interval):

    - **a burst of** ``limit`` **from idle**: an account that has created nothing for
      ``window_seconds`` (more precisely: whose last allowed creation's "theoretical
      arrival time" has passed) may create ``limit`` tasks at once;
    - **then one creation per T**, smoothly: each creation pushes the account's
      theoretical arrival time (TAT) T later, and a creation is refused while the TAT
      would end up more than ``window_seconds`` after now;
    - **over any span of t seconds, at most** ``limit * (1 + t / window_seconds)``
      **creations**.  So a window of ``window_seconds`` holds ``limit`` creations from
      a standing start but can hold up to ``2 * limit`` (a burst at its start, then
      one per T): this is a rate limit with burst ``limit``, not a sliding log of
      instants;
    - **a refused creation never counts**: :meth:`charge` raises before it writes, and
      its ``retry_after_seconds`` is the whole number of seconds, rounded up and at least
      1, after which a creation of the account would be allowed again (if nothing else
      is created meanwhile).

    Time is counted in whole microseconds (the store clock's resolution), and the TAT
    is kept exactly, in units of ``1 / limit`` microsecond, so no rounding drifts.  An
    account's document in :attr:`TABLE`, under its id, is ``{"tat": int, "scale": int}``:
    the TAT in ``1 / scale`` microseconds since the Unix epoch, ``scale`` being the limit
    that wrote it (a quota with another limit reads it, rounded up).

    Args:
        limit: creations allowed per window (at least 1).
        window_seconds: the window's length (at least a microsecond).

    Raises:
        ValueError: a limit below 1 or a window shorter than a microsecond.
    """

    TABLE = "quota.gcra"

    def __init__(self, limit: int, window_seconds: float) -> None:
        refusal = "a quota needs limit >= 1 and window_seconds > 0 (at least a microsecond)"
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(refusal)
        if not window_seconds > 0 or window_seconds * 1_000_000 < 0.5:
            raise ValueError(refusal)
        as_span(window_seconds, "a quota's window_seconds")  # finite, at most MAX_SPAN
        window_us = round(window_seconds * 1_000_000)
        self.limit = limit
        self.window_seconds = window_seconds
        self._window_us = window_us

    def charge(self, unit: Unit, account_id: str) -> None:
        """Count a creation at ``unit.now``: one read and one write of the account's
        document, whatever the number of creations in the window.

        Raises:
            QuotaExceeded: the account is at its limit; nothing was written.
        """
        limit, window = self.limit, self._window_us
        # In units of 1 / limit microsecond the emission interval is `window` exactly.
        now = (unit.now - _EPOCH) // _MICROSECOND * limit
        tat = now
        state = unit.get(self.TABLE, account_id)
        if state is not None:
            stored, scale = state["tat"], state["scale"]
            if scale != limit:
                stored = -(-stored * limit // scale)
            tat = max(stored, now)
        new = tat + window
        if new - now > window * limit:
            ticks_per_second = limit * 1_000_000
            wait = new - window * limit - now
            raise QuotaExceeded(
                account_id=account_id,
                limit=limit,
                window_seconds=self.window_seconds,
                retry_after_seconds=max(1, -(-wait // ticks_per_second)),
            )
        unit.put(self.TABLE, account_id, {"tat": new, "scale": limit})
