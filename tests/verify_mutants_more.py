"""Mutants of Send AI and Visual Layer for the ``taskcore verify`` mutant suite.

Importing this module adds them to :data:`verify_servers.MUTANTS` (the hook that module
documents: a service subclass breaking one documented rule, and one entry), so
tests/test_verify_mutants.py runs each: verify must catch it with a shrunk, reproducible
counterexample whose ``repro.sh`` fails against the mutant and passes against the real
server.
"""

from __future__ import annotations

from collections.abc import Callable

from taskcore.sendai.errors import InvalidTaskState, TaskValidationFailed
from taskcore.sendai.service import SendAITasks
from taskcore.sendai.task import ApiKey, SendAITask
from taskcore.server import Services
from taskcore.store.port import Unit
from verify_servers import MUTANTS, Mutant


def _sendai(kind: type[SendAITasks]) -> Callable[[Services], None]:
    def mutate(services: Services) -> None:
        services.sendai = kind(services.store)

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


MORE_MUTANTS: dict[str, Mutant] = {
    "sendai-exported-unlocks": Mutant("sendai", "locked", _sendai(SendAIExportedUnlocks)),
    "sendai-refused-call-opens": Mutant("sendai", "refusals", _sendai(SendAIRefusedCallOpens)),
}
"""The mutants this module adds (API, the property verify must report, the fault)."""

MUTANTS.update(MORE_MUTANTS)
