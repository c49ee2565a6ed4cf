"""The Visual Layer checker: the Task Manager API judged over HTTP (Visual Layer docs,
"Task Manager"; docs/visual-layer.md, docs/verify.md "Visual Layer").

The reference has no create and no single-task read: tasks come into being on the
worker side, and a caller sees them through the list.  The model starts from the
fixtures' Visual Layer section: the ``--key``'s user (a Bearer token of the fixtures),
the datasets each user may see and their names; another user's token, when the fixtures
have one, plays the other tenant.  What the model knows of a task it **learns** from
the first list answer that shows it; once an unfiltered list's ``total`` equals the
tasks learned, the model knows every visible task and predicts every page exactly.
It judges:

- ``responses``: statuses (401 for a missing or unknown token, 404 ``Task not found``
  for an unknown or invisible task, 200 with the bare task object);
- ``fields``: the task object's invariants and values: ``status``, ``status_message``
  (type label and state word, "committing" in the commit phase), ``end_time`` null
  exactly while live, ``error_message`` exactly when ``FAILED``, progress 100 when
  ``COMPLETED``, the dataset's name, the task's type, dataset and creator;
- ``pages``: a page is the model's page (filters, sort with ties by ``task_id``,
  ``page`` and ``page_size``): pages neither overlap nor skip, ``total`` is consistent;
  before every task is known, a page is at most ``page_size`` long and sorted;
- ``lifecycle``: abort only a ``DATASET_CREATION`` that is live, retry only a
  ``DATASET_CREATION`` that failed or was aborted (back to ``INITIALIZING``, same id);
- ``commit``: abort is refused in the commit phase (409);
- ``terminal``: a ``COMPLETED`` task is final, a failed or aborted one changes only by
  retry (worker steps refused);
- ``progress``: progress never decreases (a retry clears it);
- ``refusals``: a refused call changes nothing later lists show;
- ``tenancy``: no caller sees, aborts or retries a task of a dataset it is not a user of;
- ``worker``: the control interface's steps follow the documented lifecycle.

Tasks are named by their ids (a fixture's tasks should have ids, as the demo fixture's
do, so that a sequence names the same tasks after every reset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlencode

from hypothesis import strategies as st

from taskcore.errors import ValidationError
from taskcore.fixtures import Fixture
from taskcore.verify.exchange import Exchange, Step, match_route, segment
from taskcore.verify.model import (
    NEEDS_OTHER_TENANT,
    NEEDS_WORKER,
    ApiModel,
    Check,
    Divergence,
    Property,
)
from taskcore.verify.sut import CONTROL_PREFIX
from taskcore.visual_layer.lifecycle import TaskType, VisualLayerStatus
from taskcore.visual_layer.task import status_message

__all__ = ["VisualLayerChecker"]

PREFIX: Final = "/api/v1/tasks"
LIVE: Final = frozenset({"INITIALIZING", "RUNNING"})
FAILURE: Final = "taskcore verify failure"
MISSING_TASK: Final = "00000000-0000-4000-8000-0000000beef0"
SORTS: Final = ("dataset_id", "task_type", "status", "created_by", "dataset_name", "start_time")
"""The documented ``sort_by`` values (the first ones first: they order the fixture's
tasks the same way after every reset, whatever second each was loaded in)."""
FILTERS: Final = ("dataset_id", "dataset_name", "task_type", "task_status", "created_by")
"""The list filters the model applies (the time window is not drawn)."""
LEARN_PAGE_SIZE: Final = 50
_TASK = re.compile(r"\A/api/v1/tasks/([^/]+)/(abort|retry)\Z")
_CONTROL = re.compile(r"\A/_taskcore/worker/visual_layer/tasks/([^/]+)/(advance|finish|fail)\Z")


@dataclass(frozen=True)
class Task:
    """A task as the model knows it (``stale``: a worker step moved it; its progress and
    commit phase are learned from the next list that shows it)."""

    task_id: str
    dataset_id: str
    dataset_name: str
    task_type: str
    created_by: str
    status: str
    progress: int | None
    committing: bool
    start_time: str
    stale: bool = False
    refused_since: bool = False

    def field(self, name: str) -> str:
        """The value a sort compares."""
        return str(getattr(self, "status" if name == "task_status" else name))


class VisualLayerChecker(ApiModel):
    """The Visual Layer checking model (see the module docstring).

    Args:
        fixture: the fixtures the system under test starts from.
        key: the caller's Bearer token (a Visual Layer token of the fixtures).
        control: whether the control interface is there.

    Raises:
        ValidationError: ``key`` is not a Visual Layer token of the fixtures.
    """

    api: ClassVar[str] = "visual-layer"
    properties: ClassVar[tuple[Property, ...]] = (
        Property("responses", "every answer's status is the documented one"),
        Property("fields", "the task object's invariants and values hold"),
        Property("pages", "pages neither overlap nor skip, totals are consistent"),
        Property("filters", "filter options are the sorted distinct values of visible tasks"),
        Property("lifecycle", "abort and retry only from the documented statuses"),
        Property("commit", "abort is refused in the commit phase"),
        Property("terminal", "COMPLETED is final; FAILED and ABORTED change only by retry"),
        Property("progress", "progress never decreases (a retry clears it)"),
        Property("refusals", "a refused call changes nothing"),
        Property(
            "tenancy",
            "no user sees or changes a task of a dataset it is not a user of",
            frozenset({NEEDS_OTHER_TENANT}),
        ),
        Property(
            "worker",
            "the worker side's steps follow the documented lifecycle",
            frozenset({NEEDS_WORKER}),
        ),
    )
    transitions: ClassVar[tuple[str, ...]] = (
        "INITIALIZING -> RUNNING",
        "INITIALIZING -> ABORTED",
        "INITIALIZING -> FAILED",
        "INITIALIZING -> COMPLETED",
        "RUNNING -> committing",
        "RUNNING -> COMPLETED",
        "RUNNING -> FAILED",
        "RUNNING -> ABORTED",
        "FAILED -> INITIALIZING",
        "ABORTED -> INITIALIZING",
    )

    def __init__(self, fixture: Fixture, key: str, *, control: bool) -> None:
        users = dict(fixture.vl_tokens)
        if key not in users:
            raise ValidationError(
                "--key is not a Visual Layer token of the fixtures (--fixtures)", field="--key"
            )
        self.user = users[key]
        other = next((t for t, u in fixture.vl_tokens if u != self.user), None)
        super().__init__(key, other, control=control)
        self.other_user = None if other is None else users[other]
        self.dataset_names = {d.dataset_id: d.name for d in fixture.vl_datasets}
        self.visible = {d.dataset_id for d in fixture.vl_datasets if self.user in d.users}
        self.other_visible = {
            d.dataset_id for d in fixture.vl_datasets if self.other_user in d.users
        }
        self.tasks: dict[str, Task] = {}
        self.complete = False
        self.learn_page = 1

    def auth_headers(self, tenant: str) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        key = {"main": self.key, "other": self.other_key, "bad": "taskcore-verify-bad-token"}
        token = key.get(tenant)
        return {} if token is None else {"authorization": f"Bearer {token}"}

    def state(self) -> dict[str, Any]:
        """The user, whether every visible task is known, and the tasks."""
        return {
            "user": self.user,
            "every_task_known": self.complete,
            "tasks": {
                t.task_id: {
                    "status": t.status,
                    "progress_percentage": t.progress,
                    "commit_phase": t.committing,
                    "task_type": t.task_type,
                }
                for t in self.tasks.values()
            },
        }

    # -- judging --------------------------------------------------------------------------

    def _expect(
        self,
        exchange: Exchange,
        status: int,
        prop: str,
        found: list[Divergence],
        detail: str | None = None,
    ) -> bool:
        checks = [Check("status", "==", status)]
        ok = exchange.status == status
        if detail is not None:
            checks.append(Check("body.detail", "==", detail))
            document = exchange.json()
            ok = ok and isinstance(document, dict) and document.get("detail") == detail
        shown = f"{exchange.status}" + (
            f" {exchange.text[:160]!r}" if exchange.status >= 300 else ""
        )
        wanted = f"{status}" + (f" {detail!r}" if detail else "")
        return self.check(
            prop,
            ok,
            f"{exchange.method} {exchange.path}: expected {wanted}, got {shown}",
            checks,
            found,
        )

    def step(self, exchange: Exchange) -> list[Divergence]:
        """Judge one exchange (see the module docstring), then advance the model."""
        found: list[Divergence] = []
        route, method = exchange.route, exchange.method
        if exchange.tenant in ("none", "bad") and route.startswith(PREFIX):
            self._expect(exchange, 401, "responses", found)
            for task_id, task in self.tasks.items():
                self.tasks[task_id] = replace(task, refused_since=True)
        elif route == PREFIX and method == "GET":
            self._list(exchange, found)
        elif route == f"{PREFIX}/filters" and method == "GET":
            self._filters(exchange, found)
        elif (match := match_route(_TASK, route)) and method == "POST":
            self._change(exchange, match[0].lower(), match[1], found)
        elif (match := match_route(_CONTROL, route)) and method == "POST":
            self._worker(exchange, match[0].lower(), match[1], found)
        return found

    # -- the list -------------------------------------------------------------------------

    def _query(self, exchange: Exchange) -> dict[str, str] | None:
        """The documented parameters of the list's query (the last of a repeated one);
        ``None`` when one the model does not judge (the time window) is there."""
        query = dict(parse_qsl(exchange.path.partition("?")[2], keep_blank_values=True))
        if "start_time_from" in query or "start_time_to" in query:
            return None
        return query

    def _list(self, exchange: Exchange, found: list[Divergence]) -> None:
        query = self._query(exchange)
        other = exchange.tenant == "other"
        if exchange.status == 422:
            return  # a bad parameter: the documents give its message only loosely
        if not self._expect(exchange, 200, "responses", found):
            return
        document = exchange.json()
        shown = document.get("tasks") if isinstance(document, dict) else None
        if not self.check(
            "fields",
            isinstance(shown, list) and all(isinstance(t, dict) for t in shown),
            f"GET {exchange.path}: no list of tasks in {exchange.text[:160]!r}",
            (Check("has.tasks", "==", True),),
            found,
        ):
            return
        assert isinstance(document, dict)
        assert isinstance(shown, list)
        visible = self.other_visible if other else self.visible
        for index, item in enumerate(shown):
            dataset = item.get("dataset_id")
            if not self.check(
                "tenancy",
                dataset in visible,
                f"GET {exchange.path}{' as another user' if other else ''}: task "
                f"{item.get('task_id')!r} of dataset {dataset!r}, which the caller is not a "
                f"user of, is listed",
                (Check(f"body.tasks.{index}.dataset_id", "in", sorted(visible)),),
                found,
            ):
                return
        if other:
            return  # the other user's own tasks: not this model's to judge
        for index, item in enumerate(shown):
            self._sighted(exchange, index, item, found)
            if found:
                return
        if query is None:
            return
        self._page(exchange, query, document, shown, found)

    def _sighted(
        self, exchange: Exchange, index: int, item: dict[str, Any], found: list[Divergence]
    ) -> None:
        """Judge one listed task's object, then learn it."""
        task_id = str(item.get("task_id"))
        where = f"GET {exchange.path}: task {task_id}"
        at = f"body.tasks.{index}"
        status, progress = item.get("status"), item.get("progress_percentage")
        message = item.get("status_message")
        try:
            kind = TaskType(str(item.get("task_type")))
            state = VisualLayerStatus(str(status))
        except ValueError:
            self.check("fields", False, f"{where}: type or status not documented", (), found)
            return
        committing = state is VisualLayerStatus.RUNNING and message == status_message(
            kind, state, True
        )
        invariants = (
            (
                message == status_message(kind, state, committing),
                f"status_message {message!r} is not the one of {kind.value} {state.value}",
                Check(f"{at}.status_message", "==", status_message(kind, state, committing)),
            ),
            (
                (item.get("end_time") is None) == (status in LIVE),
                f"end_time {item.get('end_time')!r} in {status}",
                Check(f"{at}.end_time", "==" if status in LIVE else "!=", None),
            ),
            (
                (item.get("error_message") is not None) == (status == "FAILED"),
                f"error_message {item.get('error_message')!r} in {status}",
                Check(f"{at}.error_message", "!=" if status == "FAILED" else "==", None),
            ),
            (
                status != "COMPLETED" or progress == 100,
                f"progress {progress!r} in COMPLETED",
                Check(f"{at}.progress_percentage", "==", 100),
            ),
            (
                item.get("dataset_name") == self.dataset_names.get(str(item.get("dataset_id"))),
                f"dataset_name {item.get('dataset_name')!r} is not the dataset's",
                Check(
                    f"{at}.dataset_name", "==", self.dataset_names.get(str(item.get("dataset_id")))
                ),
            ),
        )
        for ok, text, check in invariants:
            self.check("fields", ok, f"{where}: {text}", (check,), found)
        known = self.tasks.get(task_id)
        progress_value = progress if isinstance(progress, int) else None
        if known is not None:
            prop = "refusals" if known.refused_since else "fields"
            for name, value in (
                ("status", known.status),
                ("task_type", known.task_type),
                ("dataset_id", known.dataset_id),
                ("created_by", known.created_by),
            ):
                self.check(
                    prop,
                    item.get(name) == value,
                    f"{where}: {name} should be {value!r}, is {item.get(name)!r}",
                    (Check(f"{at}.{name}", "==", value),),
                    found,
                )
            if known.progress is not None:
                self.check(
                    "progress",
                    progress_value is not None and progress_value >= known.progress,
                    f"{where}: progress went from {known.progress} to {progress!r}",
                    (Check(f"{at}.progress_percentage", ">=", known.progress),),
                    found,
                )
                if not known.stale:
                    self.check(
                        prop,
                        progress_value == known.progress,
                        f"{where}: progress should be {known.progress}, is {progress!r}",
                        (Check(f"{at}.progress_percentage", "==", known.progress),),
                        found,
                    )
            if not known.stale:
                self.check(
                    "commit" if known.committing else prop,
                    committing == known.committing,
                    f"{where}: the commit phase should {'' if known.committing else 'not '}"
                    f"show, status_message is {message!r}",
                    (Check(f"{at}.status_message", "==", message),),
                    found,
                )
            if found:
                return
            if known.stale and known.status == "RUNNING" and committing and not known.committing:
                self.saw("RUNNING", "committing")
        self.tasks[task_id] = Task(
            task_id,
            str(item.get("dataset_id")),
            str(item.get("dataset_name")),
            kind.value,
            str(item.get("created_by")),
            state.value,
            progress_value,
            committing,
            str(item.get("start_time")),
        )

    def _page(
        self,
        exchange: Exchange,
        query: dict[str, str],
        document: dict[str, Any],
        shown: list[dict[str, Any]],
        found: list[Divergence],
    ) -> None:
        where = f"GET {exchange.path}"
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("page_size", "20"))
        except ValueError:
            return
        sort_by = query.get("sort_by", "start_time")
        descending = query.get("sort_order", "desc") == "desc"
        if sort_by not in SORTS:
            return
        total = document.get("total")
        self.check(
            "pages",
            len(shown) <= size
            and document.get("page") == page
            and document.get("page_size") == size,
            f"{where}: {len(shown)} tasks on page {document.get('page')!r} of size "
            f"{document.get('page_size')!r}",
            (Check("body.page", "==", page), Check("body.page_size", "==", size)),
            found,
        )
        filtered = {k: v for k, v in query.items() if k in FILTERS}
        if not filtered and isinstance(total, int) and not self.complete:
            mine = [t for t in self.tasks.values() if t.dataset_id in self.visible]
            if len(mine) == total:
                self.complete = True
            elif shown and len(shown) == size:
                self.learn_page = page + 1
            return
        if not self.complete:
            return
        expected = self._expected(filtered, sort_by, descending)
        ids = [t.task_id for t in expected[(page - 1) * size : page * size]]
        got = [str(t.get("task_id")) for t in shown]
        checks = [Check("body.total", "==", len(expected))]
        checks += [Check(f"body.tasks.{i}.task_id", "==", task_id) for i, task_id in enumerate(ids)]
        if len(got) > len(ids):
            checks.append(Check(f"body.tasks.{len(ids)}", "==", None))
        self.check(
            "pages",
            got == ids and total == len(expected),
            f"{where}: expected total {len(expected)} and tasks {ids}, got total {total!r} "
            f"and {got}",
            checks,
            found,
        )

    def _expected(self, filters: dict[str, str], sort_by: str, descending: bool) -> list[Task]:
        def matches(task: Task) -> bool:
            return all(
                (task.field(name) == value)
                if name != "dataset_id"
                else task.dataset_id == value.lower()
                for name, value in filters.items()
            )

        chosen = sorted(
            (t for t in self.tasks.values() if t.dataset_id in self.visible and matches(t)),
            key=lambda t: t.task_id,
        )
        return sorted(chosen, key=lambda t: t.field(sort_by), reverse=descending)

    def _filters(self, exchange: Exchange, found: list[Divergence]) -> None:
        """``GET /api/v1/tasks/filters``: the distinct values of the visible tasks, each
        sorted ascending; judged whole once every task is known (the time window, when
        given, is not judged)."""
        query = self._query(exchange)
        if exchange.status == 422 or query is None:
            return
        if not self._expect(exchange, 200, "responses", found):
            return
        document = exchange.json()
        document = document if isinstance(document, dict) else {}
        other = exchange.tenant == "other"
        visible = self.other_visible if other else self.visible
        shown = document.get("dataset_ids")
        if not self.check(
            "tenancy",
            isinstance(shown, list)
            and all(isinstance(d, str) for d in shown)
            and set(shown) <= visible,
            f"GET {exchange.path}: dataset_ids {shown!r} name a dataset the caller is not a "
            f"user of",
            (Check("body.dataset_ids", "in", [sorted(visible)]),)
            if not other
            else (Check("has.dataset_ids", "==", True),),
            found,
        ):
            return
        if other or not self.complete:
            return
        tasks = [t for t in self.tasks.values() if t.dataset_id in self.visible]
        expected = {
            "dataset_names": sorted({t.dataset_name for t in tasks}),
            "dataset_ids": sorted({t.dataset_id for t in tasks}),
            "task_types": sorted({t.task_type for t in tasks}),
            "created_by": sorted({t.created_by for t in tasks}),
        }
        for name, values in expected.items():
            self.check(
                "filters",
                document.get(name) == values,
                f"GET {exchange.path}: {name} should be {values}, is {document.get(name)!r}",
                (Check(f"body.{name}", "==", values),),
                found,
            )

    # -- abort and retry ------------------------------------------------------------------

    def _change(
        self, exchange: Exchange, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        other = exchange.tenant == "other"
        if other and (task is None or task.dataset_id not in self.other_visible):
            if task is not None:
                self._expect(exchange, 404, "tenancy", found, "Task not found")
                self.tasks[task_id] = replace(task, refused_since=True)
            return
        # Another user of the task's dataset may abort and retry it as the caller may.
        if task is None:
            if task_id == MISSING_TASK or self.complete:
                self._expect(exchange, 404, "responses", found, "Task not found")
            return
        creation = task.task_type == "DATASET_CREATION"
        if action == "abort":
            allowed = creation and task.status in LIVE
            if allowed and task.committing and not task.stale:
                self._expect(exchange, 409, "commit", found)
                self.tasks[task_id] = replace(task, refused_since=True)
                return
            if allowed and task.stale and exchange.status == 409:
                self.tasks[task_id] = replace(task, committing=True, stale=False)
                return
            refused_status, after, prop = 409, "ABORTED", "lifecycle"
        else:
            allowed = creation and task.status in ("FAILED", "ABORTED")
            refused_status, after, prop = 400, "INITIALIZING", "lifecycle"
        if not allowed:
            if task.status == "COMPLETED" or (action == "abort" and task.status != "RUNNING"):
                prop = "terminal" if task.status not in LIVE else prop
            self._expect(exchange, refused_status, prop, found)
            self.tasks[task_id] = replace(task, refused_since=True)
            return
        if not self._expect(exchange, 200, prop, found):
            return
        item = exchange.json()
        item = item if isinstance(item, dict) else {}
        ok = self.check(
            prop,
            item.get("task_id") == task_id and item.get("status") == after,
            f"{exchange.method} {exchange.path}: expected the task {after}, got "
            f"{item.get('status')!r}",
            (Check("body.status", "==", after),),
            found,
        )
        if not ok:
            return
        progress = item.get("progress_percentage")
        expected_progress = None if action == "retry" else task.progress
        if action == "retry" or not task.stale:
            self.check(
                "fields",
                progress == expected_progress,
                f"{exchange.method} {exchange.path}: progress should be {expected_progress}, "
                f"is {progress!r}",
                (Check("body.progress_percentage", "==", expected_progress),),
                found,
            )
        self.saw(task.status, after)
        self.tasks[task_id] = replace(
            task,
            status=after,
            committing=False,
            progress=progress if isinstance(progress, int) else None,
            stale=False,
            refused_since=False,
        )

    # -- the worker side ------------------------------------------------------------------

    def _worker(
        self, exchange: Exchange, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        where = f"worker {action} on {task_id}"
        if task is None:
            if task_id == MISSING_TASK:
                self.check(
                    "worker",
                    exchange.status == 404,
                    f"{where}: an unknown task should be 404, got {exchange.status}",
                    (Check("status", "==", 404),),
                    found,
                )
            return
        if task.status not in LIVE:
            self.check(
                "terminal",
                400 <= exchange.status < 500,
                f"{where}: the task is {task.status}; the step should be refused, got "
                f"{exchange.status}",
                (Check("status", ">=", 400), Check("status", "<=", 499)),
                found,
            )
            self.tasks[task_id] = replace(task, refused_since=True)
            return
        if not self._expect(exchange, 200, "worker", found):
            return
        answer = exchange.json() if isinstance(exchange.json(), dict) else {}
        allowed = {
            ("INITIALIZING", "advance"): ("RUNNING",),
            ("RUNNING", "advance"): ("RUNNING", "COMPLETED", "FAILED"),
            ("INITIALIZING", "finish"): ("COMPLETED",),
            ("RUNNING", "finish"): ("COMPLETED",),
            ("INITIALIZING", "fail"): ("FAILED",),
            ("RUNNING", "fail"): ("FAILED",),
        }[task.status, action]
        if task.committing and not task.stale and action == "advance":
            allowed = ("COMPLETED",)
        after = answer.get("status")
        if not self.check(
            "worker",
            answer.get("before") == task.status and after in allowed,
            f"{where}: expected {task.status} -> {' or '.join(allowed)}, got "
            f"{answer.get('before')!r} -> {after!r}",
            (Check("body.status", "in", list(allowed)),),
            found,
        ):
            return
        self.saw(task.status, str(after))
        progress = task.progress
        if after == "COMPLETED":
            progress = 100
        elif task.status == "INITIALIZING" and after == "RUNNING":
            progress = 0
        self.tasks[task_id] = replace(
            task,
            status=str(after),
            progress=progress,
            committing=task.committing and after == "RUNNING",
            # The progress a step reached is in no answer: the next list pins it.
            stale=(after == "RUNNING" and task.status == "RUNNING")
            or (task.stale and after == "FAILED"),
            refused_since=False,
        )

    # -- what to do next ------------------------------------------------------------------

    def operations(self) -> st.SearchStrategy[Step]:
        """Until every task is known, the next page of the whole list; then a list with
        filters, sort and page, an abort or a retry, another user's or a keyless call,
        or a worker step."""
        if not self.complete:
            return st.just(self._learn_step())
        kinds = ["list", "list", "list", "page", "page", "abort", "retry", "bad_key", "filters"]
        if any(t.committing for t in self.tasks.values()):
            kinds += ["abort_committing"] * 2
        if self.control:
            kinds += ["advance"] * 3 + ["finish", "fail"]
        if self.other_key is not None:
            kinds += ["other_list", "other_abort"]
        return st.sampled_from(kinds).flatmap(self._operation)

    def _learn_step(self) -> Step:
        query = {"sort_by": "dataset_id", "sort_order": "asc", "page_size": LEARN_PAGE_SIZE}
        if self.learn_page > 1:
            query["page"] = self.learn_page
        return Step("GET", f"{PREFIX}?{urlencode(query)}", label="list every task")

    def _list_step(self, query: dict[str, Any], tenant: str = "main") -> Step:
        who = " as another user" if tenant == "other" else ""
        return Step("GET", f"{PREFIX}?{urlencode(query)}", tenant=tenant, label=f"list{who}")

    def _operation(self, kind: str) -> st.SearchStrategy[Step]:
        mine = sorted(t for t, task in self.tasks.items() if task.dataset_id in self.visible)
        tasks = st.sampled_from(mine or [MISSING_TASK])
        if kind in ("list", "page", "other_list"):
            values = {
                "dataset_id": sorted(self.visible) or [MISSING_TASK],
                "dataset_name": sorted(
                    {self.dataset_names[d] for d in self.visible if d in self.dataset_names}
                )
                or ["none"],
                "task_type": sorted({t.task_type for t in self.tasks.values()}) or ["REINDEX"],
                "task_status": ["RUNNING", "FAILED", "COMPLETED", "INITIALIZING", "ABORTED"],
                "created_by": sorted({t.created_by for t in self.tasks.values()}) or ["none"],
            }
            chosen = st.sampled_from(FILTERS).flatmap(
                lambda name: st.sampled_from(values[name]).map(lambda v: {name: v})
            )
            query = st.fixed_dictionaries(
                {
                    "sort_by": st.sampled_from(SORTS),
                    "sort_order": st.sampled_from(["asc", "desc"]),
                    "page_size": st.sampled_from([5, 6, 7, 20]),
                    "page": st.sampled_from([2, 1, 3] if kind == "page" else [1, 2]),
                }
            )
            extra = st.just({}) if kind == "page" else st.one_of(st.just({}), chosen)
            tenant = "other" if kind == "other_list" else "main"
            return st.tuples(query, extra).map(lambda a: self._list_step({**a[1], **a[0]}, tenant))
        if kind == "filters":
            return st.sampled_from(["main", "other"] if self.other_key else ["main"]).map(
                lambda who: Step("GET", f"{PREFIX}/filters", tenant=who, label=f"filters ({who})")
            )
        if kind == "bad_key":
            return st.sampled_from(["none", "bad"]).map(
                lambda who: Step("GET", PREFIX, tenant=who, label=f"list with {who} token")
            )
        if kind == "abort_committing":
            committing = sorted(t for t, task in self.tasks.items() if task.committing)
            tasks = st.sampled_from(committing)
            kind = "abort"
        if kind in ("abort", "retry"):
            return tasks.map(
                lambda t: Step("POST", f"{PREFIX}/{segment(t)}/{kind}", label=f"{kind} {t}")
            )
        if kind == "other_abort":
            return tasks.map(
                lambda t: Step(
                    "POST",
                    f"{PREFIX}/{segment(t)}/abort",
                    tenant="other",
                    label=f"abort {t} as another user",
                )
            )
        live = sorted(t for t, task in self.tasks.items() if task.status in LIVE)
        targets = st.sampled_from(live * 3 + mine) if live or mine else st.just(MISSING_TASK)
        body = '{"message": "' + FAILURE + '"}' if kind == "fail" else None
        return targets.map(
            lambda t: Step(
                "POST",
                f"{CONTROL_PREFIX}/visual_layer/tasks/{segment(t)}/{kind}",
                body,
                tenant="control",
                label=f"worker {kind} {t}",
            )
        )
