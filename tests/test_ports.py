"""Clock and id ports."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskcore import ManualClock, SeededIds, SystemClock, UuidIds, format_instant, parse_instant
from taskcore.clock import Clock
from taskcore.ids import IdFactory


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo == UTC
    assert isinstance(SystemClock(), Clock)


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(datetime(2024, 3, 14, 15, 30))
    assert datetime(2024, 3, 14, 15, 30, tzinfo=UTC) == clock.now()
    assert datetime(2024, 3, 14, 15, 31, tzinfo=UTC) == clock.advance(60)
    assert datetime(2024, 3, 14, 15, 32, tzinfo=UTC) == clock.advance(timedelta(minutes=1))
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(datetime(2024, 1, 1, tzinfo=UTC))
    assert datetime(2024, 3, 14, 15, 32, tzinfo=UTC) == clock.now()
    clock.set(datetime(2024, 3, 14, 17, 0, tzinfo=timezone(timedelta(hours=1))))
    assert datetime(2024, 3, 14, 16, 0, tzinfo=UTC) == clock.now()


def test_instants_format_as_the_seeds_show_them() -> None:
    assert "2024-03-14T15:30:00Z" == format_instant(datetime(2024, 3, 14, 15, 30, tzinfo=UTC))
    assert "2024-03-14T15:30:00.250000Z" == format_instant(
        datetime(2024, 3, 14, 15, 30, 0, 250000, tzinfo=UTC)
    )
    instant = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)
    assert instant == parse_instant("2024-03-14T15:30:00Z")
    assert instant == parse_instant(format_instant(instant))


def test_uuid_ids_have_the_documented_shape() -> None:
    ids = UuidIds()
    first, second = ids(), ids()
    assert first != second
    assert first.startswith("task_")
    assert len(first) == 5 + 36
    assert isinstance(ids, IdFactory)


def test_seeded_ids_replay_and_never_repeat_across_threads() -> None:
    assert [SeededIds(7)() for _ in range(1)] == [SeededIds(7)()]
    ids = SeededIds(1, prefix="wh_")
    seen: list[str] = []

    def take() -> None:
        seen.extend(ids() for _ in range(500))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 2000 == len(set(seen))
    assert all(i.startswith("wh_") and i[3 + 14] == "4" for i in seen)
