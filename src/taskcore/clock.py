"""The clock port: where taskcore reads the time.

The pure core never reads the time itself: services take a
:class:`Clock` and pass instants down.  :class:`SystemClock` is the real one;
:class:`ManualClock` is for tests, demos and replays, and only moves when told to.
Every instant is a timezone-aware UTC :class:`~datetime.datetime`.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = [
    "MAX_SPAN",
    "Clock",
    "ManualClock",
    "SystemClock",
    "as_span",
    "format_instant",
    "format_wire_instant",
    "parse_instant",
    "whole_second",
]

MAX_SPAN = timedelta(days=3650)
"""The longest duration taskcore accepts for a setting (lease, retention, quota window):
ten years keeps every instant it computes far from the end of the calendar."""


def as_span(value: timedelta | float, name: str) -> timedelta:
    """A setting's duration, given as a ``timedelta`` or as seconds.

    Raises:
        ValueError: not positive, not finite, or longer than :data:`MAX_SPAN` (``name``
            says which setting).
        TypeError: neither a ``timedelta`` nor a number (bool is not one).
    """
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise TypeError(f"{name} must be a timedelta or seconds, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    if not isinstance(value, timedelta) and abs(value) > MAX_SPAN.total_seconds():
        raise ValueError(f"{name} must be at most {MAX_SPAN.days} days, not {value} seconds")
    span = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if not timedelta(0) < span <= MAX_SPAN:
        raise ValueError(f"{name} must be positive and at most {MAX_SPAN.days} days, not {span}")
    return span


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's wall clock, in UTC."""

    def now(self) -> datetime:
        """Return ``datetime.now(UTC)``."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved.  Thread-safe (mutable, guarded by a lock).

    Args:
        start: the first instant it shows; naive values are taken as UTC.
    """

    def __init__(self, start: datetime = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)) -> None:
        self._lock = threading.Lock()
        self._now = _as_utc(start)

    def now(self) -> datetime:
        """Return the instant the clock shows."""
        with self._lock:
            return self._now

    def advance(self, by: timedelta | float) -> datetime:
        """Move forward by ``by`` (a timedelta or seconds) and return the new instant.

        Raises:
            ValueError: ``by`` is negative; the clock is left where it was.
        """
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError(f"a clock only moves forward, not by {step}")
        with self._lock:
            self._now += step
            return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant``, which may not be earlier than now.

        Raises:
            ValueError: ``instant`` is in the past; the clock is left where it was.
        """
        instant = _as_utc(instant)
        with self._lock:
            if instant < self._now:
                raise ValueError(f"a clock only moves forward: {instant} < {self._now}")
            self._now = instant


def _as_utc(instant: datetime) -> datetime:
    zone = instant.tzinfo
    if zone is UTC:  # the common case (parsed "Z" and "+00:00" give this very object)
        return instant
    if zone is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """Format an instant exactly, for store documents: ``2024-03-14T15:30:00Z``.

    Sub-second precision is kept when present (``2024-03-14T15:30:00.250000Z``), so
    ordering survives a round trip through a store.  What an API shows its callers is
    :func:`format_wire_instant`'s whole seconds.
    """
    text = _as_utc(instant).isoformat()  # ends with "+00:00"
    return f"{text[:-6]}Z"


def whole_second(instant: datetime, *, up: bool = False) -> datetime:
    """``instant`` (in UTC) without its microseconds; with ``up``, rounded up instead.

    Truncation suits an event (it happened during that second); rounding up suits a
    deadline or an estimate (it is never earlier than the exact instant).
    """
    instant = _as_utc(instant)
    if not instant.microsecond:
        return instant
    whole = instant.replace(microsecond=0)
    return whole + timedelta(seconds=1) if up else whole


def format_wire_instant(instant: datetime, *, up: bool = False) -> str:
    """Format an instant as the APIs show it: whole seconds, ``2024-03-14T15:30:00Z``.

    Args:
        instant: any aware instant (a naive one is taken as UTC).
        up: round a fraction of a second up (deadlines, estimates) instead of dropping
            it (events).

    Returns:
        ``YYYY-MM-DDTHH:MM:SSZ``, never with a fraction.
    """
    return format_instant(whole_second(instant, up=up))


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``...Z`` or an explicit offset) into UTC.

    Raises:
        ValueError: ``text`` is not an ISO 8601 timestamp.
    """
    return _as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
