"""The Send AI service under threads, on both stores: 8 threads completing, discarding,
unlocking and reporting the same tasks (while the pipeline runs their steps) leave every
task in a status the lifecycle allows and lose no report (outcomes only, no timing)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from sendai_setup import EDITOR, PROJECT, READER, TEAM, make_service, make_store, upload
from taskcore.clock import ManualClock
from taskcore.sendai import InvalidTaskState, Issue, MetaField, SendAIStatus, SendAITask
from taskcore.sendai.service import MAX_REPORTS_PER_TASK
from threads import run_threads

THREADS, OPS, TASKS = 8, 40, 4
S = SendAIStatus


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_racing_reviews_keep_every_task_in_an_allowed_status_and_lose_no_report(
    kind: str, tmp_path: Path
) -> None:
    with make_store(kind, tmp_path, ManualClock()) as store:
        service = make_service(store)
        ids = [t.id for t in upload(service, count=TASKS)]
        guard = threading.Lock()
        reported: Counter[str] = Counter()
        answers: list[tuple[str, S]] = []

        def work(index: int) -> None:
            rng = random.Random(index)
            for _ in range(OPS):
                task_id = rng.choice(ids)
                ops: list[Callable[[], SendAITask]] = [
                    partial(service.run_step, TEAM, task_id),
                    partial(service.complete, EDITOR, PROJECT, task_id, [MetaField("total", "1")]),
                    partial(service.discard, EDITOR, PROJECT, task_id),
                    partial(service.unlock, EDITOR, PROJECT, task_id),
                ]
                if rng.random() < 0.3:
                    task, _ = service.report(EDITOR, PROJECT, task_id, [Issue("n", str(index))])
                    with guard:
                        reported[task_id] += 1
                    continue
                op = rng.randrange(len(ops))
                try:
                    task = ops[op]()
                except InvalidTaskState:
                    continue
                with guard:
                    answers.append((["run", "complete", "discard", "unlock"][op], task.status))

        run_threads(THREADS, work)
        allowed = {
            "run": {S.REVIEWING, S.COMPLETED, S.FILTERED},
            "complete": {S.PROCESSING},
            "discard": {S.DISCARDED},
            "unlock": {S.REVIEWING},
        }
        assert [] == [(op, status) for op, status in answers if status not in allowed[op]]
        assert {"run", "complete", "discard", "unlock"} == {op for op, _ in answers}
        for task_id in ids:
            task = service.get(READER, PROJECT, task_id)
            assert task.status in set(SendAIStatus)
            kept = service.reports(READER, PROJECT, task_id)
            assert min(reported[task_id], MAX_REPORTS_PER_TASK) == len(kept)
            assert len({r.report_id for r in kept}) == len(kept)
