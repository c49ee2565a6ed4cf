"""Write units that act on what a scan returned, or on a check of a key, run at the same
time on PostgreSQL: :meth:`Unit.claim <taskcore.store.Unit.claim>` passes over what
another unit holds, so two pruners never pop one expiry entry, two dispatchers never
claim one notification and a settle never deadlocks with a cancel; key locks keep two
creates from reusing one idempotency key or exceeding a quota (docs/stores.md,
"PostgreSQL")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from postgres_server import wipe
from taskcore.claro.grid import Grid
from taskcore.claro.service import IDEMPOTENCY, WEBHOOKS, ClaroTasks
from taskcore.claro.task import ClaroTask
from taskcore.clock import ManualClock
from taskcore.errors import IdempotencyConflict, QuotaExceeded, TaskNotCancellable
from taskcore.keys import composite_key
from taskcore.quota import WindowQuota
from taskcore.retention import ExpiryIndex
from taskcore.store import MemoryStore, SqliteStore, Store
from taskcore.store.postgres import PostgresStore

DEADLINE = 30.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    wipe(postgres_dsn)
    return postgres_dsn


@pytest.fixture
def store(dsn: str) -> Iterator[PostgresStore]:
    with PostgresStore(dsn, busy_timeout=DEADLINE) as made:
        yield made


def waiting_for_advisory_locks(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    assert row is not None
    return int(row[0])


def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (fails after DEADLINE seconds)."""
    deadline = threading.Event()
    timer = threading.Timer(DEADLINE, deadline.set)
    timer.start()
    try:
        while not condition():
            assert not deadline.wait(0.01), "the condition never held"
    finally:
        timer.cancel()


class Background:
    """``body`` run in a thread; :meth:`result` joins it and returns (or raises) what
    it did."""

    def __init__(self, body: Callable[[], Any]) -> None:
        self.outcome: list[Any] = []
        self.error: list[BaseException] = []

        def run() -> None:
            try:
                self.outcome.append(body())
            except BaseException as error:
                self.error.append(error)

        self.thread = threading.Thread(target=run)
        self.thread.start()

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self) -> Any:
        self.thread.join(DEADLINE)
        assert self.done, "the thread never ended"
        if self.error:
            raise self.error[0]
        return self.outcome[0]


class HeldUnit:
    """A write unit in a thread that runs ``body``, reports what it returned, and stays
    open (its locks held) until :meth:`finish`."""

    def __init__(self, store: Store, body: Callable[[Any], Any]) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.value: Any = None

        def run() -> Any:
            with store.unit() as unit:
                self.value = body(unit)
                self.inside.set()
                assert self.release.wait(DEADLINE)
            return self.value

        self.background = Background(run)
        until(lambda: self.inside.is_set() or self.background.done)
        if not self.inside.is_set():  # pragma: no cover - shown by the failure
            self.background.result()

    def finish(self) -> Any:
        self.release.set()
        return self.background.result()


# --- the port's claim on every store ---------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "claim.db")
    else:
        postgres_dsn = request.getfixturevalue("postgres_dsn")
        wipe(postgres_dsn)
        made = PostgresStore(postgres_dsn)
    with made:
        yield made


def test_claim_reads_like_get_and_a_read_unit_refuses_it(any_store: Store) -> None:
    with any_store.unit() as unit:
        unit.put("t", "k", {"v": 1})
        assert {"v": 1} == unit.claim("t", "k")
        assert unit.claim("t", "absent") is None
    with any_store.unit() as unit:
        assert {"v": 1} == unit.claim("t", "k")
        unit.delete("t", "k")
        assert unit.claim("t", "k") is None
    with any_store.unit(readonly=True) as unit, pytest.raises(RuntimeError, match="claim"):
        unit.claim("t", "k")


def test_claim_passes_over_a_key_another_unit_holds_without_waiting(
    store: PostgresStore, dsn: str
) -> None:
    with store.unit() as unit:
        unit.put("t", "held", "old")
        unit.put("t", "free", "free")
    holder = HeldUnit(store, lambda unit: (unit.get("t", "held"), unit.put("t", "held", "new")))
    try:
        with store.unit() as unit:
            assert unit.claim("t", "held") is None  # held: passed over, not waited for
            assert "free" == unit.claim("t", "free")
            assert unit.claim("t", "a\x00") is None  # no such key can be stored
        assert 0 == waiting_for_advisory_locks(dsn)
    finally:
        holder.finish()
    with store.unit() as unit:
        assert "new" == unit.claim("t", "held")  # the newest commit, once free
        assert "new" == unit.claim("t", "held")  # claimed already: read again
    # A claimed key is held to the unit's end: another unit's get waits for it.
    holder = HeldUnit(store, lambda unit: unit.claim("t", "free"))
    try:
        waiter = Background(lambda: _in_unit(store, lambda unit: unit.put("t", "free", "w")))
        until(lambda: waiting_for_advisory_locks(dsn) == 1)
    finally:
        assert "free" == holder.finish()
    waiter.result()
    with store.unit(readonly=True) as unit:
        assert "w" == unit.get("t", "free")


def _in_unit(store: Store, body: Callable[[Any], Any]) -> Any:
    with store.unit() as unit:
        return body(unit)


# --- expiry indexes: two pruners ------------------------------------------------------


def test_two_pruners_never_pop_one_entry(store: PostgresStore, dsn: str) -> None:
    index = ExpiryIndex("expiry")
    refs = [f"r{i}" for i in range(6)]
    with store.unit() as unit:
        for i, ref in enumerate(refs):
            index.add(unit, T0 + timedelta(seconds=i), ref)
    # The first pruner pops three and keeps its unit open; the second runs meanwhile.
    first = HeldUnit(store, lambda unit: index.pop_due(unit, 3))
    try:
        second = Background(lambda: _in_unit(store, lambda unit: index.pop_due(unit, 6)))
        # The second must not wait for the first (it passes over held entries); if it
        # did, it would show as a waiting lock (and pop the same entries after).
        until(lambda: second.done or waiting_for_advisory_locks(dsn) > 0)
    finally:
        popped_first = first.finish()
    popped_second = second.result()
    assert refs[:3] == popped_first
    assert refs[3:] == popped_second
    with store.unit() as unit:
        assert [] == index.pop_due(unit, 10)


def test_pruners_in_many_threads_pop_every_entry_exactly_once(store: PostgresStore) -> None:
    index = ExpiryIndex("expiry")
    refs = {f"r{i:03d}" for i in range(60)}
    with store.unit() as unit:
        for i, ref in enumerate(sorted(refs)):
            index.add(unit, T0 + timedelta(milliseconds=i), ref)
    go = threading.Barrier(4)

    def prune() -> list[str]:
        go.wait(DEADLINE)
        mine: list[str] = []
        while True:
            with store.unit() as unit:
                popped = index.pop_due(unit, 4)
                left = list(unit.scan("expiry", limit=1))
            mine.extend(popped)
            if not popped and not left:
                return mine

    pruners = [Background(prune) for _ in range(4)]
    results = [pruner.result() for pruner in pruners]
    everything = [ref for popped in results for ref in popped]
    assert sorted(everything) == sorted(refs)  # each once: no double pop, none lost


# --- the Claro outbox: two dispatchers ------------------------------------------------


def test_two_dispatchers_never_claim_one_notification(store: PostgresStore, dsn: str) -> None:
    service = ClaroTasks(store)
    service.register_webhook("acct", "https://receiver.example/hook", "secret", webhook_id="wh")
    dataset = service.create_dataset("acct", Grid(["r1"], ["c1"]))
    task = service.create_bulk("acct", dataset, {"webhookId": "wh"})
    _complete(service, task)  # ended: its notification is due
    # Hold the webhook's key, so the first dispatcher stops inside its unit, after it
    # claimed the record and before it commits (it addresses the record last).
    webhook = HeldUnit(store, lambda unit: unit.get(WEBHOOKS, composite_key("acct", "wh")))
    try:
        first = Background(lambda: service.due_outbox(10))
        until(lambda: waiting_for_advisory_locks(dsn) == 1)  # the first waits for it
        second = Background(lambda: service.due_outbox(10))
        # The second passes over the record the first holds; without that it waits
        # for the record's key (a second waiting lock) and claims it again after.
        until(lambda: second.done or waiting_for_advisory_locks(dsn) == 2)
    finally:
        webhook.finish()
    claimed_first = [record.task_id for record in first.result()]
    claimed_second = [record.task_id for record in second.result()]
    assert ([task.task_id], []) == (claimed_first, claimed_second)


def test_a_dispatcher_passes_over_a_notification_delivered_since_its_scan(
    dsn: str,
) -> None:
    clock = ManualClock(T0)
    with PostgresStore(dsn, clock=clock, busy_timeout=DEADLINE) as store:
        service = ClaroTasks(store)
        service.register_webhook("acct", "https://r.example/hook", "secret", webhook_id="wh")
        dataset = service.create_dataset("acct", Grid(["r1"], ["c1"]))
        task = service.create_bulk("acct", dataset, {"webhookId": "wh"})
        _complete(service, task)
        # Deliver it inside a held unit: a dispatcher's scan still sees the old entry.
        holder = HeldUnit(store, lambda unit: _deliver_in(service, unit, task.task_id))
        try:
            assert [] == service.due_outbox(10)  # held: passed over, not waited for
        finally:
            holder.finish()
        assert [] == service.due_outbox(10)  # delivered: gone from the outbox
        assert [task.task_id] == [r.task_id for r in service.outbox(pending_only=False)]


def _complete(service: ClaroTasks, task: ClaroTask) -> None:
    service.start(task.task_id)
    service.record(task.task_id, succeeded=range(task.total), token=task.lease_token)
    service.complete(task.task_id, token=task.lease_token)


def _deliver_in(service: ClaroTasks, unit: Any, task_id: str) -> None:
    doc = unit.get("claro.outbox", task_id)
    service._deliver(unit, task_id, doc)


# --- Claro: settling lapsed leases beside cancels and workers ---------------------------


def lapsed_task(store: PostgresStore, clock: ManualClock) -> tuple[ClaroTasks, ClaroTask]:
    """A Claro task that recorded a batch and whose lease then lapsed."""
    service = ClaroTasks(store, lease_ttl=60)
    dataset = service.create_dataset("acct", Grid(["r1", "r2"], ["c1"]))
    task = service.create_bulk("acct", dataset, {"processOnlyEmpty": True})
    service.start(task.task_id)
    service.record(task.task_id, succeeded=[0], token=task.lease_token)
    clock.advance(timedelta(seconds=61))
    return service, task


def test_settling_passes_over_a_task_another_unit_holds(dsn: str) -> None:
    clock = ManualClock(T0)
    with PostgresStore(dsn, clock=clock, busy_timeout=DEADLINE) as store:
        service, task = lapsed_task(store, clock)
        holder = HeldUnit(store, lambda unit: unit.get("claro.tasks", task.task_id))
        try:
            settle = Background(service.settle_expired)
            # Without claims the settle would wait for the task (and, with a cancel
            # holding the dataset meanwhile, deadlock with it).
            until(lambda: settle.done or waiting_for_advisory_locks(dsn) > 0)
            assert () == tuple(settle.result())
        finally:
            holder.finish()
        assert [task.task_id] == [t.task_id for t in service.settle_expired()]
        assert "failed" == service.task(task.task_id).status.value


def test_a_settle_and_a_cancel_at_once_do_not_deadlock(dsn: str) -> None:
    clock = ManualClock(T0)
    with PostgresStore(dsn, clock=clock, busy_timeout=DEADLINE) as store:
        service, task = lapsed_task(store, clock)
        # The task's key is held while a settle and then a cancel begin: the cancel
        # holds the dataset and waits for the task; the settle must not hold the task
        # and then wait for the dataset.
        holder = HeldUnit(store, lambda unit: unit.get("claro.tasks", task.task_id))
        try:
            settle = Background(service.settle_expired)
            until(lambda: settle.done or waiting_for_advisory_locks(dsn) == 1)
            cancel = Background(lambda: service.cancel("acct", task.dataset_id, task.task_id))
            until(lambda: waiting_for_advisory_locks(dsn) == (1 if settle.done else 2))
        finally:
            holder.finish()
        # Neither is StoreBusy (a deadlock): the settle passed over the held task, and
        # the cancel found the lease lapsed (a failed task cannot be cancelled; its
        # refusal changed nothing); the next settle fails the task.
        assert () == tuple(settle.result())
        with pytest.raises(TaskNotCancellable):
            cancel.result()
        assert [task.task_id] == [t.task_id for t in service.settle_expired()]
        assert "failed" == service.task(task.task_id).status.value


# --- idempotency keys: two creates with one key ----------------------------------------


def create_with_key(service: ClaroTasks, dataset: str) -> ClaroTask:
    return service.create_bulk("acct", dataset, {}, idempotency_key="k1")


def test_one_idempotency_key_on_two_datasets_at_once_creates_one_task(
    store: PostgresStore, dsn: str
) -> None:
    service = ClaroTasks(store)
    first, second = (service.create_dataset("acct", Grid(["r1"], ["c1"])) for _ in range(2))
    # Both creates begin while the key is held, so both find it unused at first.
    held = HeldUnit(store, lambda unit: unit.get(IDEMPOTENCY, composite_key("acct", "k1")))
    try:
        creates = [Background(partial(create_with_key, service, d)) for d in (first, second)]
        until(lambda: waiting_for_advisory_locks(dsn) == 2)
    finally:
        held.finish()
    outcomes: list[Any] = []
    for create in creates:
        try:
            outcomes.append(create.result().dataset_id)
        except IdempotencyConflict as conflict:
            outcomes.append(conflict)
    # The second to get the key saw the first's answer: another request, so a conflict.
    assert 1 == sum(isinstance(o, IdempotencyConflict) for o in outcomes)
    assert 1 == sum(o in (first, second) for o in outcomes if isinstance(o, str))


# --- quotas: concurrent creates -------------------------------------------------------


def test_concurrent_charges_never_exceed_a_quota(store: PostgresStore, dsn: str) -> None:
    quota = WindowQuota(limit=1, window_seconds=3600)
    first = HeldUnit(store, lambda unit: quota.charge(unit, "acct"))
    try:
        second = Background(lambda: _in_unit(store, lambda unit: quota.charge(unit, "acct")))
        until(lambda: waiting_for_advisory_locks(dsn) == 1)  # waits for the account
        assert not second.done
    finally:
        first.finish()
    with pytest.raises(QuotaExceeded):
        second.result()  # it read what the first committed


def test_creates_in_many_threads_never_exceed_a_quota(store: PostgresStore) -> None:
    quota = WindowQuota(limit=5, window_seconds=3600)
    go = threading.Barrier(4)

    def create() -> int:
        go.wait(DEADLINE)
        allowed = 0
        for _ in range(4):
            try:
                _in_unit(store, lambda unit: quota.charge(unit, "acct"))
                allowed += 1
            except QuotaExceeded:
                pass
        return allowed

    creators = [Background(create) for _ in range(4)]
    assert 5 == sum(creator.result() for creator in creators)
