"""The Send AI checker: Send AI document tasks judged over HTTP (Send AI "Task Management
API"; docs/sendai.md, docs/verify.md "Send AI").

The reference has no create endpoint: tasks come into being on the worker side (an
upload's documents).  The model starts from the fixtures' Send AI section: the
``--key``'s team, its projects (their steps and validation rules) and the tasks of its
uploads that have an id (so a sequence names the same tasks after every reset), with
each upload's "fully processed" flag; another team's key, when the fixtures have one,
plays the other tenant.  What the model knows of a task (status, step, meta, exported,
opened) it **learns** from the first answer that shows the task (a GET, or any change's
``payload``), then predicts.  It judges:

- ``responses``: statuses and error codes (401 ``UNAUTHORIZED`` for a missing or
  unknown key, 404 ``TASK_NOT_FOUND`` (also for a task read under another project's
  path), 400 ``TASK_VALIDATION_FAILED`` naming a missing
  required field, 201/207 for a report);
- ``fields``: the task object carries the model's values (``id``, ``status``,
  ``step_type``, ``meta``, ``project_id``, ``upload_id``, ``exported_at`` set once
  exported, ``last_opened_at`` set once unlocked, the ``message`` of ``complete``);
- ``lifecycle``: ``complete`` and ``discard`` only from ``REVIEWING``; ``unlock`` only
  from a finalized status (``COMPLETED``, ``DISCARDED``, ``FILTERED``);
- ``terminal``: a ``FAILED`` task is a dead end, and a finalized one changes only
  through ``unlock`` (``complete``, ``discard`` and worker steps are refused);
- ``locked``: an exported task, or one whose upload is fully processed, cannot be
  unlocked;
- ``refusals``: a refused call changes nothing later reads show;
- ``tenancy``: another team's key sees none of the team's tasks (404, nothing changes);
- ``worker``: the control interface's steps (``advance``, ``finish``, ``fail``,
  ``export``) follow the documented lifecycle.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

from hypothesis import strategies as st

from taskcore.errors import ValidationError
from taskcore.fixtures import Fixture
from taskcore.sendai.task import EDIT, READ, Step
from taskcore.verify.exchange import Exchange, match_route, segment
from taskcore.verify.exchange import Step as Request
from taskcore.verify.model import (
    NEEDS_OTHER_TENANT,
    NEEDS_WORKER,
    ApiModel,
    Check,
    Divergence,
    Property,
)
from taskcore.verify.sut import CONTROL_PREFIX

__all__ = ["SendAIChecker"]

FINALIZED: Final = frozenset({"COMPLETED", "DISCARDED", "FILTERED"})
"""The statuses ``unlock`` starts from."""
ENDED: Final = FINALIZED | {"FAILED"}
"""The statuses nothing but ``unlock`` (of a finalized one) or ``report`` leaves."""
FAILURE: Final = "taskcore verify failure"
PROCESSING_STARTED: Final = "Task processing started"
_TASK = re.compile(r"\A/v2/([^/]+)/project/([^/]+)/task/([^/]+)(?:/([a-z]+))?\Z")
_CONTROL = re.compile(
    r"\A/_taskcore/worker/sendai/teams/([^/]+)/tasks/([^/]+)/(advance|finish|fail|export)\Z"
)


@dataclass(frozen=True)
class Task:
    """A task as the model knows it.

    ``known`` is false until an answer showed the task; ``stale`` after a worker step
    (the step and meta the pipeline reached are learned from the next answer).
    ``fully_processed`` is ``None`` when the fixtures do not say.
    """

    task_id: str
    project_id: str
    upload_id: str
    fully_processed: bool | None
    known: bool = False
    status: str = ""
    step_type: str = ""
    meta: tuple[tuple[str, str], ...] = ()
    exported: bool = False
    opened: bool = False
    stale: bool = False
    refused_since: bool = False


def _merge(meta: tuple[tuple[str, str], ...], given: Any) -> tuple[tuple[str, str], ...]:
    """``complete``'s merge: a name there takes the new value, a new one is appended."""
    fields = dict(meta)
    if isinstance(given, dict) and isinstance(given.get("meta"), list):
        for item in given["meta"]:
            if isinstance(item, dict):
                fields[str(item.get("name"))] = str(item.get("value"))
    return tuple(fields.items())


def _meta(payload: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    meta = payload.get("meta")
    if not isinstance(meta, list):
        return None
    pairs = [(m.get("name"), m.get("value")) for m in meta if isinstance(m, dict)]
    if len(pairs) != len(meta) or not all(isinstance(n, str) for p in pairs for n in p):
        return None
    return tuple((str(n), str(v)) for n, v in pairs)


class SendAIChecker(ApiModel):
    """The Send AI checking model (see the module docstring).

    Args:
        fixture: the fixtures the system under test starts from.
        key: the caller's Bearer key (a Send AI key of the fixtures, with ``task.read``
            and ``task.edit``).
        control: whether the control interface is there.

    Raises:
        ValidationError: ``key`` is not a Send AI key of the fixtures with both scopes.
    """

    api: ClassVar[str] = "sendai"
    properties: ClassVar[tuple[Property, ...]] = (
        Property("responses", "every answer's status and error code are the documented ones"),
        Property("fields", "the task object carries the model's values"),
        Property("lifecycle", "complete and discard only from REVIEWING, unlock only finalized"),
        Property("terminal", "FAILED is final; a finalized task changes only through unlock"),
        Property("locked", "an exported task, or one of a fully processed upload, stays locked"),
        Property("refusals", "a refused call changes nothing"),
        Property(
            "tenancy",
            "another team's key sees none of the team's tasks",
            frozenset({NEEDS_OTHER_TENANT}),
        ),
        Property(
            "worker",
            "the worker side's steps follow the documented lifecycle",
            frozenset({NEEDS_WORKER}),
        ),
    )
    transitions: ClassVar[tuple[str, ...]] = (
        "PROCESSING -> REVIEWING",
        "PROCESSING -> COMPLETED",
        "PROCESSING -> FILTERED",
        "PROCESSING -> FAILED",
        "REVIEWING -> PROCESSING",
        "REVIEWING -> DISCARDED",
        "COMPLETED -> REVIEWING",
        "DISCARDED -> REVIEWING",
        "FILTERED -> REVIEWING",
        "COMPLETED -> exported",
    )

    def __init__(self, fixture: Fixture, key: str, *, control: bool) -> None:
        keys = {token: api_key for team in fixture.sendai for token, api_key in team.api_keys}
        api_key = keys.get(key)
        if api_key is None or not (api_key.allows(READ) and api_key.allows(EDIT)):
            raise ValidationError(
                "--key is not a Send AI key of the fixtures with task.read and task.edit",
                field="--key",
            )
        self.team = api_key.team_id
        other = next(
            (t for t, k in keys.items() if k.team_id != self.team and k.allows(READ)), None
        )
        super().__init__(key, other, control=control)
        self.steps: dict[str, tuple[Step, ...]] = {}
        self.tasks: dict[str, Task] = {}
        for team in fixture.sendai:
            if team.team_id != self.team:
                continue
            self.steps = {project: steps for _, project, steps in team.projects}
            for upload in team.uploads:
                for document in upload.documents:
                    if document.task_id is not None:
                        self.tasks[document.task_id] = Task(
                            document.task_id,
                            upload.project_id,
                            upload.upload_id,
                            upload.fully_processed,
                        )
        self.missing: set[str] = set()

    def auth_headers(self, tenant: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` (docs/sendai.md, "HTTP")."""
        key = {"main": self.key, "other": self.other_key, "bad": "taskcore-verify-bad-key"}
        token = key.get(tenant)
        return {} if token is None else {"authorization": f"Bearer {token}"}

    def state(self) -> dict[str, Any]:
        """The team and the tasks as known."""
        return {
            "team": self.team,
            "tasks": {
                t.task_id: {
                    "status": t.status,
                    "step_type": t.step_type,
                    "meta": dict(t.meta),
                    "exported": t.exported,
                    "opened": t.opened,
                }
                if t.known
                else "not seen yet"
                for t in self.tasks.values()
            },
        }

    # -- judging --------------------------------------------------------------------------

    def _expect(
        self,
        exchange: Exchange,
        status: int | tuple[int, ...],
        code: str | None,
        prop: str,
        found: list[Divergence],
    ) -> bool:
        statuses = (status,) if isinstance(status, int) else status
        checks = [Check("status", "in", list(statuses))]
        ok = exchange.status in statuses
        document = exchange.json()
        if code is not None:
            checks.append(Check("body.code", "==", code))
            ok = ok and isinstance(document, dict) and document.get("code") == code
        shown = f"{exchange.status}" + (
            f" {exchange.text[:160]!r}" if exchange.status >= 300 else ""
        )
        wanted = " or ".join(map(str, statuses)) + (f" {code}" if code else "")
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
        if (match := match_route(_TASK, route)) and method in ("GET", "POST", "PUT"):
            team, project, task_id, action = match
            self._task_call(exchange, team, project, task_id, action or "get", found)
        elif (match := match_route(_CONTROL, route)) and method == "POST":
            self._worker(exchange, match[0], match[1], match[2], found)
        return found

    def _task_call(
        self,
        exchange: Exchange,
        team: str,
        project: str,
        task_id: str,
        action: str,
        found: list[Divergence],
    ) -> None:
        if action not in ("get", "unlock", "complete", "discard", "report"):
            return
        if (exchange.method == "GET") != (action == "get") or (
            exchange.method == "PUT" and action not in ("unlock", "discard")
        ):
            return  # another method on a known path: not this model's to judge
        task = self.tasks.get(task_id)
        if exchange.tenant in ("none", "bad"):
            self._expect(exchange, 401, "UNAUTHORIZED", "responses", found)
            self._refused(task)
            return
        if exchange.tenant == "other":
            if team == self.team and task is not None:
                self._expect(exchange, 404, "TASK_NOT_FOUND", "tenancy", found)
                self._refused(task)
            return  # the other team's own tasks: not this model's to judge
        if team != self.team:
            self._expect(exchange, 404, "TASK_NOT_FOUND", "responses", found)
            return
        if task is None or task.project_id != project:
            if exchange.status == 200 and task is None and task_id not in self.missing:
                self._learn_new(exchange, task_id, project)  # a task the fixtures do not name
                return
            if task is None:
                self.missing.add(task_id)
            self._expect(exchange, 404, "TASK_NOT_FOUND", "responses", found)
            return
        if not task.known:
            self._first_sight(exchange, task, action, found)
            return
        {
            "get": self._get,
            "unlock": self._unlock,
            "complete": self._complete,
            "discard": self._discard,
            "report": self._report,
        }[action](exchange, task, found)

    def _refused(self, task: Task | None) -> None:
        if task is not None:
            self.tasks[task.task_id] = replace(task, refused_since=True)

    def _payload(self, exchange: Exchange) -> dict[str, Any]:
        document = exchange.json()
        payload = document.get("payload") if isinstance(document, dict) else None
        return payload if isinstance(payload, dict) else {}

    def _learn(self, task: Task, payload: dict[str, Any]) -> Task:
        meta = _meta(payload)
        return replace(
            task,
            known=True,
            status=str(payload.get("status")),
            step_type=str(payload.get("step_type")),
            meta=task.meta if meta is None else meta,
            exported=payload.get("exported_at") is not None,
            opened=payload.get("last_opened_at") is not None,
            stale=False,
            refused_since=False,
        )

    def _learn_new(self, exchange: Exchange, task_id: str, project: str) -> None:
        payload = self._payload(exchange)
        upload = payload.get("upload_id")
        task = Task(task_id, project, str(upload), None)
        self.tasks[task_id] = self._learn(task, payload)

    def _first_sight(
        self, exchange: Exchange, task: Task, action: str, found: list[Divergence]
    ) -> None:
        """A task not seen yet: its answer teaches the model (the policy for ids the
        model starts without: docs/verify.md, "Checking a recorded trace")."""
        ok = {"get": (200,), "report": (201, 207)}.get(action, (200, 400))
        if not self._expect(exchange, ok, None, "responses", found):
            return
        if exchange.status in (200, 201, 207):
            payload = self._payload(exchange)
            if self.check("fields", payload.get("id") == task.task_id, "no payload", (), found):
                self.tasks[task.task_id] = self._learn(task, payload)

    def _fields(
        self, exchange: Exchange, task: Task, found: list[Divergence], prop: str | None = None
    ) -> bool:
        """Compare the answer's payload with ``task``; learn the step and meta of a
        stale one.  Returns whether everything matched."""
        payload = self._payload(exchange)
        where = f"{exchange.method} {exchange.path}"
        prop = prop or ("refusals" if task.refused_since else "fields")
        before = len(found)
        expected: list[tuple[str, Any, str]] = [
            ("id", task.task_id, "fields"),
            ("status", task.status, prop),
            ("project_id", task.project_id, "fields"),
            ("upload_id", task.upload_id, "fields"),
        ]
        if not task.stale:
            expected.append(("step_type", task.step_type, prop))
        for name, value, p in expected:
            self.check(
                p,
                payload.get(name) == value,
                f"{where}: {name} should be {value!r}, is {payload.get(name)!r}",
                (Check(f"body.payload.{name}", "==", value),),
                found,
            )
        for name, set_, p in (
            ("exported_at", task.exported, prop),
            ("last_opened_at", task.opened, prop),
        ):
            self.check(
                p,
                (payload.get(name) is not None) == set_,
                f"{where}: {name} should {'' if set_ else 'not '}be set, is {payload.get(name)!r}",
                (Check(f"body.payload.{name}", "!=" if set_ else "==", None),),
                found,
            )
        meta = _meta(payload)
        meta_ = task.meta
        if not task.stale:
            self.check(
                prop,
                meta == task.meta,
                f"{where}: meta should be {dict(task.meta)}, is {payload.get('meta')!r}",
                (Check("body.payload.meta", "==", [{"name": n, "value": v} for n, v in meta_]),),
                found,
            )
        if len(found) == before:
            self.tasks[task.task_id] = self._learn(task, payload)
            return True
        return False

    def _get(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        prop = "refusals" if task.refused_since else "responses"
        if self._expect(exchange, 200, None, prop, found):
            self._fields(exchange, task, found)

    def _refuse(
        self, exchange: Exchange, task: Task, prop: str, found: list[Divergence], code: str = ""
    ) -> None:
        self._expect(exchange, 400, code or "INVALID_TASK_STATE", prop, found)
        self._refused(task)

    def _unlock(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status not in FINALIZED:
            prop = "terminal" if task.status == "FAILED" else "lifecycle"
            self._refuse(exchange, task, prop, found)
            return
        if task.exported or task.fully_processed:
            self._refuse(exchange, task, "locked", found)
            return
        if task.fully_processed is None and exchange.status == 400:
            self._refused(task)  # an upload the fixtures do not describe: it may be closed
            return
        if self._expect(exchange, 200, None, "lifecycle", found):
            after = replace(task, status="REVIEWING", opened=True, refused_since=False)
            if self._fields(exchange, after, found, "lifecycle"):
                self.saw(task.status, "REVIEWING")

    def _discard(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status != "REVIEWING":
            prop = "terminal" if task.status in ENDED else "lifecycle"
            self._refuse(exchange, task, prop, found)
            return
        if self._expect(exchange, 200, None, "lifecycle", found):
            after = replace(task, status="DISCARDED", refused_since=False)
            if self._fields(exchange, after, found, "lifecycle"):
                self.saw("REVIEWING", "DISCARDED")

    def _required(self, task: Task) -> tuple[str, ...] | None:
        """The required fields of the task's step, or ``None`` when the step is not
        known (a project step type named twice, or not in the fixtures)."""
        steps = [s for s in self.steps.get(task.project_id, ()) if s.step_type == task.step_type]
        return tuple(steps[0].required) if len(steps) == 1 and not task.stale else None

    def _complete(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        if task.status != "REVIEWING":
            prop = "terminal" if task.status in ENDED else "lifecycle"
            self._refuse(exchange, task, prop, found)
            return
        merged = _merge(task.meta, exchange.request_json())
        required = self._required(task)
        present = {name for name, value in merged if value.strip()}
        if (required is None and exchange.status == 400) or (
            required is not None and any(name not in present for name in required)
        ):
            # A step the model does not know judges the status code only.
            self._refuse(exchange, task, "responses", found, "TASK_VALIDATION_FAILED")
            return
        if not self._expect(exchange, 200, None, "lifecycle", found):
            return
        document = exchange.json()
        message = document.get("message") if isinstance(document, dict) else None
        self.check(
            "fields",
            message == PROCESSING_STARTED,
            f"{exchange.method} {exchange.path}: message should be {PROCESSING_STARTED!r}, "
            f"is {message!r}",
            (Check("body.message", "==", PROCESSING_STARTED),),
            found,
        )
        after = replace(task, status="PROCESSING", meta=merged, refused_since=False)
        if self._fields(exchange, after, found, "lifecycle"):
            self.saw("REVIEWING", "PROCESSING")

    def _report(self, exchange: Exchange, task: Task, found: list[Divergence]) -> None:
        body = exchange.request_json()
        issues = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(issues, list) or not issues:
            self._expect(exchange, 400, "VALIDATION_ERROR", "responses", found)
            self._refused(task)
            return
        if self._expect(exchange, (201, 207), None, "responses", found):
            self._fields(exchange, task, found)

    def _worker(
        self, exchange: Exchange, team: str, task_id: str, action: str, found: list[Divergence]
    ) -> None:
        task = self.tasks.get(task_id) if team == self.team else None
        where = f"worker {action} on {task_id}"
        if task is None or not task.known:
            if task is None and team == self.team:
                self.check(
                    "worker",
                    exchange.status == 404,
                    f"{where}: an unknown task should be 404, got {exchange.status}",
                    (Check("status", "==", 404),),
                    found,
                )
            elif task is not None and exchange.status == 200:
                self.tasks[task_id] = replace(task, stale=True)  # learned at its next sight
            return
        if action == "export":
            allowed_from: frozenset[str] = frozenset({"COMPLETED"})
        else:
            allowed_from = frozenset({"PROCESSING"})
        if task.status not in allowed_from:
            self.check(
                "terminal" if task.status in ENDED and action != "export" else "worker",
                400 <= exchange.status < 500,
                f"{where}: the task is {task.status}; the step should be refused, got "
                f"{exchange.status}",
                (Check("status", ">=", 400), Check("status", "<=", 499)),
                found,
            )
            self._refused(task)
            return
        if not self._expect(exchange, 200, None, "worker", found):
            return
        answer = exchange.json() if isinstance(exchange.json(), dict) else {}
        allowed = {
            "advance": ("REVIEWING", "COMPLETED", "FILTERED", "FAILED"),
            "finish": ("REVIEWING", "COMPLETED", "FILTERED"),
            "fail": ("FAILED",),
            "export": ("COMPLETED",),
        }[action]
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
        if action == "export":
            self.saw("COMPLETED", "exported")
            self.tasks[task_id] = replace(task, exported=True)
            return
        self.saw(task.status, str(after))
        self.tasks[task_id] = replace(task, status=str(after), stale=True, refused_since=False)

    # -- what to do next ------------------------------------------------------------------

    def operations(self) -> st.SearchStrategy[Request]:
        """A read of a task not seen yet; a read, unlock, complete, discard or report of a
        known one; another team's or a keyless call; or a worker step."""
        unseen = [t for t in self.tasks.values() if not t.known]
        known = [t for t in self.tasks.values() if t.known]
        kinds = ["get_unseen"] * 3 if unseen else []
        if known:
            statuses = {t.status for t in known}
            kinds += ["get", "get", "unlock", "complete", "discard", "report", "bad_key"]
            if "REVIEWING" in statuses:
                kinds += ["complete", "complete", "discard"]
            if statuses & FINALIZED:
                kinds += ["unlock", "unlock"]
            if any(t.exported for t in known):
                kinds += ["unlock_locked"] * 4  # the exported rule is the point
            if self.control:
                kinds += ["advance", "advance", "finish", "fail", "export", "export"]
            if self.other_key is not None:
                kinds += ["other"]
            if len(self.steps) > 1:
                kinds += ["wrong_project"]
        if not kinds:
            kinds = ["get_missing"]
        return st.sampled_from(kinds).flatmap(self._operation)

    def _path(self, task: Task, action: str = "") -> str:
        path = (
            f"/v2/{segment(self.team)}/project/{segment(task.project_id)}"
            f"/task/{segment(task.task_id)}"
        )
        return path + (f"/{action}" if action else "")

    def _operation(self, kind: str) -> st.SearchStrategy[Request]:
        if kind == "get_missing":
            return st.just(
                Request(
                    "GET",
                    f"/v2/{segment(self.team)}/project/none/task/none",
                    label="read a missing",
                )
            )
        if kind == "get_unseen":
            unseen = [t for t in self.tasks.values() if not t.known]
            return st.sampled_from(unseen).map(
                lambda t: Request("GET", self._path(t), label=f"read {t.task_id}")
            )
        known = [t for t in self.tasks.values() if t.known]
        wanted = {
            "complete": ("REVIEWING",),
            "discard": ("REVIEWING",),
            "unlock": tuple(FINALIZED),
            "advance": ("PROCESSING",),
            "finish": ("PROCESSING",),
            "fail": ("PROCESSING",),
            "export": ("COMPLETED",),
        }.get(kind, ())
        fit = [t for t in known if t.status in wanted]
        tasks = st.sampled_from(fit * 3 + known)
        if kind == "get":
            return tasks.map(lambda t: Request("GET", self._path(t), label=f"read {t.task_id}"))
        if kind == "wrong_project":
            return tasks.map(
                lambda t: Request(
                    "GET",
                    self._path(replace(t, project_id=self._another_project(t))),
                    label=f"read {t.task_id} under another project's path",
                )
            )
        if kind == "bad_key":
            return st.tuples(tasks, st.sampled_from(["none", "bad"])).map(
                lambda a: Request(
                    "GET", self._path(a[0]), tenant=a[1], label=f"read with {a[1]} key"
                )
            )
        if kind == "other":
            return st.tuples(tasks, st.sampled_from(["", "unlock", "discard"])).map(
                lambda a: Request(
                    "POST" if a[1] else "GET",
                    self._path(a[0], a[1]),
                    tenant="other",
                    label=f"{a[1] or 'read'} {a[0].task_id} as another team",
                )
            )
        if kind == "unlock_locked":
            tasks = st.sampled_from([t for t in known if t.exported] or known)
            kind = "unlock"
        if kind in ("unlock", "discard"):
            return st.tuples(tasks, st.sampled_from(["POST", "PUT"])).map(
                lambda a: Request(a[1], self._path(a[0], kind), label=f"{kind} {a[0].task_id}")
            )
        if kind == "complete":
            return st.tuples(tasks, st.sampled_from(["none", "fill", "blank", "extra"])).map(
                lambda a: self._complete_step(*a)
            )
        if kind == "report":
            return tasks.map(
                lambda t: Request(
                    "POST",
                    self._path(t, "report"),
                    json.dumps({"issues": [{"label": "quality", "value": "blurry"}]}),
                    label=f"report {t.task_id}",
                )
            )
        body = json.dumps({"message": FAILURE}) if kind == "fail" else None
        return tasks.map(
            lambda t: Request(
                "POST",
                f"{CONTROL_PREFIX}/sendai/teams/{segment(self.team)}/tasks/{segment(t.task_id)}/{kind}",
                body,
                tenant="control",
                label=f"worker {kind} {t.task_id}",
            )
        )

    def _another_project(self, task: Task) -> str:
        return next(p for p in sorted(self.steps) if p != task.project_id)

    def _complete_step(self, task: Task, how: str) -> Request:
        required = self._required(task) or ("invoice_total",)
        fields = {
            "none": [],
            "fill": [{"name": name, "value": "118.00"} for name in required],
            "blank": [{"name": name, "value": " "} for name in required],
            "extra": [{"name": "note", "value": "checked"}],
        }[how]
        body = None if how == "none" else json.dumps({"meta": fields})
        return Request(
            "POST", self._path(task, "complete"), body, label=f"complete {task.task_id} ({how})"
        )
