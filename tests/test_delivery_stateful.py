"""The outbox under delivery, step by step against a naive model: tasks end, time
passes, passes answer 2xx or 503, the process restarts; every notification is pending,
delivered or given up exactly as the schedule says (docs/server.md, "Webhook delivery")."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks
from taskcore.clock import ManualClock, parse_instant
from taskcore.delivery import Backoff, Dispatcher, Outcome
from taskcore.store import SqliteStore

ME = "acct_me"
BACKOFF = Backoff(base=timedelta(minutes=1), factor=2, cap=timedelta(minutes=10), attempts=4)


@attrs.define
class Expected:
    """The model of one notification."""

    attempts: int = 0
    state: str = "pending"  # pending | delivered | gave_up
    due: datetime | None = None


class Answers:
    """A ``send`` that answers 2xx or 503 as drawn for the pass."""

    def __init__(self, oks: list[bool]) -> None:
        self.oks = list(oks)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        return 200 if (self.oks.pop(0) if self.oks else True) else 503


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="taskcore-delivery-"))
        self.clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
        self.store = SqliteStore(self.folder / "claro.db", clock=self.clock)
        self.service = ClaroTasks(self.store)
        self.service.register_webhook(ME, "https://r.example/", "s", webhook_id="wh")
        self.model: dict[str, Expected] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule()
    def a_task_ends(self) -> None:
        dataset = self.service.create_dataset(ME, Grid(["r1"], ["c1"]))
        task = self.service.create_bulk(ME, dataset, {"webhookId": "wh"})
        self.service.fail(task.task_id, token=task.lease_token)
        self.model[task.task_id] = Expected(due=self.clock.now())

    @rule(seconds=st.sampled_from([0, 1, 30, 59, 60, 300, 600, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(oks=st.lists(st.booleans(), max_size=6), seed=st.integers(0, 9))
    def a_pass(self, oks: list[bool], seed: int) -> None:
        now = self.clock.now()
        due = {t for t, e in self.model.items() if e.state == "pending" and e.due and e.due <= now}
        dispatcher = Dispatcher(self.service, send=Answers(oks), backoff=BACKOFF,
                                rng=random.Random(seed), concurrency=1)  # fmt: skip
        results = dispatcher.run_once().results
        note(f"pass at {now}: {[(r.task_id[-4:], r.outcome.value) for r in results]}")
        assert due == {r.task_id for r in results}
        for result in results:
            expected = self.model[result.task_id]
            expected.attempts += 1
            if result.status == 200:
                assert Outcome.DELIVERED == result.outcome
                expected.state, expected.due = "delivered", None
            elif expected.attempts == BACKOFF.attempts:
                assert Outcome.GAVE_UP == result.outcome
                expected.state, expected.due = "gave_up", None
            else:
                assert Outcome.RETRY == result.outcome
                assert result.next_attempt_at is not None
                expected.due = parse_instant(result.next_attempt_at)
                ceiling = BACKOFF.ceiling(expected.attempts)
                assert now <= expected.due < now + ceiling

    @rule()
    def the_process_restarts(self) -> None:
        self.store.close()
        self.store = SqliteStore(self.folder / "claro.db", clock=self.clock)
        self.service = ClaroTasks(self.store)

    @invariant()
    def every_notification_is_where_the_model_says(self) -> None:
        records = {r.task_id: r for r in self.service.outbox(pending_only=False)}
        assert set(self.model) == set(records)
        for task_id, expected in self.model.items():
            record = records[task_id]
            state = "delivered" if record.delivered else "gave_up" if record.gave_up else "pending"
            due = None if record.next_attempt_at is None else parse_instant(record.next_attempt_at)
            assert (expected.state, expected.attempts, expected.due) == (
                state,
                record.attempts,
                due,
            )


DeliveryMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25)
test_the_outbox_under_delivery_follows_the_model = DeliveryMachine.TestCase
