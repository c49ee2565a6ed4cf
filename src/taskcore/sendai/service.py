"""The Send AI task service: the review pipeline's worker side and the five documented
user operations (Send AI Task Management API; taskcore's decisions in docs/sendai.md).

Theory of operation:

- Every call is one unit of work of the store: read, decide with the pure core (the
  lifecycle table and the step's rules), write.  A refused call raises before its unit
  commits, so it changes nothing.  Thread- and process-safety come from the store.
- Tenancy: projects, uploads, tasks and reports are kept per team (store keys are
  :func:`~taskcore.keys.composite_key` of the team and the id).  Another team's task, or
  a task under another project's path, is :class:`~taskcore.errors.TaskNotFound`.
- User calls take an :class:`~taskcore.sendai.task.ApiKey`; the order of checks is
  key -> scope (``task.read`` for reads, ``task.edit`` for changes; else 401) -> task
  exists (404) -> body valid (400) -> state (400).
- The worker side: :meth:`SendAITasks.upload` brings an upload's documents into the
  project's first step (PROCESSING); :meth:`SendAITasks.run_step` runs auto-processing
  on a PROCESSING task (filters, then validation: a step without review moves a valid
  task straight on; otherwise the task stops in REVIEWING); after ``complete`` it moves
  the task to the next step, or COMPLETED after the last; :meth:`SendAITasks.fail`,
  :meth:`SendAITasks.export` and :meth:`SendAITasks.mark_fully_processed` do the rest.
- ``report`` keeps one record per call, at most :data:`MAX_REPORTS_PER_TASK` per task
  (the oldest is dropped first), and files each issue with the external tracker after
  its unit commits (no external call holds the store's lock); what the tracker refused
  is written to the record in a second unit and named in the answer (207).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

from taskcore.cache import BoundedCache
from taskcore.errors import TaskNotFound, Unauthorized, ValidationError
from taskcore.ids import IdFactory, UuidIds, draw_free
from taskcore.keys import composite_key, key_parts
from taskcore.sendai.errors import (
    InvalidTaskState,
    ProjectNotFound,
    TaskValidationFailed,
    UploadNotFound,
)
from taskcore.sendai.lifecycle import SENDAI_TASK, SendAIEvent, SendAIStatus
from taskcore.sendai.task import (
    EDIT,
    READ,
    ApiKey,
    Issue,
    MetaField,
    Project,
    Report,
    SendAITask,
    Step,
    Upload,
    merge_meta,
)
from taskcore.sendai.tracker import IssueTracker, NoTracker
from taskcore.store import MemoryStore, Store, Unit

__all__ = [
    "MAX_DOCUMENTS",
    "MAX_NAME_LENGTH",
    "MAX_PAGES",
    "MAX_REPORTS_PER_TASK",
    "MAX_STEPS",
    "Document",
    "GuardFacts",
    "SendAITasks",
]

PROJECTS: Final = "sendai.projects"
"""(team, project id) -> the project's steps."""
UPLOADS: Final = "sendai.uploads"
"""(team, upload id) -> the upload (project, task ids, fully-processed flag)."""
TASKS: Final = "sendai.tasks"
"""(team, task id) -> the task's document."""
PROCESSING: Final = "sendai.processing"
"""(team, task id) -> ``1`` while the task is PROCESSING: the pipeline's work queue."""
REPORTS: Final = "sendai.reports"
"""(team, task id) -> the task's reports, oldest first, at most MAX_REPORTS_PER_TASK."""

MAX_REPORTS_PER_TASK: Final = 100
"""Reports kept per task; a newer report drops the oldest (docs/sendai.md, "Retention")."""
MAX_DOCUMENTS: Final = 1_000
"""The most documents one upload may bring."""
MAX_PAGES: Final = 10_000
"""The most pages one document may have."""
MAX_NAME_LENGTH: Final = 1_000
"""The longest document name, in characters."""
MAX_STEPS: Final = 50
"""The most steps one project may have."""
DECODED_TASKS: Final = 4_096
"""Tasks kept decoded in process, with the store document they came from (a bound)."""
DECODED_PROJECTS: Final = 256
"""Projects kept decoded in process, with their store document (a bound)."""


def _whole(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an integer, not {type(value).__name__}")


@attrs.frozen
class Document:
    """A document an upload brings: its name and page count.

    Raises:
        TypeError: ``name`` is not a string or ``pages`` not an integer (bool is not one).
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    pages: int = attrs.field(default=1, validator=_whole)


@attrs.frozen
class GuardFacts:
    """What the lifecycle's guards read about one task: the service's
    :class:`~taskcore.sendai.lifecycle.GuardContext`."""

    valid: bool = True
    exported: bool = False
    upload_fully_processed: bool = False


class SendAITasks:
    """The Send AI service (mutable through its store; thread-safe).

    Args:
        store: where projects, uploads, tasks and reports live (default: in memory).
        ids: draws task ids (default: ``task_<uuid4>``).
        report_ids: draws report ids (default: ``report_<uuid4>``).
        tracker: the external issue tracker reports are filed with.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        ids: IdFactory | None = None,
        report_ids: IdFactory | None = None,
        tracker: IssueTracker | None = None,
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds() if ids is None else ids
        self.report_ids: IdFactory = UuidIds("report_") if report_ids is None else report_ids
        self.tracker: IssueTracker = NoTracker() if tracker is None else tracker
        self._decoded: BoundedCache[str, tuple[Any, SendAITask]] = BoundedCache(DECODED_TASKS)
        self._projects: BoundedCache[str, tuple[Any, Project]] = BoundedCache(DECODED_PROJECTS)

    # -- set-up (worker side) ------------------------------------------------------------

    def create_project(self, team_id: str, project_id: str, steps: Sequence[Step]) -> Project:
        """Create a team's project with its ordered steps.

        A project is never redefined: its tasks hold the index of their step.

        Raises:
            ValidationError: no steps, more than :data:`MAX_STEPS`, or the team already
                has a project with this id; nothing changed.
        """
        if not steps or len(steps) > MAX_STEPS:
            raise ValidationError(f"A project has 1 to {MAX_STEPS} steps", field="steps")
        project = Project(team_id, project_id, tuple(steps))
        key = composite_key(team_id, project_id)
        with self.store.unit() as unit:
            if unit.get(PROJECTS, key) is not None:
                raise ValidationError(f"Project {project_id} already exists", field="project_id")
            unit.put(PROJECTS, key, project.to_doc())
        return project

    def upload(
        self,
        team_id: str,
        project_id: str,
        upload_id: str,
        documents: Sequence[Document],
        *,
        task_ids: Sequence[str] | None = None,
    ) -> tuple[SendAITask, ...]:
        """Bring an upload's documents into the project's first step (PROCESSING).

        ``task_ids`` names the new tasks, one per document (default: drawn by ``ids``).

        Returns:
            The new tasks, in the documents' order.

        Raises:
            ProjectNotFound: the team has no such project; nothing changed.
            ValidationError: the upload id is taken, no documents or more than
                :data:`MAX_DOCUMENTS`, a name of 0 or more than :data:`MAX_NAME_LENGTH`
                characters, or a page count outside 1..:data:`MAX_PAGES`; nothing changed.
            IdCollision: no free task id was drawn; nothing changed.
            ValidationError: ``task_ids`` does not give one distinct, non-empty id per
                document, or names a task the team has; nothing changed.
        """
        if task_ids is not None and (
            len(task_ids) != len(documents)
            or len(set(task_ids)) != len(task_ids)
            or not all(isinstance(i, str) and i for i in task_ids)
        ):
            raise ValidationError("task_ids must name each document once", field="task_ids")
        if not documents or len(documents) > MAX_DOCUMENTS:
            raise ValidationError(f"An upload has 1 to {MAX_DOCUMENTS} documents")
        for document in documents:
            if not 1 <= len(document.name) <= MAX_NAME_LENGTH:
                raise ValidationError(
                    f"A document's name has 1 to {MAX_NAME_LENGTH} characters", field="name"
                )
            if not 1 <= document.pages <= MAX_PAGES:
                raise ValidationError(f"A document has 1 to {MAX_PAGES} pages", field="pages")
        with self.store.unit() as unit:
            project = self._project(unit, team_id, project_id)
            upload_key = composite_key(team_id, upload_id)
            if unit.get(UPLOADS, upload_key) is not None:
                raise ValidationError(f"Upload {upload_id} already exists", field="upload_id")
            first = project.steps[0]
            tasks = []
            for n, document in enumerate(documents):
                if task_ids is None:
                    task_id = draw_free(
                        "task",
                        self.ids,
                        lambda i: unit.get(TASKS, composite_key(team_id, i)) is None,
                    )
                elif unit.get(TASKS, composite_key(team_id, task_ids[n])) is None:
                    task_id = task_ids[n]
                else:
                    raise ValidationError(f"Task {task_ids[n]} already exists", field="task_ids")
                task = SendAITask(
                    id=task_id,
                    team_id=team_id,
                    project_id=project_id,
                    upload_id=upload_id,
                    name=document.name,
                    created_at=unit.now,
                    status=SendAIStatus.PROCESSING,
                    step_type=first.step_type,
                    pages=document.pages,
                )
                self._put_task(unit, task)
                tasks.append(task)
            upload = Upload(team_id, upload_id, project_id, tuple(t.id for t in tasks))
            unit.put(UPLOADS, upload_key, upload.to_doc())
        return tuple(tasks)

    def run_step(self, team_id: str, task_id: str, *, meta: Sequence[MetaField] = ()) -> SendAITask:
        """Auto-process a PROCESSING task: move it on until it stops for review or ends.

        ``meta`` (what the step extracted) is merged into the task's first.  At each step
        the task reaches: a matching filter rule -> FILTERED; a step that needs no review
        and whose validation passes -> the next step; otherwise -> REVIEWING at that step.
        A task that ``complete`` left in PROCESSING goes to the next step first; after the
        last step it is COMPLETED.

        Raises:
            TaskNotFound: the team has no such task; nothing changed.
            InvalidTaskState: the task is not PROCESSING; nothing changed.
        """
        with self.store.unit() as unit:
            task = self._stored(unit, team_id, task_id)
            if task.status is not SendAIStatus.PROCESSING:
                raise SENDAI_TASK.refusal(task.status, SendAIEvent.ADVANCE)
            project = self._project(unit, team_id, task.project_id)
            task = task.but(meta=merge_meta(task.meta, meta))
            task = _auto_process(project, task)
            self._put_task(unit, task)
        return task

    def fail(self, team_id: str, task_id: str, reason: str = "processing_failed") -> SendAITask:
        """Fail a PROCESSING task (FAILED, a dead end but for reports).

        Raises:
            TaskNotFound: no such task; nothing changed.
            InvalidTaskState: the task is not PROCESSING; nothing changed.
        """

        def act(unit: Unit, task: SendAITask) -> SendAITask:
            status = SENDAI_TASK.fire(task.status, SendAIEvent.FAIL)
            return task.but(status=status, failure_reason=reason)

        return self._worker(team_id, task_id, act)

    def export(self, team_id: str, task_id: str, *, succeeded: bool = True) -> SendAITask:
        """Export a COMPLETED task: ``exported_at`` now, or ``export_failed_at`` now when
        the export failed (then the task may still be unlocked).

        Raises:
            TaskNotFound: no such task; nothing changed.
            InvalidTaskState: the task is not COMPLETED; nothing changed.
        """

        def act(unit: Unit, task: SendAITask) -> SendAITask:
            SENDAI_TASK.fire(task.status, SendAIEvent.EXPORT)
            if succeeded:
                return task.but(exported_at=unit.now)
            return task.but(export_failed_at=unit.now)

        return self._worker(team_id, task_id, act)

    def mark_fully_processed(self, team_id: str, upload_id: str) -> Upload:
        """Flag an upload fully processed: none of its tasks can be unlocked any more.

        Raises:
            UploadNotFound: the team has no such upload; nothing changed.
        """
        with self.store.unit() as unit:
            upload = attrs.evolve(self._upload(unit, team_id, upload_id), fully_processed=True)
            unit.put(UPLOADS, composite_key(team_id, upload_id), upload.to_doc())
        return upload

    def project(self, team_id: str, project_id: str) -> Project:
        """The team's project ``project_id``.

        Raises:
            ProjectNotFound: the team has no such project.
        """
        with self.store.unit(readonly=True) as unit:
            return self._project(unit, team_id, project_id)

    def task(self, team_id: str, task_id: str) -> SendAITask:
        """The team's task ``task_id`` as the pipeline sees it (no key needed).

        Raises:
            TaskNotFound: the team has no such task.
        """
        with self.store.unit(readonly=True) as unit:
            return self._stored(unit, team_id, task_id)

    def processing(self, limit: int = 100) -> tuple[SendAITask, ...]:
        """Tasks in PROCESSING (the pipeline's work), by team and task id, at most
        ``limit``.  Reads an index kept with every task write, so the cost follows
        ``limit``, not the history.

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        with self.store.unit(readonly=True) as unit:
            return tuple(
                self._stored(unit, *key_parts(key)) for key, _ in unit.scan(PROCESSING, limit=limit)
            )

    # -- user side -----------------------------------------------------------------------

    def get(self, key: ApiKey, project_id: str, task_id: str) -> SendAITask:
        """The task (``GET .../task/{task_id}``; needs ``task.read``).

        Raises:
            Unauthorized: the key lacks ``task.read``.
            TaskNotFound: no such task in the key's team under ``project_id``.
        """
        _need_scope(key, READ)
        with self.store.unit(readonly=True) as unit:
            return self._task(unit, key.team_id, project_id, task_id)

    def check_task(self, key: ApiKey, project_id: str, task_id: str, scope: str = EDIT) -> None:
        """Raise what a call on the task would raise before reading its body.

        Raises:
            Unauthorized: the key lacks ``scope``.
            TaskNotFound: no such task in the key's team under ``project_id``.
        """
        _need_scope(key, scope)
        with self.store.unit(readonly=True) as unit:
            self._task(unit, key.team_id, project_id, task_id)

    def tasks_of_upload(self, key: ApiKey, upload_id: str) -> tuple[SendAITask, ...]:
        """The tasks of an upload, in upload order (needs ``task.read``).

        Raises:
            Unauthorized: the key lacks ``task.read``.
            UploadNotFound: no such upload in the key's team.
        """
        _need_scope(key, READ)
        with self.store.unit(readonly=True) as unit:
            upload = self._upload(unit, key.team_id, upload_id)
            return tuple(self._stored(unit, key.team_id, t) for t in upload.task_ids)

    def unlock(self, key: ApiKey, project_id: str, task_id: str) -> SendAITask:
        """Unlock a finalized task for editing: REVIEWING, ``last_opened_at`` now.

        Raises:
            Unauthorized: the key lacks ``task.edit``.
            TaskNotFound: no such task in the key's team under ``project_id``.
            InvalidTaskState: not COMPLETED, DISCARDED or FILTERED, or exported
                (``reason="exported"``), or its upload fully processed
                (``reason="upload_fully_processed"``); nothing changed.
        """

        def act(unit: Unit, task: SendAITask) -> SendAITask:
            upload = self._upload(unit, task.team_id, task.upload_id)
            facts = GuardFacts(
                exported=task.exported_at is not None,
                upload_fully_processed=upload.fully_processed,
            )
            try:
                status = SENDAI_TASK.fire(task.status, SendAIEvent.UNLOCK, facts)
            except InvalidTaskState as error:
                if not error.failed_guards:
                    raise
                reason = "exported" if facts.exported else "upload_fully_processed"
                raise _again(error, reason=reason) from None
            return task.but(status=status, step_done=False, last_opened_at=unit.now)

        return self._user(key, project_id, task_id, act)

    def complete(
        self,
        key: ApiKey,
        project_id: str,
        task_id: str,
        meta: Sequence[MetaField] | None = None,
    ) -> SendAITask:
        """Complete a REVIEWING task: apply ``meta``, validate with the step's rule, and
        answer PROCESSING (the pipeline then moves it on, :meth:`run_step`).

        Raises:
            Unauthorized: the key lacks ``task.edit``.
            TaskNotFound: no such task in the key's team under ``project_id``.
            InvalidTaskState: the task is not REVIEWING; nothing changed.
            TaskValidationFailed: the meta (after ``meta`` is applied) fails the step's
                validation, naming the fields; the task stays REVIEWING, unchanged.
        """

        def act(unit: Unit, task: SendAITask) -> SendAITask:
            if task.status is not SendAIStatus.REVIEWING:
                raise SENDAI_TASK.refusal(task.status, SendAIEvent.COMPLETE)
            step = self._project(unit, task.team_id, task.project_id).steps[task.step_index]
            merged = merge_meta(task.meta, meta or ())
            failed = step.failed_fields(merged)
            try:
                status = SENDAI_TASK.fire(
                    task.status, SendAIEvent.COMPLETE, _INVALID if failed else _VALID
                )
            except InvalidTaskState as error:
                raise TaskValidationFailed(
                    failed_fields=failed,
                    lifecycle=error.lifecycle,
                    state=error.state,
                    event=error.event,
                    allowed=error.allowed,
                    failed_guards=error.failed_guards,
                ) from None
            return task.but(status=status, meta=merged, step_done=True)

        return self._user(key, project_id, task_id, act)

    def discard(self, key: ApiKey, project_id: str, task_id: str) -> SendAITask:
        """Discard a REVIEWING task (DISCARDED).

        Raises:
            Unauthorized: the key lacks ``task.edit``.
            TaskNotFound: no such task in the key's team under ``project_id``.
            InvalidTaskState: the task is not REVIEWING; nothing changed.
        """

        def act(unit: Unit, task: SendAITask) -> SendAITask:
            return task.but(status=SENDAI_TASK.fire(task.status, SendAIEvent.DISCARD))

        return self._user(key, project_id, task_id, act)

    def report(
        self,
        key: ApiKey,
        project_id: str,
        task_id: str,
        issues: Sequence[Issue],
        message: str | None = None,
    ) -> tuple[SendAITask, Report]:
        """Report issues with a task, in any status; the status never changes.

        Each issue is filed with the tracker first (outside any unit of work: the tracker
        is another system), then the report is kept (:meth:`reports`) in one unit, with
        ``failed_issues`` naming what the tracker refused (207).  A report refused after
        filing (a busy store: ``STORE_BUSY``) keeps nothing, so a retry files its issues
        again: the tracker is the one to deduplicate.

        Raises:
            Unauthorized: the key lacks ``task.edit``.
            TaskNotFound: no such task in the key's team under ``project_id``.
            ValidationError: ``issues`` is empty; nothing changed.
        """
        _need_scope(key, EDIT)
        team = key.team_id
        with self.store.unit(readonly=True) as unit:
            task = self._task(unit, team, project_id, task_id)
            if not issues:  # after the task is found: key, scope, task, then the body
                raise ValidationError("'issues' must not be empty", field="issues")
            SENDAI_TASK.fire(task.status, SendAIEvent.REPORT)
        failed = tuple(issue for issue in issues if not self._filed(team, task_id, issue))
        with self.store.unit() as unit:
            task = self._task(unit, team, project_id, task_id)
            report = Report(
                self.report_ids(), task.id, unit.now, tuple(issues), message, failed_issues=failed
            )
            kept = list(unit.get(REPORTS, composite_key(team, task_id)) or ())
            kept.append(report.to_doc())
            unit.put(REPORTS, composite_key(team, task_id), kept[-MAX_REPORTS_PER_TASK:])
        return task, report

    def reports(self, key: ApiKey, project_id: str, task_id: str) -> tuple[Report, ...]:
        """The task's reports, oldest first (needs ``task.read``).

        Raises:
            Unauthorized: the key lacks ``task.read``.
            TaskNotFound: no such task in the key's team under ``project_id``.
        """
        _need_scope(key, READ)
        with self.store.unit(readonly=True) as unit:
            self._task(unit, key.team_id, project_id, task_id)
            docs = unit.get(REPORTS, composite_key(key.team_id, task_id)) or ()
            return tuple(Report.from_doc(doc) for doc in docs)

    # -- internals -----------------------------------------------------------------------

    def _filed(self, team_id: str, task_id: str, issue: Issue) -> bool:
        try:
            return bool(self.tracker.file(team_id, task_id, issue))
        except Exception:  # the external tracker's failure is the 207's subject, not ours
            return False

    def _user(
        self,
        key: ApiKey,
        project_id: str,
        task_id: str,
        act: Callable[[Unit, SendAITask], SendAITask],
    ) -> SendAITask:
        _need_scope(key, EDIT)
        with self.store.unit() as unit:
            store_key, _, task = self._load(unit, key.team_id, task_id)
            if task.project_id != project_id:
                raise TaskNotFound(task_id)
            changed = act(unit, task)
            self._put_task(unit, changed, store_key)
        return changed

    def _worker(
        self, team_id: str, task_id: str, act: Callable[[Unit, SendAITask], SendAITask]
    ) -> SendAITask:
        with self.store.unit() as unit:
            store_key, _, task = self._load(unit, team_id, task_id)
            changed = act(unit, task)
            self._put_task(unit, changed, store_key)
        return changed

    def _project(self, unit: Unit, team_id: str, project_id: str) -> Project:
        key = composite_key(team_id, project_id)
        doc = unit.get(PROJECTS, key)
        if doc is None:
            raise ProjectNotFound(project_id)
        hit = self._projects.get(key)  # by the document's identity, as in _stored
        if hit is not None and hit[0] is doc:
            return hit[1]
        project = Project.from_doc(team_id, project_id, doc)
        self._projects.put(key, (doc, project))
        return project

    @staticmethod
    def _upload(unit: Unit, team_id: str, upload_id: str) -> Upload:
        doc = unit.get(UPLOADS, composite_key(team_id, upload_id))
        if doc is None:
            raise UploadNotFound(upload_id)
        return Upload.from_doc(team_id, upload_id, doc)

    def _stored(self, unit: Unit, team_id: str, task_id: str) -> SendAITask:
        return self._load(unit, team_id, task_id)[2]

    def _load(self, unit: Unit, team_id: str, task_id: str) -> tuple[str, Any, SendAITask]:
        """The task's store key, its document and the task.

        Raises:
            TaskNotFound: the team has no such task.
        """
        key = composite_key(team_id, task_id)
        doc = unit.get(TASKS, key)
        if doc is None:
            raise TaskNotFound(task_id)
        # The memory store hands back the very document it was given: while that
        # document is current, the task decoded from it is too.  (A store that decodes
        # afresh, such as SQLite, simply misses.)  The cache keeps the document alive,
        # so its identity cannot be reused by another.
        hit = self._decoded.get(key)
        if hit is not None and hit[0] is doc:
            return key, doc, hit[1]
        task = SendAITask.from_doc(team_id, task_id, doc)
        self._decoded.put(key, (doc, task))
        return key, doc, task

    def _put_task(self, unit: Unit, task: SendAITask, key: str | None = None) -> None:
        """Store ``task`` (under ``key``, its store key, when the caller has it)."""
        if key is None:
            key = composite_key(task.team_id, task.id)
        doc = task.to_doc()
        unit.put(TASKS, key, doc)
        if task.status is SendAIStatus.PROCESSING:
            unit.put(PROCESSING, key, 1)
        else:
            unit.delete(PROCESSING, key)
        # Only a committed unit's document is ever read back; a rolled-back one is not
        # what the store holds, so the identity check in _load never matches it.
        self._decoded.put(key, (doc, task))

    def _task(self, unit: Unit, team_id: str, project_id: str, task_id: str) -> SendAITask:
        """The team's task under ``project_id``; another project's is not found."""
        task = self._stored(unit, team_id, task_id)
        if task.project_id != project_id:
            raise TaskNotFound(task_id)
        return task


_VALID, _INVALID = GuardFacts(valid=True), GuardFacts(valid=False)


def _need_scope(key: ApiKey, scope: str) -> None:
    if not key.allows(scope):
        raise Unauthorized(f"The API key lacks the {scope} scope")


def _again(error: InvalidTaskState, **changes: Any) -> InvalidTaskState:
    return InvalidTaskState(
        lifecycle=error.lifecycle,
        state=error.state,
        event=error.event,
        allowed=error.allowed,
        failed_guards=error.failed_guards,
        **changes,
    )


def _auto_process(project: Project, task: SendAITask) -> SendAITask:
    """Move a PROCESSING task on through the project's steps (see ``run_step``)."""
    steps = project.steps
    while True:
        if task.step_done:
            following = task.step_index + 1
            if following == len(steps):
                status = SENDAI_TASK.fire(task.status, SendAIEvent.FINISH)
                return task.but(status=status, step_done=False)
            task = task.but(
                step_index=following, step_type=steps[following].step_type, step_done=False
            )
        step = steps[task.step_index]
        if step.filtered(task.meta):
            return task.but(status=SENDAI_TASK.fire(task.status, SendAIEvent.FILTER))
        if step.review or step.failed_fields(task.meta):
            return task.but(status=SENDAI_TASK.fire(task.status, SendAIEvent.ADVANCE))
        task = task.but(step_done=True)
