"""The Chunkr checker: Chunkr parse tasks judged over HTTP (Chunkr API reference,
``TaskApi``; docs/chunkr.md, docs/verify.md).

The model starts from the fixtures' Chunkr section: the ``--key``'s user; another
user's key, when the fixtures have one, plays the other tenant.  The configuration
merge and revert rules are :mod:`taskcore.testing.chunkr`'s.  It judges:

- ``responses``: statuses and bodies of refusals (401 for a missing or unknown key,
  404 ``Task not found``, 400 with the documented text);
- ``fields``: the ``TaskResponse`` fields: ``task_id``, ``status``, ``message``, the
  configuration as merged, ``started_at``/``finished_at`` set once a run started or
  finished, ``output`` exactly while ``Succeeded``, ``task_url`` ending in the task's
  path;
- ``lifecycle``: cancel only from ``Starting``, update only from ``Succeeded`` or
  ``Failed`` (and only with a configuration that changes something), delete only from
  ``Succeeded``, ``Failed`` or ``Cancelled``;
- ``revert``: cancelling a queued update, or a failed re-run, gives back the previous
  status, message and configuration;
- ``deleted``: a deleted task is 404 for every call;
- ``refusals``: a refused call changes nothing later reads show;
- ``tenancy``: another user's key sees none of the caller's tasks (404);
- ``worker``: the control interface's steps follow the lifecycle.

Expiry is not judged: the configurations drawn have ``expires_in`` of an hour or more,
so no task expires during a run (a scenario or trace with a short ``expires_in`` may
see a task vanish the model still has).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

from hypothesis import strategies as st

from taskcore.errors import ValidationError
from taskcore.fixtures import Fixture
from taskcore.testing.chunkr import _merge, _normal
from taskcore.verify.exchange import Exchange, Step, match_route
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

__all__ = ["ChunkrChecker"]

PREFIX: Final = "/api/v1/task"
MISSING_TASK: Final = "00000000-0000-4000-8000-00000000beef"
FAILURE: Final = "taskcore verify failure"
_TASK = re.compile(r"\A/api/v1/task/([^/]+)\Z")
_UPDATE = re.compile(r"\A/api/v1/task/([^/]+)/parse\Z")
_CANCEL = re.compile(r"\A/api/v1/task/([^/]+)/cancel\Z")
_CONTROL = re.compile(r"\A/_taskcore/worker/chunkr/tasks/([^/]+)/(advance|finish|fail)\Z")

_settings = st.fixed_dictionaries({}, optional={"format": st.sampled_from(["Html", "Markdown"])})
CONFIGS: Final = st.fixed_dictionaries(
    {},
    optional={
        "expires_in": st.sampled_from([3600, 86400]),
        "ocr_strategy": st.sampled_from(["All", "Auto"]),
        "high_resolution": st.booleans(),
        "segment_processing": st.dictionaries(
            st.sampled_from(["Table", "Text"]), _settings, max_size=1
        ),
    },
)
"""Configurations drawn for creates and updates: few values, so updates that change
nothing (refused) come up too."""


@dataclass(frozen=True)
class Task:
    """A task as the model knows it."""

    task_id: str
    status: str
    message: str | None
    config: dict[str, Any]
    started: bool = False
    finished: bool = False
    previous: tuple[str, str | None, dict[str, Any]] | None = None
    refused_since: bool = False
    reverted: bool = False
    maybe: tuple[tuple[str | None, dict[str, Any]], ...] = ()
    """Other (message, configuration) pairs the task may show, when a worker step's
    answer could not tell a successful re-run from a failed one that reverted; a
    message of ``None`` is one the model cannot know (a failure the worker drew)."""


class ChunkrChecker(ApiModel):
    """The Chunkr checking model (see the module docstring).

    Args:
        fixture: the fixtures the system under test starts from.
        key: the caller's ``Authorization`` value (one of the fixture's Chunkr keys).
        control: whether the control interface is there.

    Raises:
        ValidationError: ``key`` is not a Chunkr key of the fixtures.
    """

    api: ClassVar[str] = "chunkr"
    properties: ClassVar[tuple[Property, ...]] = (
        Property("responses", "every answer's status and refusal text are the documented ones"),
        Property("fields", "TaskResponse fields carry the model's values"),
        Property("lifecycle", "cancel, update and delete only from the documented statuses"),
        Property("revert", "a cancelled update or a failed re-run restores the previous task"),
        Property("deleted", "a deleted task is not found by any call"),
        REFUSALS,
        TENANCY,
        WORKER,
    )
    transitions: ClassVar[tuple[str, ...]] = (
        "Starting -> Processing",
        "Starting -> Cancelled",
        "Starting -> Succeeded",
        "Starting -> Failed",
        "Processing -> Succeeded",
        "Processing -> Failed",
        "Succeeded -> Starting",
        "Failed -> Starting",
        "Succeeded -> deleted",
        "Failed -> deleted",
        "Cancelled -> deleted",
    )

    def __init__(self, fixture: Fixture, key: str, *, control: bool) -> None:
        owners = {k: user for _, user, keys in fixture.chunkr for k in keys}
        if key not in owners:
            raise ValidationError(
                "--key is not a Chunkr API key of the fixtures (--fixtures)", field="--key"
            )
        self.user = owners[key]
        other = next((k for k, u in owners.items() if u != self.user), None)
        super().__init__(key, other, control=control)
        self.tasks: dict[str, Task] = {}
        self.deleted: dict[str, None] = {}  # in order of deletion
        self.last: str | None = None  # the task the last step changed

    def auth_headers(self, tenant: str) -> dict[str, str]:
        """``Authorization: <key>`` (no scheme, as the ``chunkr-ai`` client sends it)."""
        token = self.token(tenant)
        return {} if token is None else {"authorization": token}

    def state(self) -> dict[str, Any]:
        """The tasks (status, configuration) and the deleted ids."""
        return {
            "user": self.user,
            "tasks": {
                t.task_id: {"status": t.status, "message": t.message, "configuration": t.config}
                for t in self.tasks.values()
            },
            "deleted": list(self.deleted),
        }

    # -- judging --------------------------------------------------------------------------

    def _expect(
        self,
        exchange: Exchange,
        status: int,
        text: str | None,
        prop: str,
        found: list[Divergence],
    ) -> bool:
        checks = [Check("status", "==", status)]
        ok = exchange.status == status
        if text is not None:
            checks.append(Check("text", "==", text))
            ok = ok and exchange.text == text
        wanted = f"{status}" + (f" {text!r}" if text is not None else "")
        shown = f"{exchange.status}" + (
            f" {exchange.text[:120]!r}" if exchange.status >= 300 else ""
        )
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
        before = dict(self.tasks)
        self._judge(exchange, found)
        changed = [t for t, task in self.tasks.items() if before.get(t) != task]
        self.last = changed[0] if changed else self.last
        return found

    def _judge(self, exchange: Exchange, found: list[Divergence]) -> None:
        route, method = exchange.route, exchange.method
        if exchange.tenant in ("none", "bad") and route.startswith(PREFIX):
            self._expect(exchange, 401, None, "responses", found)
            self._refused_everywhere()
        elif route == f"{PREFIX}/parse" and method == "POST":
            self._create(exchange, found)
        elif (match := match_route(_TASK, route)) and method in ("GET", "DELETE"):
            self._task_call(exchange, match[0], "read" if method == "GET" else "delete", found)
        elif (match := match_route(_UPDATE, route)) and method == "PATCH":
            self._task_call(exchange, match[0], "update", found)
        elif (match := match_route(_CANCEL, route)) and method == "GET":
            self._task_call(exchange, match[0], "cancel", found)
        elif (match := match_route(_CONTROL, route)) and method == "POST":
            self._worker(exchange, match[0], match[1], found)

    def _refused_everywhere(self) -> None:
        for task_id, task in self.tasks.items():
            self.tasks[task_id] = replace(task, refused_since=True)

    def _create(self, exchange: Exchange, found: list[Divergence]) -> None:
        if exchange.tenant == "other":
            return  # the other user's own task: not this model's to judge
        body = exchange.request_json()
        if not self._expect(exchange, 200, None, "responses", found):
            return
        answer = exchange.json()
        task_id = answer.get("task_id") if isinstance(answer, dict) else None
        if not self.check("fields", isinstance(task_id, str), "no task_id", (), found):
            return
        assert isinstance(task_id, str)
        assert isinstance(answer, dict)
        body = body if isinstance(body, dict) else {}
        config = {k: v for k, v in body.items() if k not in ("file", "file_name")}
        task = Task(task_id, "Starting", "Task queued", _normal(config))
        self._fields(exchange, answer, task, found)
        self.tasks[task_id] = task

    def _fields(
        self, exchange: Exchange, answer: dict[str, Any], task: Task, found: list[Divergence]
    ) -> Task:
        """Judge a ``TaskResponse``; the task as it showed itself (one of its
        :attr:`Task.maybe` pinned)."""
        where = f"{exchange.method} {exchange.path}"
        status_prop = "refusals" if task.refused_since else "revert" if task.reverted else "fields"
        config = answer.get("configuration")
        shown = _normal(config) if isinstance(config, dict) else None
        message = answer.get("message")
        for other_message, other_config in task.maybe:
            if (other_message is None or other_message == message) and other_config == shown:
                task = replace(task, message=message, config=other_config)
        if task.message is None and isinstance(message, str):
            task = replace(task, message=message)
        task = replace(task, maybe=())
        for name, value, prop in (
            ("task_id", task.task_id, "fields"),
            ("status", task.status, status_prop),
            ("message", task.message, status_prop),
        ):
            self.check(
                prop,
                answer.get(name) == value,
                f"{where}: {name} should be {value!r}, is {answer.get(name)!r}",
                (Check(f"body.{name}", "==", value),),
                found,
            )
        self.check(
            status_prop,
            shown == task.config,
            f"{where}: configuration should be {task.config}, is {shown}",
            # Nested settings are shown with their unset fields: compared whole above only.
            tuple(
                Check(f"body.configuration.{k}", "==", v)
                for k, v in task.config.items()
                if not isinstance(v, dict)
            )
            + tuple(
                Check(f"body.configuration.{k}", "==", None)
                for k in sorted(shown or {})
                if k not in task.config
            ),
            found,
        )
        for name, set_ in (("started_at", task.started), ("finished_at", task.finished)):
            self.check(
                "fields",
                (answer.get(name) is not None) == set_,
                f"{where}: {name} should {'' if set_ else 'not '}be set, is {answer.get(name)!r}",
                (Check(f"body.{name}", "!=" if set_ else "==", None),),
                found,
            )
        succeeded = task.status == "Succeeded"
        self.check(
            "fields",
            (answer.get("output") is not None) == succeeded,
            f"{where}: output should {'' if succeeded else 'not '}be there in {task.status}",
            (Check("body.output", "!=" if succeeded else "==", None),),
            found,
        )
        url = answer.get("task_url")
        self.check(
            "fields",
            isinstance(url, str) and url.endswith(f"{PREFIX}/{task.task_id}"),
            f"{where}: task_url {url!r} is not the task's URL",
            (),
            found,
        )
        return task

    def _task_call(
        self, exchange: Exchange, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        if exchange.tenant == "other":
            prop = "tenancy" if task is not None else "responses"
            self._expect(exchange, 404, "Task not found", prop, found)
            if task is not None:
                self.tasks[task_id] = replace(task, refused_since=True)
            return
        if task is None:
            prop = "deleted" if task_id in self.deleted else "responses"
            self._expect(exchange, 404, "Task not found", prop, found)
            return
        if action == "read":
            if not self._expect(
                exchange, 200, None, "refusals" if task.refused_since else "responses", found
            ):
                return
            answer = exchange.json()
            before = len(found)
            shown = self._fields(exchange, answer if isinstance(answer, dict) else {}, task, found)
            if len(found) == before:
                self.tasks[task_id] = replace(shown, refused_since=False, reverted=False)
            return
        if action == "cancel":
            self._cancel(exchange, task, found)
        elif action == "delete":
            self._delete(exchange, task, found)
        else:
            self._update(exchange, task, found)

    def _refuse(self, exchange: Exchange, task: Task, verb: str, found: list[Divergence]) -> None:
        text = f"Task cannot be {verb}: status is {task.status}"
        self._expect(exchange, 400, text, "lifecycle", found)
        self.tasks[task.task_id] = replace(task, refused_since=True)

    def _cancel(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status != "Starting":
            self._refuse(exchange, task, "cancelled", found)
            return
        prop = "lifecycle" if task.previous is None else "revert"
        if not self._expect(exchange, 200, "Task cancelled", prop, found):
            return
        if task.previous is not None:
            status, message, config = task.previous
            self.saw("Starting", status)
            after = replace(
                task, status=status, message=message, config=config, previous=None, reverted=True
            )
        else:
            self.saw("Starting", "Cancelled")
            after = replace(task, status="Cancelled", message="Task cancelled", finished=True)
        self.tasks[task.task_id] = replace(after, refused_since=False)

    def _delete(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status not in ("Succeeded", "Failed", "Cancelled"):
            self._refuse(exchange, task, "deleted", found)
            return
        if self._expect(exchange, 200, "Task deleted", "lifecycle", found):
            self.saw(task.status, "deleted")
            del self.tasks[task.task_id]
            self.deleted[task.task_id] = None

    def _update(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status not in ("Succeeded", "Failed"):
            self._refuse(exchange, task, "updated", found)
            return
        given = exchange.request_json()
        merged = _merge(task.config, _normal(given if isinstance(given, dict) else {}))
        if merged == task.config:
            text = (
                "Task cannot be updated: new configuration must be different from the current one"
            )
            self._expect(exchange, 400, text, "lifecycle", found)
            self.tasks[task.task_id] = replace(task, refused_since=True)
            return
        if not self._expect(exchange, 200, None, "lifecycle", found):
            return
        self.saw(task.status, "Starting")
        after = replace(
            task,
            status="Starting",
            message="Task queued for update",
            config=merged,
            previous=(task.status, task.message, task.config),
            refused_since=False,
            reverted=False,
        )
        answer = exchange.json()
        self._fields(exchange, answer if isinstance(answer, dict) else {}, after, found)
        self.tasks[task.task_id] = after

    def _worker(
        self, exchange: Exchange, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id)
        where = f"worker {action} on {task_id}"
        if task is None:
            prop = "deleted" if task_id in self.deleted else "worker"
            self.worker_step_refused(exchange, None, prop, found)
            return
        if task.status not in ("Starting", "Processing"):
            self.worker_step_refused(exchange, task.status, "worker", found)
            self.tasks[task_id] = replace(task, refused_since=True)
            return
        if not self._expect(exchange, 200, None, "worker", found):
            return
        answer = exchange.json() if isinstance(exchange.json(), dict) else {}
        failed_to = task.previous[0] if task.previous is not None else "Failed"
        allowed = {
            ("Starting", "advance"): ("Processing",),
            ("Processing", "advance"): ("Succeeded", failed_to),
            ("Starting", "finish"): ("Succeeded",),
            ("Processing", "finish"): ("Succeeded",),
            ("Starting", "fail"): (failed_to,),
            ("Processing", "fail"): (failed_to,),
        }[task.status, action]
        after = answer.get("status")
        prop = "revert" if task.previous is not None and action == "fail" else "worker"
        if not self.check(
            prop,
            answer.get("before") == task.status and after in allowed,
            f"{where}: expected {task.status} -> {' or '.join(allowed)}, got "
            f"{answer.get('before')!r} -> {after!r}",
            (Check("body.status", "in", list(allowed)),),
            found,
        ):
            return
        self.saw(task.status, str(after))
        done = replace(task, started=True, finished=True, previous=None, maybe=())
        if after == "Processing":
            self.tasks[task_id] = replace(
                task, status="Processing", message="Task started", started=True
            )
        elif after == "Succeeded" and action != "fail":
            succeeded = replace(done, status="Succeeded", message="Task succeeded")
            if action == "advance" and task.previous is not None and task.previous[0] == after:
                # A re-run of a succeeded task: success, or a failure that reverted.
                succeeded = replace(succeeded, maybe=(task.previous[1:],))
            self.tasks[task_id] = succeeded
        elif task.previous is not None:
            status, message, config = task.previous
            self.tasks[task_id] = replace(
                done, status=status, message=message, config=config, reverted=True
            )
        else:
            # The message of a failure the worker drew is its own.
            message = FAILURE if action == "fail" else None
            self.tasks[task_id] = replace(done, status="Failed", message=message)

    # -- what to do next ------------------------------------------------------------------

    def operations(self) -> st.SearchStrategy[Step]:
        """A create, a read, update, cancel or delete of a known task, another user's
        or a keyless call, or a worker step (with the control interface)."""
        kinds = ["create", "create", "bad_key"] if len(self.tasks) < 4 else ["bad_key"]
        if self.tasks or self.deleted:
            kinds += ["get", "get", "update", "cancel", "delete", "get_missing"]
            statuses = {t.status for t in self.tasks.values()}
            # Weigh what moves a task on, so the long paths (update, re-run, revert) come up.
            if statuses & {"Succeeded", "Failed"}:
                kinds += ["update"] * 3
            if "Starting" in statuses:
                kinds += ["cancel"] * 2
            if any(t.previous is not None for t in self.tasks.values()):
                kinds += ["cancel"] * 4  # a queued update: its revert is the point
            if self.control:
                kinds += ["advance"] * 4 + ["finish", "fail"]
            if self.other_key is not None:
                kinds += ["other"]
            if self.last in self.tasks:
                kinds += ["get_last"] * 4  # read what just changed
        return st.sampled_from(kinds).flatmap(self._operation)

    def _operation(self, kind: str) -> st.SearchStrategy[Step]:
        if kind == "create":
            name = self.next_name("task")
            return CONFIGS.map(
                lambda config: Step(
                    "POST",
                    f"{PREFIX}/parse",
                    json.dumps({"file": "aGVsbG8=", "file_name": "hello.pdf", **config}),
                    capture={name: "task_id"},
                    label="create a parse task",
                )
            )
        if kind == "bad_key":
            return st.sampled_from(["none", "bad"]).map(
                lambda who: Step(
                    "GET", f"{PREFIX}/{MISSING_TASK}", tenant=who, label=f"read with {who} key"
                )
            )
        if kind == "get_last" and self.last is not None:
            return st.just(self._call("get", self.last, "main"))
        if kind == "get_missing":
            return st.just(Step("GET", f"{PREFIX}/{MISSING_TASK}", label="read an unknown task"))
        ids = [*self.tasks, *self.deleted]  # in order: the same draws whatever ids come
        wanted = {
            "update": ("Succeeded", "Failed"),
            "cancel": ("Starting",) if not self._updating() else ("updating",),
            "advance": ("Starting", "Processing"),
            "finish": ("Starting", "Processing"),
            "fail": ("Starting", "Processing"),
        }.get(kind, ())
        fit = [
            t
            for t, task in self.tasks.items()
            if task.status in wanted or ("updating" in wanted and task.previous is not None)
        ]
        tasks = st.sampled_from(fit * 3 + ids)
        if kind in ("get", "cancel", "delete"):
            return tasks.map(lambda t: self._call(kind, t, "main"))
        if kind == "update":
            return st.tuples(tasks, CONFIGS.filter(bool)).map(
                lambda t: Step(
                    "PATCH",
                    f"{PREFIX}/{self.ref(t[0])}/parse",
                    json.dumps(t[1]),
                    label=f"update {self.ref(t[0])}",
                )
            )
        if kind == "other":
            return st.tuples(tasks, st.sampled_from(["get", "cancel", "delete"])).map(
                lambda t: self._call(t[1], t[0], "other")
            )
        body = json.dumps({"message": FAILURE}) if kind == "fail" else None
        return tasks.map(
            lambda t: Step(
                "POST",
                f"{CONTROL_PREFIX}/chunkr/tasks/{self.ref(t)}/{kind}",
                body,
                tenant="control",
                label=f"worker {kind} {self.ref(t)}",
            )
        )

    def _updating(self) -> bool:
        return any(t.previous is not None for t in self.tasks.values())

    def _call(self, kind: str, task_id: str, tenant: str) -> Step:
        ref = self.ref(task_id)
        method, path = {
            "get": ("GET", f"{PREFIX}/{ref}"),
            "cancel": ("GET", f"{PREFIX}/{ref}/cancel"),
            "delete": ("DELETE", f"{PREFIX}/{ref}"),
        }[kind]
        who = " as another user" if tenant == "other" else ""
        return Step(method, path, tenant=tenant, label=f"{kind} {ref}{who}")
