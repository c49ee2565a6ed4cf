"""The window quota: a burst of ``limit`` from idle, then one creation per
``window_seconds / limit``; constant cost and constant state per account."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore.clock import ManualClock
from taskcore.errors import QuotaExceeded
from taskcore.quota import WindowQuota
from taskcore.store import MemoryStore, SqliteStore, Store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore(clock=clock)
    else:
        made = SqliteStore(tmp_path / "quota.db", clock=clock)
    with made:
        yield made


def charge(store: Store, quota: WindowQuota, account: str = "acc") -> QuotaExceeded | None:
    """Charge one creation in its own unit; the refusal, if any (its unit rolled back)."""
    try:
        with store.unit() as unit:
            quota.charge(unit, account)
    except QuotaExceeded as refused:
        return refused
    return None


def documents(store: Store) -> list[tuple[str, object]]:
    with store.unit(readonly=True) as unit:
        return list(unit.items(WindowQuota.TABLE))


def test_an_idle_account_may_create_a_burst_of_limit_and_no_more(store: Store) -> None:
    quota = WindowQuota(limit=3, window_seconds=60)
    assert [None, None, None] == [charge(store, quota) for _ in range(3)]
    refused = charge(store, quota)
    assert refused is not None
    assert ("acc", 3, 60) == (refused.account_id, refused.limit, refused.window_seconds)


def test_a_refused_create_never_counts(store: Store, clock: ManualClock) -> None:
    quota = WindowQuota(limit=2, window_seconds=10)
    charge(store, quota)
    charge(store, quota)
    before = documents(store)
    for _ in range(5):
        assert isinstance(charge(store, quota), QuotaExceeded)
    assert before == documents(store)
    clock.advance(5)  # one emission interval later exactly one more is allowed
    assert charge(store, quota) is None
    assert isinstance(charge(store, quota), QuotaExceeded)


def test_retry_after_is_whole_seconds_rounded_up_and_a_retry_then_succeeds(
    store: Store, clock: ManualClock
) -> None:
    quota = WindowQuota(limit=3, window_seconds=10)  # one creation per 3.33 s
    for _ in range(3):
        charge(store, quota)
    refused = charge(store, quota)
    assert refused is not None
    assert 4 == refused.retry_after_seconds
    assert isinstance(refused.retry_after_seconds, int)
    clock.advance(3)
    assert isinstance(charge(store, quota), QuotaExceeded)
    clock.advance(1)
    assert charge(store, quota) is None


def test_retry_after_is_at_least_one_second(store: Store) -> None:
    quota = WindowQuota(limit=1000, window_seconds=1)  # one creation per millisecond
    for _ in range(1000):
        charge(store, quota)
    refused = charge(store, quota)
    assert refused is not None
    assert 1 == refused.retry_after_seconds


def test_accounts_are_counted_apart_by_their_exact_ids(store: Store) -> None:
    quota = WindowQuota(limit=1, window_seconds=60)
    for account in ["acc", "acc/1", "acc 1", "ACC", ""]:
        assert charge(store, quota, account) is None
    assert isinstance(charge(store, quota, "acc/1"), QuotaExceeded)


def test_an_account_keeps_one_small_document_however_many_it_creates(store: Store) -> None:
    quota = WindowQuota(limit=9_000, window_seconds=3600)
    with store.unit() as unit:
        for _ in range(9_000):
            quota.charge(unit, "acc")
    [(key, state)] = documents(store)
    assert "acc" == key
    assert len(json.dumps(state)) < 80


def test_a_changed_limit_reads_the_state_the_old_one_left(store: Store) -> None:
    charge(store, WindowQuota(limit=2, window_seconds=10))  # 5 s of the 10 s used
    wider = WindowQuota(limit=4, window_seconds=10)  # 2.5 s per creation
    assert [None, None] == [charge(store, wider) for _ in range(2)]
    assert isinstance(charge(store, wider), QuotaExceeded)


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (1, 0.0), (1, 1e-9), (-1, 60.0)])
def test_a_window_quota_needs_a_positive_limit_and_a_window_of_a_microsecond_or_more(
    limit: int, window: float
) -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        WindowQuota(limit, window)


class ReferenceGcra:
    """GCRA in exact fractions of a second: the model the store-backed quota follows."""

    def __init__(self, limit: int, window: Fraction) -> None:
        self.limit = limit
        self.window = window
        self.interval = window / limit
        self.tat: dict[str, Fraction] = {}

    def charge(self, account: str, now: Fraction) -> int | None:
        """Count a creation; or return the whole seconds to wait, counting nothing."""
        new = max(self.tat.get(account, now), now) + self.interval
        if new - now > self.window:
            return max(1, math.ceil(new - self.window - now))
        self.tat[account] = new
        return None


@given(
    limit=st.integers(1, 5),
    window=st.integers(1, 20),
    steps=st.lists(
        st.tuples(st.integers(0, 7_000_000), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=40,
    ),
)
def test_the_quota_follows_gcra_and_its_documented_bound(
    limit: int, window: int, steps: list[tuple[int, str]]
) -> None:
    clock = ManualClock()
    start = clock.now()
    model = ReferenceGcra(limit, Fraction(window))
    quota = WindowQuota(limit, window)
    allowed: dict[str, list[Fraction]] = {"a": [], "b": []}
    with MemoryStore(clock=clock) as store:
        for micros, account in steps:
            clock.advance(micros / 1_000_000)
            now = Fraction((clock.now() - start) // timedelta(microseconds=1), 1_000_000)
            expected = model.charge(account, now)
            refused = charge(store, quota, account)
            assert expected == (None if refused is None else refused.retry_after_seconds)
            if refused is None:
                allowed[account].append(now)
    # At most limit * (1 + t / window) creations in any span of t seconds.
    for instants in allowed.values():
        for i, first in enumerate(instants):
            for j in range(i, len(instants)):
                span = instants[j] - first
                assert j - i + 1 <= limit * (1 + span / window)
