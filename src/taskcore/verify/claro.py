"""The Claro checker: Claro dataset tasks judged over HTTP (Claro API reference, Tasks;
docs/claro.md, docs/verify.md).

The model starts from the fixtures' Claro section: the ``--key``'s account and its
datasets (rows, columns, which cells are filled, cell ids) and webhooks; another
account's key, when the fixtures have one, plays the other tenant.  It judges:

- ``responses``: every answer's status and error ``code`` are the documented ones (401
  for a missing or unknown key, ``DATASET_NOT_FOUND``, ``VALIDATION_ERROR``,
  ``INVALID_SELECTION``, ``WEBHOOK_NOT_FOUND``, ``TASK_NOT_FOUND``);
- ``fields``: the documented fields: ids, ``type``, ``status``, ``rowCount`` or
  ``targetCells`` (the cells the selection names, filtered by ``processOnlyEmpty``),
  which optional fields appear in which status, timestamps ordered;
- ``lock``: a create is refused ``DATASET_LOCKED`` naming the live task exactly while
  the dataset has one;
- ``progress``: ``progress.completed`` never decreases, ``total`` is the task's size,
  ``percentage`` is ``floor(100 * completed / total)``, 100 once completed;
- ``terminal``: a completed, failed or cancelled task stays so: cancel is
  ``TASK_NOT_CANCELLABLE`` with ``currentStatus``, worker steps are refused;
- ``refusals``: a refused call changes nothing later reads show;
- ``tenancy``: another account's key sees none of the caller's datasets or tasks (404);
- ``worker``: the control interface's steps follow the lifecycle (``queued ->
  processing -> completed``, ``fail`` from a live task).

Server-made task ids are learned from create answers.  What the model cannot know
exactly (how many targets one worker ``advance`` records, which of them failed) it
keeps as a range and pins with the next read; a dataset whose cells it no longer knows
exactly gets no ``targetCells`` check (the other checks go on).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import unquote

from hypothesis import strategies as st

from taskcore.fixtures import Fixture
from taskcore.verify.exchange import Exchange, Step, match_route, segment
from taskcore.verify.model import (
    REFUSALS,
    TENANCY,
    WORKER,
    ApiModel,
    Check,
    Divergence,
    Property,
)
from taskcore.verify.sut import CONTROL_PREFIX

__all__ = ["ClaroChecker"]

PREFIX: Final = "/api/v2/datasets"
_INSTANT = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_CREATE = re.compile(r"\A/api/v2/datasets/([^/]+)/tasks/(new-rows|bulk)\Z")
_TASK = re.compile(r"\A/api/v2/datasets/([^/]+)/tasks/([^/]+)\Z")
_CONTROL = re.compile(r"\A/_taskcore/worker/claro/tasks/([^/]+)/(advance|finish|fail)\Z")
ACTIVE: Final = ("queued", "processing")
MISSING_DATASET: Final = "ds-verify-missing"
MISSING_TASK: Final = "task-verify-missing"
MISSING_WEBHOOK: Final = "wh-verify-missing"


@dataclass
class Dataset:
    """A dataset as the model knows it: ``empty`` is ``None`` for a cell it no longer
    knows; ``exact`` is ``False`` once rows or cells are unknown."""

    dataset_id: str
    account: str
    rows: list[str]
    columns: list[str]
    empty: dict[tuple[str, str], bool | None]
    cell_ids: dict[str, tuple[str, str]]
    exact: bool = True
    refused_create: bool = False


@dataclass
class Task:
    """A task as the model knows it; ``low``..``high`` bound ``progress.completed``."""

    task_id: str
    dataset: str
    type: str
    total: int
    targets: list[tuple[str, str]]
    process_only_empty: bool | None
    webhook: str | None
    status: str = "queued"
    low: int = 0
    high: int = 0
    outcomes_known: bool = True
    refused_since: bool = False
    started: bool = False

    @property
    def active(self) -> bool:
        """Whether the task has not ended."""
        return self.status in ACTIVE


class ClaroChecker(ApiModel):
    """The Claro checking model (see the module docstring).

    Args:
        fixture: the fixtures the system under test starts from.
        key: the caller's Bearer token (one of the fixture's Claro keys).
        control: whether the control interface is there.

    Raises:
        ValidationError: ``key`` is not a Claro key of the fixtures.
    """

    api: ClassVar[str] = "claro"
    properties: ClassVar[tuple[Property, ...]] = (
        Property("responses", "every answer's status and error code are the documented ones"),
        Property("fields", "answers carry the documented fields with the model's values"),
        Property("lock", "a dataset is locked exactly while one of its tasks is live"),
        Property("progress", "progress never decreases and its percentage is exact"),
        Property("terminal", "a completed, failed or cancelled task never changes again"),
        REFUSALS,
        TENANCY,
        WORKER,
    )
    transitions: ClassVar[tuple[str, ...]] = (
        "queued -> processing",
        "queued -> completed",
        "queued -> failed",
        "queued -> cancelled",
        "processing -> completed",
        "processing -> failed",
        "processing -> cancelled",
    )

    def __init__(self, fixture: Fixture, key: str, *, control: bool) -> None:
        from taskcore.errors import ValidationError

        owners = {k: a.account_id for a in fixture.claro for k in a.api_keys}
        if key not in owners:
            raise ValidationError(
                "--key is not a Claro API key of the fixtures (--fixtures)", field="--key"
            )
        self.account = owners[key]
        other = next((k for k, a in owners.items() if a != self.account), None)
        super().__init__(key, other, control=control)
        self.datasets: dict[str, Dataset] = {}
        self.foreign: list[str] = []
        self.webhooks: list[str] = []
        for account in fixture.claro:
            for spec in account.datasets:
                if account.account_id != self.account:
                    self.foreign.append(spec.dataset_id)
                    continue
                grid = spec.grid
                rows, columns = list(grid.row_ids), list(grid.column_ids)
                self.datasets[spec.dataset_id] = Dataset(
                    spec.dataset_id,
                    account.account_id,
                    rows,
                    columns,
                    {(r, c): grid.is_empty(r, c) for r in rows for c in columns},
                    {grid.cell_id(r, c): (r, c) for r in rows for c in columns},
                )
            if account.account_id == self.account:
                self.webhooks += [w.webhook_id for w in account.webhooks]
        self.tasks: dict[str, Task] = {}
        self.last: str | None = None  # the task the last step named

    # -- who -----------------------------------------------------------------------------

    def auth_headers(self, tenant: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` for the tenant (none for ``none``/``control``)."""
        token = self.token(tenant)
        return {} if token is None else {"authorization": f"Bearer {token}"}

    def variables(self) -> dict[str, str]:
        """``dataset``: the caller's first dataset (scenarios' ``${dataset}``)."""
        return {"dataset": sorted(self.datasets)[0]} if self.datasets else {}

    # -- the model's view ---------------------------------------------------------------

    def holder(self, dataset: str) -> Task | None:
        """The dataset's live task, if any."""
        return next((t for t in self.tasks.values() if t.dataset == dataset and t.active), None)

    def state(self) -> dict[str, Any]:
        """Datasets (sizes, holder) and tasks (status, progress bounds)."""
        return {
            "account": self.account,
            "datasets": {
                d.dataset_id: {
                    "rows": len(d.rows),
                    "columns": len(d.columns),
                    "exact": d.exact,
                    "lockedBy": getattr(self.holder(d.dataset_id), "task_id", None),
                }
                for d in self.datasets.values()
            },
            "tasks": {
                t.task_id: {
                    "dataset": t.dataset,
                    "type": t.type,
                    "status": t.status,
                    "completed": [t.low, t.high],
                    "total": t.total,
                }
                for t in self.tasks.values()
            },
        }

    def _targets(self, dataset: Dataset, body: Mapping[str, Any]) -> tuple[str, str] | list[Any]:
        """The bulk body's refusal ``(code, field)``, or its targets (row-major)."""
        cells, rows, columns = body.get("cellIds"), body.get("rowIds"), body.get("columnIds")
        if cells is not None and (rows is not None or columns is not None):
            return ("INVALID_SELECTION", "")
        for name in ("cellIds", "rowIds", "columnIds"):
            if body.get(name) == []:
                return ("INVALID_SELECTION", name)
        named: set[tuple[str, str]] = set()
        if cells is not None:
            if not isinstance(cells, list) or any(
                not isinstance(c, str) or c not in dataset.cell_ids for c in cells
            ):
                return ("INVALID_SELECTION", "cellIds")
            named = {dataset.cell_ids[c] for c in cells}
        if any(r not in dataset.rows for r in rows or ()):
            return ("INVALID_SELECTION", "rowIds")
        if any(c not in dataset.columns for c in columns or ()):
            return ("INVALID_SELECTION", "columnIds")
        only_empty = body.get("processOnlyEmpty", True)
        return [
            (r, c)
            for r in dataset.rows
            for c in dataset.columns
            if (cells is None or (r, c) in named)
            and (rows is None or r in rows)
            and (columns is None or c in columns)
            and (dataset.empty[r, c] is not False or not only_empty)
        ]

    # -- judging --------------------------------------------------------------------------

    def step(self, exchange: Exchange) -> list[Divergence]:
        """Judge one exchange (see the module docstring), then advance the model."""
        found: list[Divergence] = []
        touched = [t for t in self.tasks if t in unquote(exchange.route)]
        self._judge(exchange, found)
        self.last = touched[0] if touched else self.last
        return found

    def _judge(self, exchange: Exchange, found: list[Divergence]) -> None:
        route = exchange.route
        if exchange.tenant in ("none", "bad") and route.startswith(PREFIX):
            self._expect(exchange, 401, "UNAUTHORIZED", "responses", found)
            self._refused_everywhere()
            return
        if (match := match_route(_CREATE, route)) and exchange.method == "POST":
            self._create(exchange, match[0], match[1], found)
        elif (match := match_route(_TASK, route)) and exchange.method in ("GET", "DELETE"):
            self._task_call(exchange, match[0], match[1], found)
        elif (match := match_route(_CONTROL, route)) and exchange.method == "POST":
            self._worker(exchange, match[0], match[1], found)

    def _code(self, exchange: Exchange) -> str | None:
        body = exchange.json()
        return body.get("code") if isinstance(body, dict) else None

    def _expect(
        self,
        exchange: Exchange,
        status: int,
        code: str | None,
        prop: str,
        found: list[Divergence],
        *,
        extra: tuple[Check, ...] = (),
    ) -> bool:
        """The answer's status (and, for an error, its code) is the expected one."""
        actual_code = self._code(exchange) if exchange.status >= 400 else None
        checks: tuple[Check, ...] = (Check("status", "==", status),)
        if code is not None and status >= 400:
            checks += (Check("body.code", "==", code),)
        ok = exchange.status == status and (code is None or status < 400 or actual_code == code)
        shown = f"{exchange.status}" + (f" {actual_code}" if actual_code else "")
        wanted = f"{status}" + (f" {code}" if code and status >= 400 else "")
        return self.check(
            prop,
            ok,
            f"{exchange.method} {exchange.path}: expected {wanted}, got {shown}",
            checks + extra,
            found,
        )

    def _refused_everywhere(self) -> None:
        for task in self.tasks.values():
            task.refused_since = True

    def _create(
        self, exchange: Exchange, dataset_id: str, kind: str, found: list[Divergence]
    ) -> None:
        body = exchange.request_json()
        dataset = self.datasets.get(dataset_id)
        if exchange.tenant == "other":
            if dataset_id in self.foreign:
                return  # the other account's own dataset: not this model's to judge
            prop = "tenancy" if dataset is not None else "responses"
            self._expect(exchange, 404, "DATASET_NOT_FOUND", prop, found)
            self._refused_everywhere()
            return
        if dataset is None:
            prop = "tenancy" if dataset_id in self.foreign else "responses"
            self._expect(exchange, 404, "DATASET_NOT_FOUND", prop, found)
            return
        refusal: tuple[str, str] | None = None
        targets: list[Any] = []
        if not isinstance(body, dict):
            refusal = ("VALIDATION_ERROR", "")
        elif kind == "new-rows":
            count = body.get("rowCount")
            unknown = set(body) - {"rowCount", "webhookId"}
            if unknown or type(count) is not int or not 1 <= count <= 10_000:
                refusal = ("VALIDATION_ERROR", "rowCount")
        else:
            unknown = set(body) - {
                "cellIds",
                "rowIds",
                "columnIds",
                "processOnlyEmpty",
                "webhookId",
            }
            resolved = ("VALIDATION_ERROR", "") if unknown else self._targets(dataset, body)
            if isinstance(resolved, tuple):
                refusal = resolved
            else:
                targets = resolved
        webhook = body.get("webhookId") if isinstance(body, dict) else None
        if refusal is None and webhook is not None and webhook not in self.webhooks:
            refusal = ("WEBHOOK_NOT_FOUND", "")
        holder = self.holder(dataset_id)
        answer = exchange.json() if isinstance(exchange.json(), dict) else {}
        # A lock nobody the model knows holds: a refused create that locked anyway, or
        # a task that ended and kept its lock.
        stray_lock = (
            holder is None and exchange.status == 409 and answer.get("code") == "DATASET_LOCKED"
        )
        if stray_lock:
            active = _details(answer).get("activeTaskId")
            lock_prop = (
                "refusals" if dataset.refused_create and str(active) not in self.tasks else "lock"
            )
        if refusal is not None:
            self._expect(
                exchange,
                400 if refusal[0] != "WEBHOOK_NOT_FOUND" else 404,
                refusal[0],
                lock_prop if stray_lock else "responses",
                found,
            )
            dataset.refused_create = True
            return
        if holder is not None:
            extra = (Check("body.details.activeTaskId", "==", holder.task_id),)
            ok = self._expect(exchange, 409, "DATASET_LOCKED", "lock", found, extra=extra)
            if ok:
                active = _details(answer).get("activeTaskId")
                self.check(
                    "lock",
                    active == holder.task_id,
                    f"DATASET_LOCKED names {active!r}, the live task is {holder.task_id!r}",
                    extra,
                    found,
                )
            return
        if stray_lock:
            self._expect(exchange, 201, None, lock_prop, found)
            return
        if not self._expect(exchange, 201, None, "responses", found):
            return
        task_id = answer.get("taskId")
        if not self.check(
            "fields",
            isinstance(task_id, str) and task_id != "",
            "the create answer has no taskId",
            (),
            found,
        ):
            return
        assert isinstance(task_id, str)
        assert isinstance(body, dict)
        if kind == "new-rows":
            total = body["rowCount"]
            task = Task(task_id, dataset_id, "new_rows", total, [], None, webhook, high=0)
        else:
            total = len(targets)
            only = body.get("processOnlyEmpty", True)
            task = Task(task_id, dataset_id, "bulk_processing", total, targets, only, webhook)
        self._fields(exchange, answer, task, dataset, found, created=True)
        self.tasks[task_id] = task

    def _fields(
        self,
        exchange: Exchange,
        answer: Mapping[str, Any],
        task: Task,
        dataset: Dataset,
        found: list[Divergence],
        *,
        created: bool,
    ) -> None:
        """The documented fields of a create or status answer."""
        expected: dict[str, Any] = {
            "taskId": task.task_id,
            "datasetId": task.dataset,
            "type": task.type,
            "status": task.status,
        }
        if task.type == "new_rows":
            expected["rowCount"] = task.total
        else:
            expected["processOnlyEmpty"] = task.process_only_empty
            if dataset.exact or not created:
                expected["targetCells"] = task.total
        if task.webhook is not None:
            expected["webhookId"] = task.webhook
        for name, value in expected.items():
            prop = "fields"
            if name == "status" and not created and task.refused_since:
                prop = "refusals"
            elif name == "status" and not created and not task.active:
                prop = "terminal"
            self.check(
                prop,
                answer.get(name) == value,
                f"{exchange.method} {exchange.path}: {name} should be {value!r}, "
                f"is {answer.get(name)!r}",
                (Check(f"body.{name}", "==", value),),
                found,
            )
        present = {
            "estimatedDuration": created or task.status == "queued",
            "estimatedCompletion": not created and task.status == "processing",
            "results": not created and task.status == "completed",
            "completedAt": not created and task.status == "completed",
            "cancelledAt": not created and task.status == "cancelled",
            "failedAt": not created and task.status == "failed",
            "failureReason": not created and task.status == "failed",
        }
        if created or task.status in ("queued", "processing", "completed") or task.started:
            present["startedAt"] = not created and task.status != "queued"
        for name, shown in present.items():
            self.check(
                "fields",
                (name in answer) == shown,
                f"{exchange.method} {exchange.path}: {name} should "
                f"{'' if shown else 'not '}be there in status {task.status}",
                (Check(f"has.{name}", "==", shown),),
                found,
            )
        stamps = [answer.get(n) for n in ("createdAt", "startedAt", "completedAt")]
        texts = [s for s in stamps if isinstance(s, str)]
        self.check(
            "fields",
            len(texts) == len([s for s in stamps if s is not None])
            and all(_INSTANT.match(s) for s in texts)
            and texts == sorted(texts),
            f"{exchange.method} {exchange.path}: timestamps {stamps} are not ordered "
            "YYYY-MM-DDTHH:MM:SSZ instants",
            (),
            found,
        )

    def _task_call(
        self, exchange: Exchange, dataset_id: str, task_id: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        dataset = self.datasets.get(dataset_id)
        if exchange.tenant == "other":
            prop = "tenancy" if task is not None else "responses"
            self._expect(exchange, 404, "DATASET_NOT_FOUND", prop, found)
            if task is not None:
                task.refused_since = True
            return
        if dataset is None:
            self._expect(exchange, 404, "DATASET_NOT_FOUND", "responses", found)
            return
        if task is None or task.dataset != dataset_id:
            self._expect(exchange, 404, "TASK_NOT_FOUND", "responses", found)
            return
        if exchange.method == "GET":
            self._read(exchange, task, dataset, found)
        else:
            self._cancel(exchange, task, found)

    def _read(
        self, exchange: Exchange, task: Task, dataset: Dataset, found: list[Divergence]
    ) -> None:
        prop = "refusals" if task.refused_since else "responses"
        if not self._expect(exchange, 200, None, prop, found):
            return
        answer = exchange.json()
        if not isinstance(answer, dict):
            self.check("fields", False, "the status answer is not a JSON object", (), found)
            return
        before = len(found)
        self._fields(exchange, answer, task, dataset, found, created=False)
        progress = answer.get("progress")
        if not self.check(
            "fields",
            isinstance(progress, dict),
            "the status answer has no progress object",
            (),
            found,
        ):
            return
        assert isinstance(progress, dict)
        completed, total, percentage = (
            progress.get(k) for k in ("completed", "total", "percentage")
        )
        where = f"{exchange.method} {exchange.path}"
        if not isinstance(completed, int):
            self.check(
                "progress", False, f"{where}: progress.completed is {completed!r}", (), found
            )
            return
        low = task.low
        self.check(
            "progress",
            completed >= low,
            f"{where}: progress.completed went down from {low} to {completed}",
            (Check("body.progress.completed", ">=", low),),
            found,
        )
        self.check(
            "progress",
            total == task.total and completed <= task.total,
            f"{where}: progress {completed}/{total}, the task has {task.total} targets",
            (Check("body.progress.total", "==", task.total),),
            found,
        )
        right = 100 if not total else 100 * completed // total if isinstance(total, int) else None
        self.check(
            "progress",
            percentage == right,
            f"{where}: percentage {percentage!r} for {completed}/{total} (expected {right})",
            (),
            found,
        )
        if task.status == "completed":
            self.check(
                "progress",
                completed == task.total,
                f"{where}: a completed task shows {completed}/{task.total}",
                (Check("body.progress.completed", "==", task.total),),
                found,
            )
        if low <= completed <= task.total:
            task.low = task.high = completed
        if len(found) == before:
            task.refused_since = False

    def _cancel(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.active:
            if not self._expect(exchange, 200, None, "responses", found):
                return
            answer = exchange.json() if isinstance(exchange.json(), dict) else {}
            for name, value in (
                ("message", "Task cancelled successfully"),
                ("taskId", task.task_id),
                ("status", "cancelled"),
            ):
                self.check(
                    "fields",
                    answer.get(name) == value,
                    f"cancel answer: {name} should be {value!r}, is {answer.get(name)!r}",
                    (Check(f"body.{name}", "==", value),),
                    found,
                )
            self._end(task, "cancelled")
            return
        extra = (Check("body.details.currentStatus", "==", task.status),)
        self._expect(exchange, 409, "TASK_NOT_CANCELLABLE", "terminal", found, extra=extra)
        task.refused_since = True

    def _worker(
        self, exchange: Exchange, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        where = f"worker {action} on {task_id}"
        if task is None:
            self.worker_step_refused(exchange, None, "worker", found)
            return
        if not task.active:
            self.worker_step_refused(exchange, task.status, "terminal", found)
            task.refused_since = True
            return
        if not self._expect(exchange, 200, None, "worker", found):
            return
        answer = exchange.json() if isinstance(exchange.json(), dict) else {}
        after = answer.get("status")
        allowed = {
            ("queued", "advance"): ("processing",),
            ("processing", "advance"): ("processing", "completed"),
            ("queued", "finish"): ("completed",),
            ("processing", "finish"): ("completed",),
            ("queued", "fail"): ("failed",),
            ("processing", "fail"): ("failed",),
        }[task.status, action]
        if not self.check(
            "worker",
            answer.get("before") == task.status and after in allowed,
            f"{where}: expected {task.status} -> {' or '.join(allowed)}, got "
            f"{answer.get('before')!r} -> {after!r}",
            (Check("body.status", "in", list(allowed)),),
            found,
        ):
            return
        if action == "advance" and task.status == "processing":
            task.outcomes_known = False
            if after == "processing":
                task.low, task.high = min(task.low + 1, task.total), task.total
        if after == "processing":
            self.saw(task.status, "processing")
            task.status = "processing"
            task.started = True
            return
        if after == "completed":
            task.started = True
            task.low = task.high = task.total
        self._end(task, str(after))

    def _end(self, task: Task, status: str) -> None:
        """End ``task``: what it recorded lands in its dataset."""
        self.saw(task.status, status)
        task.status = status
        task.refused_since = False
        dataset = self.datasets[task.dataset]
        if task.low == task.high == 0:
            return
        exact = task.outcomes_known and task.low == task.high
        if not exact:
            dataset.exact = False
        if task.type == "bulk_processing":
            for cell in task.targets[: task.high]:
                dataset.empty[cell] = False if exact else None
            return
        for index in range(task.high):
            row = f"+{task.task_id}:{index}"
            dataset.rows.append(row)
            for column in dataset.columns:
                dataset.empty[row, column] = False if exact else None

    # -- what to do next ------------------------------------------------------------------

    def operations(self) -> st.SearchStrategy[Step]:
        """A create (valid or not), a read or cancel of a known task, another
        tenant's or a keyless call, or a worker step (with the control interface)."""
        kinds = ["new_rows", "bulk", "bulk", "bad_key"]
        if self.tasks:
            kinds += ["get", "get", "cancel", "get_missing"]
            if self.control:
                kinds += ["advance", "advance", "finish", "fail"]
            if self.other_key is not None:
                kinds += ["other"]
            if self.last in self.tasks:
                kinds += ["get_last"] * 3  # read what the last step named
        elif self.other_key is not None:
            kinds += ["other_create"]
        return st.sampled_from(kinds).flatmap(self._operation)

    def _dataset_ids(self) -> st.SearchStrategy[str]:
        known = sorted(self.datasets)
        return st.sampled_from([*known * 6, MISSING_DATASET, *self.foreign])

    def _webhook(self) -> st.SearchStrategy[dict[str, str]]:
        choices: list[dict[str, str]] = [{}] * 4 + [{"webhookId": w} for w in self.webhooks]
        return st.sampled_from([*choices, {"webhookId": MISSING_WEBHOOK}])

    def _bulk_body(self, dataset_id: str) -> st.SearchStrategy[dict[str, Any]]:
        dataset = self.datasets.get(dataset_id) or next(iter(self.datasets.values()))
        known_rows = [r for r in dataset.rows if not r.startswith("+")]
        cells = sorted(c for c, (r, _) in dataset.cell_ids.items() if r in known_rows)
        lists = {
            "cellIds": st.lists(st.sampled_from([*cells, "cell-missing"]), min_size=0, max_size=3),
            "rowIds": st.lists(
                st.sampled_from([*known_rows, "row-missing"]), min_size=0, max_size=3
            ),
            "columnIds": st.lists(st.sampled_from([*dataset.columns, "col-missing"]), max_size=2),
        }
        modes: list[tuple[str, ...]] = [(), ("cellIds",), ("rowIds",), ("columnIds",)] * 2
        modes += [("rowIds", "columnIds"), ("cellIds", "rowIds")]

        def body(mode: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
            flag = st.sampled_from([{}, {"processOnlyEmpty": True}, {"processOnlyEmpty": False}])
            parts = st.fixed_dictionaries({name: lists[name] for name in mode})
            return st.tuples(parts, flag, self._webhook()).map(lambda t: {**t[0], **t[1], **t[2]})

        return st.sampled_from(modes).flatmap(body)

    def _path(self, dataset_id: str, rest: str) -> str:
        return f"{PREFIX}/{segment(dataset_id)}/tasks/{rest}"

    def _operation(self, kind: str) -> st.SearchStrategy[Step]:
        import json

        task_ids = list(self.tasks)  # creation order: the same draws whatever ids come
        name = self.next_name("task")
        if kind == "new_rows":
            counts = st.sampled_from([1, 2, 3, 1, 2, 0, 10_001, "2"])
            return st.tuples(self._dataset_ids(), counts, self._webhook()).map(
                lambda t: Step(
                    "POST",
                    self._path(t[0], "new-rows"),
                    json.dumps({"rowCount": t[1], **t[2]}),
                    capture={name: "taskId"},
                    label=f"create new_rows on {t[0]}",
                )
            )
        if kind in ("bulk", "other_create"):
            tenant = "other" if kind == "other_create" else "main"
            datasets = st.sampled_from(sorted(self.datasets)) if tenant == "other" else None
            return (self._dataset_ids() if datasets is None else datasets).flatmap(
                lambda ds: self._bulk_body(ds).map(
                    lambda body: Step(
                        "POST",
                        self._path(ds, "bulk"),
                        json.dumps(body),
                        tenant,
                        capture={name: "taskId"} if tenant == "main" else {},
                        label=f"create bulk on {ds}"
                        + (" as another account" if tenant != "main" else ""),
                    )
                )
            )
        if kind == "bad_key":
            dataset = sorted(self.datasets)[0]
            return st.sampled_from(["none", "bad"]).map(
                lambda who: Step(
                    "GET",
                    self._path(dataset, MISSING_TASK),
                    tenant=who,
                    label=f"read with {who} key",
                )
            )
        if kind == "get_last" and self.last is not None:
            task = self.tasks[self.last]
            ref = self.ref(self.last)
            return st.just(Step("GET", self._path(task.dataset, ref), label=f"read {ref}"))
        if kind == "get_missing":
            dataset = sorted(self.datasets)[0]
            return st.just(
                Step("GET", self._path(dataset, MISSING_TASK), label="read an unknown task")
            )
        live = [t for t in task_ids if self.tasks[t].active]
        # Cancels and worker steps mostly on live tasks; sometimes on ended ones.
        tasks = st.sampled_from(
            live * 3 + task_ids if kind in ("cancel", "advance", "finish", "fail") else task_ids
        )
        if kind in ("get", "cancel", "other"):
            method = {"get": "GET", "cancel": "DELETE"}.get(kind)
            methods = st.just(method) if method else st.sampled_from(["GET", "DELETE"])
            tenant = "other" if kind == "other" else "main"
            return st.tuples(tasks, methods).map(
                lambda t: Step(
                    t[1],
                    self._path(self.tasks[t[0]].dataset, self.ref(t[0])),
                    tenant=tenant,
                    label=f"{'read' if t[1] == 'GET' else 'cancel'} {self.ref(t[0])}"
                    + (" as another account" if tenant == "other" else ""),
                )
            )
        return tasks.map(
            lambda task_id: Step(
                "POST",
                f"{CONTROL_PREFIX}/claro/tasks/{self.ref(task_id)}/{kind}",
                tenant="control",
                label=f"worker {kind} {self.ref(task_id)}",
            )
        )


def _details(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """An error answer's ``details`` object, or an empty one when it is not an object."""
    details = answer.get("details")
    return details if isinstance(details, dict) else {}
