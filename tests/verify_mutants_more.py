"""Mutants of Send AI and Visual Layer for the ``taskcore verify`` mutant suite.

Importing this module adds them to :data:`verify_servers.MUTANTS` (the hook that module
documents: a service subclass breaking one documented rule, and one entry), so
tests/test_verify_mutants.py runs each: verify must catch it with a shrunk, reproducible
counterexample whose ``repro.sh`` fails against the mutant and passes against the real
server.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from taskcore.keys import key_parts
from taskcore.sendai.errors import InvalidTaskState, TaskValidationFailed
from taskcore.sendai.service import SendAITasks
from taskcore.sendai.task import ApiKey, SendAITask
from taskcore.server import Services
from taskcore.store import RowsUnit
from taskcore.store.port import Unit
from taskcore.visual_layer.lifecycle import VisualLayerEvent
from taskcore.visual_layer.service import DATASETS, Listing, Shown, VisualLayerTasks
from taskcore.visual_layer.task import TaskQuery, VisualLayerTask
from verify_servers import MUTANTS, Mutant


def _sendai(kind: type[SendAITasks]) -> Callable[[Services], None]:
    def mutate(services: Services) -> None:
        services.sendai = kind(services.store)

    return mutate


def _visual_layer(kind: type[VisualLayerTasks]) -> Callable[[Services], None]:
    def mutate(services: Services) -> None:
        services.visual_layer = kind(services.store)

    return mutate


class SendAIExportedUnlocks(SendAITasks):
    """``unlock`` forgets that an exported task stays locked (every user call judges
    the task as if it had not been exported, and keeps its ``exported_at``)."""

    def _user(
        self,
        key: ApiKey,
        project_id: str,
        task_id: str,
        act: Callable[[Unit, SendAITask], SendAITask],
    ) -> SendAITask:
        def forgetful(unit: Unit, task: SendAITask) -> SendAITask:
            return act(unit, task.but(exported_at=None)).but(exported_at=task.exported_at)

        return super()._user(key, project_id, task_id, forgetful)


class SendAIRefusedCallOpens(SendAITasks):
    """A call refused for the task's state (unlock, complete, discard) still stamps
    ``last_opened_at``."""

    def _user(
        self,
        key: ApiKey,
        project_id: str,
        task_id: str,
        act: Callable[[Unit, SendAITask], SendAITask],
    ) -> SendAITask:
        try:
            return super()._user(key, project_id, task_id, act)
        except InvalidTaskState as error:
            if not isinstance(error, TaskValidationFailed):
                super()._user(
                    key, project_id, task_id, lambda unit, t: t.but(last_opened_at=unit.now)
                )
            raise


class _Shifted(TaskQuery):
    """A query whose pages after the first start ``shift`` tasks later."""

    shift = 0

    @property
    def offset(self) -> int:
        return super().offset + (self.shift if self.page > 1 else 0)


class _SkipOne(_Shifted):
    shift = 1


class _RepeatOne(_Shifted):
    shift = -1


def _shifted(kind: type[_Shifted]) -> type[VisualLayerTasks]:
    class Shifted(VisualLayerTasks):
        def list(self, user: str, query: TaskQuery | None = None) -> Listing:
            query = TaskQuery() if query is None else query
            return super().list(user, kind(**attrs.asdict(query, recurse=False)))

    return Shifted


class VisualLayerAbortsCommitting(VisualLayerTasks):
    """``abort`` forgets that a task in its commit phase cannot be aborted."""

    def abort(self, user: str, task_id: str) -> Shown:
        def act(unit: RowsUnit, task: VisualLayerTask) -> VisualLayerTask:
            return self._fired(
                unit, attrs.evolve(task, in_commit_phase=False), VisualLayerEvent.ABORT
            )

        return self._change(task_id, user, act)


class VisualLayerShowsEveryDataset(VisualLayerTasks):
    """Every user sees the tasks of every dataset."""

    def _visible(self, unit: RowsUnit, user: str) -> set[str]:
        return {key_parts(key)[0] for key, _ in unit.scan(DATASETS)}


class VisualLayerProgressDrops(VisualLayerTasks):
    """Entering the commit phase takes the progress one percent back."""

    def enter_commit_phase(self, task_id: str) -> Shown:
        def act(unit: RowsUnit, task: VisualLayerTask) -> VisualLayerTask:
            dropped = max(0, (task.progress_percentage or 0) - 1)
            return self._fired(
                unit,
                task,
                VisualLayerEvent.ENTER_COMMIT,
                in_commit_phase=True,
                progress_percentage=dropped,
            )

        return self._change(task_id, None, act)


MORE_MUTANTS: dict[str, Mutant] = {
    "sendai-exported-unlocks": Mutant("sendai", "locked", _sendai(SendAIExportedUnlocks)),
    "sendai-refused-call-opens": Mutant("sendai", "refusals", _sendai(SendAIRefusedCallOpens)),
    "visual-layer-page-skips-one": Mutant(
        "visual-layer", "pages", _visual_layer(_shifted(_SkipOne))
    ),
    "visual-layer-page-repeats-one": Mutant(
        "visual-layer", "pages", _visual_layer(_shifted(_RepeatOne))
    ),
    "visual-layer-aborts-committing": Mutant(
        "visual-layer", "commit", _visual_layer(VisualLayerAbortsCommitting)
    ),
    "visual-layer-tenant-leak": Mutant(
        "visual-layer", "tenancy", _visual_layer(VisualLayerShowsEveryDataset)
    ),
    "visual-layer-progress-drops": Mutant(
        "visual-layer", "progress", _visual_layer(VisualLayerProgressDrops)
    ),
}
"""The mutants this module adds (API, the property verify must report, the fault)."""

MUTANTS.update(MORE_MUTANTS)
