"""Crashes, cut connections and clocks on PostgreSQL (docs/stores.md, "Guarantees"): a
client killed mid-unit loses nothing it committed and holds no lock; a connection cut
mid-unit is StoreBusy, writes nothing, and the pool replaces it; the unit's instant is
the server's, so the client's clock does not move lease expiry."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from postgres_server import wipe
from postgres_workers import commit_then_hold_a_unit_until_killed
from taskcore.clock import ManualClock, SystemClock
from taskcore.errors import DatasetLocked, StaleToken, StoreBusy
from taskcore.locks import LockManager
from taskcore.store.postgres import PostgresStore

DEADLINE = 60.0
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    wipe(postgres_dsn)
    PostgresStore(postgres_dsn).close()  # the schema, before any child or cut
    return postgres_dsn


def admin(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute(query).fetchall()


def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (fails after DEADLINE seconds)."""
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    try:
        while not condition():
            assert not stop.wait(0.01), "the condition never held"
    finally:
        timer.cancel()


def free(store: PostgresStore, table: str, key: str) -> bool:
    """Whether a unit can take the existing ``(table, key)`` now (nobody holds it)."""
    with store.unit() as unit:
        return unit.claim(table, key) is not None


# --- a client killed mid-unit -----------------------------------------------------------


def test_a_killed_client_loses_nothing_it_committed_and_holds_no_lock(dsn: str) -> None:
    ready = SPAWN.Queue()
    child = SPAWN.Process(target=commit_then_hold_a_unit_until_killed, args=(dsn, ready))
    child.start()
    assert child.pid is not None  # never os.kill(0, ...): that is the whole group
    try:
        assert "inside" == ready.get(timeout=DEADLINE)
        with PostgresStore(dsn) as store, store.unit() as unit:
            assert unit.claim("t", "committed") is None  # held by the child's open unit
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(DEADLINE)
    ready.close()
    assert -signal.SIGKILL == child.exitcode
    with PostgresStore(dsn) as store:
        # The server rolls the dead client's unit back once it sees the socket close.
        until(lambda: free(store, "t", "committed"))
        with store.unit() as unit:
            assert 1 == unit.claim("t", "committed")  # what it committed, all of it
            assert unit.get("t", "held") is None  # nothing of the unit it never ended
    assert [] == admin(dsn, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")


# --- a connection cut mid-unit --------------------------------------------------------


def backend_holding_a_key(dsn: str) -> int:
    rows = admin(dsn, "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
    assert 1 == len(rows)
    return int(rows[0][0])


def change_and_cut(store: PostgresStore, dsn: str, cut_before: str) -> None:
    """A unit that writes, has its backend ended by another connection (as a failover,
    a network cut or an operator would), then runs a statement or commits."""
    with store.unit() as unit:
        unit.get("t", "kept")  # locks it (the writes wait to travel with what follows)
        unit.put("t", "kept", "changed")
        unit.put("t", "new", "never")
        admin(dsn, f"SELECT pg_terminate_backend({backend_holding_a_key(dsn)}, 60000)")
        if cut_before == "a statement":
            unit.get("t", "other")


@pytest.mark.parametrize("cut_before", ["a statement", "the commit"])
def test_a_connection_cut_mid_unit_is_store_busy_writes_nothing_and_is_replaced(
    dsn: str, cut_before: str
) -> None:
    with PostgresStore(dsn, busy_timeout=DEADLINE, pool_size=1) as store:
        with store.unit() as unit:
            unit.put("t", "kept", "before")
        with pytest.raises(StoreBusy, match="busy or unreachable") as busy:
            change_and_cut(store, dsn, cut_before)
        assert isinstance(busy.value.__cause__, psycopg.OperationalError)
        # One connection in the pool, and it was cut: the pool replaced it.
        with store.unit() as unit:
            assert "before" == unit.get("t", "kept")
            assert unit.get("t", "new") is None
            unit.put("t", "after", "works")
        with store.unit(readonly=True) as unit:
            assert [("after", "works"), ("kept", "before")] == list(unit.items("t"))
    assert [] == admin(dsn, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")


# --- clocks -----------------------------------------------------------------------------


class Jumped(SystemClock):
    """The machine's clock, a day ahead."""

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=1)


def test_the_client_clock_does_not_move_lease_expiry(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PostgresStore(dsn) as store:
        locks = LockManager(store, ttl=600)
        lease = locks.acquire("ds", "task_1").lease
        (database_now,) = admin(dsn, "SELECT clock_timestamp()")[0]
        assert lease.acquired_at <= database_now < lease.expires_at
        # The machine's clock jumps a day ahead: the store does not read it.
        monkeypatch.setattr(SystemClock, "now", Jumped.now)
        with pytest.raises(DatasetLocked):
            locks.acquire("ds", "task_2")
        assert lease == locks.check_token(lease)
        with store.unit() as unit:
            assert unit.now < lease.expires_at


def test_a_replica_whose_own_clock_jumps_is_fenced_by_tokens(dsn: str) -> None:
    # A replica given clock= (here one a day ahead) judges leases by it: it takes over a
    # lease the others still see live.  Fencing tokens keep the old holder from writing.
    ahead = ManualClock(datetime.now(UTC) + timedelta(days=1))
    with PostgresStore(dsn) as server_time, PostgresStore(dsn, clock=ahead) as own_time:
        first = LockManager(server_time, ttl=600).acquire("ds", "task_1").lease
        second = LockManager(own_time, ttl=600).acquire("ds", "task_2")
        assert (first, first.token + 1) == (second.taken_over, second.lease.token)
        with pytest.raises(StaleToken):
            LockManager(server_time, ttl=600).check_token(first)


def test_every_replica_reads_one_clock(dsn: str) -> None:
    with PostgresStore(dsn) as one, PostgresStore(dsn) as other:
        with one.unit() as unit:
            earlier = unit.now
        with other.unit() as unit:
            later = unit.now
    assert earlier <= later  # one server clock, whatever the replicas' machines say
