"""The Send AI task endpoints over sans-IO HTTP (Send AI Task Management API).

:func:`sendai_router` answers the five documented endpoints under
``/v2/{team_id}/project/{project_id}/task/{task_id}`` with Bearer keys:

| method | path | answer |
| --- | --- | --- |
| GET | ``.../task/{task_id}`` | 200 ``{"payload": task}`` |
| POST (or PUT) | ``.../task/{task_id}/unlock`` | 200 ``{"payload": task}`` |
| POST | ``.../task/{task_id}/complete`` | 200 ``{"payload": task, "message": ...}`` |
| POST (or PUT) | ``.../task/{task_id}/discard`` | 200 ``{"payload": task}`` |
| POST | ``.../task/{task_id}/report`` | 201 ``{"payload": task}``; 207 with ``failed_issues`` |

PUT is accepted for unlock and discard because the reference's workflows write them so.
Errors are ``{"code", "message"}`` (docs/sendai.md, "Errors"): 400 for bad input or a
refused state, 401 for a bad key or a missing scope (with ``WWW-Authenticate: Bearer``),
404 for a task that is not the caller's (another team's, or under another project's
path).  Order of checks: key -> scope -> task exists -> body valid -> state.  A key's
team must be the path's ``team_id``: a key of another team sees no task (404).  Bodies
over :data:`MAX_BODY_BYTES` are 400; unlock and discard take no body (or ``{}``).
The router never raises and never does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from taskcore.cache import BoundedCache
from taskcore.errors import TaskcoreError, TaskNotFound, Unauthorized, ValidationError
from taskcore.http import Request, Response, Route, Router, bearer_token, json_response
from taskcore.keys import composite_key
from taskcore.sendai.service import SendAITasks
from taskcore.sendai.task import EDIT, READ, ApiKey, SendAITask
from taskcore.sendai.wire import (
    complete_response,
    error_body,
    parse_complete,
    parse_report,
    report_response,
    task_envelope,
)

__all__ = ["CACHED_ANSWERS", "MAX_BODY_BYTES", "TASK_PATH", "render_error", "sendai_router"]

TASK_PATH: Final = "/v2/{team_id}/project/{project_id}/task/{task_id}"
CACHED_ANSWERS: Final = 1_024
"""GET answers a router keeps, per task (a bound; a miss only re-renders)."""
MAX_BODY_BYTES: Final = 1_000_000
"""The largest request body accepted (a bigger one is 400 before it is parsed)."""


_NO_BODY: Final = object()
"""What :func:`sendai_router`'s body reader gives for an optional body left blank."""


def render_error(error: TaskcoreError) -> Response:
    """``{"code", "message"}`` with the error's HTTP status."""
    return json_response(error.status, error_body(error))


def sendai_router(service: SendAITasks, api_keys: Mapping[str, ApiKey]) -> Router:
    """Build the Send AI router.

    Args:
        service: the service that answers.
        api_keys: Bearer token -> the key's team and scopes.

    Returns:
        A :class:`~taskcore.http.Router` whose 401 answers challenge with ``Bearer``.
    """

    def caller(request: Request, params: Mapping[str, str], scope: str) -> ApiKey:
        key = api_keys.get(bearer_token(request))
        if key is None:
            raise Unauthorized("Invalid API key")
        if not key.allows(scope):
            raise Unauthorized(f"The API key lacks the {scope} scope")
        if key.team_id != params["team_id"]:
            # Another team's path: nothing there is the caller's (never a hint).
            raise TaskNotFound(params["task_id"])
        return key

    def body(request: Request, key: ApiKey, params: Mapping[str, str], optional: bool) -> Any:
        """The parsed body (:data:`_NO_BODY` for an optional one left blank, which is not
        JSON ``null``); a bad one is refused only once the task is known to exist."""
        try:
            if len(request.body) > MAX_BODY_BYTES:
                raise ValidationError(f"Request body is larger than {MAX_BODY_BYTES} bytes")
            if optional and not request.body.strip():
                return _NO_BODY
            return request.json()
        except ValidationError:
            service.check_task(key, params["project_id"], params["task_id"])
            raise

    # The answer to a GET, per task: reused while the service hands back the very same
    # task value (it does while the task is unchanged, on the memory store).
    answers: BoundedCache[str, tuple[SendAITask, Response]] = BoundedCache(CACHED_ANSWERS)

    def get(request: Request, params: Mapping[str, str]) -> Response:
        key = caller(request, params, READ)
        task = service.get(key, params["project_id"], params["task_id"])
        cache_key = composite_key(task.team_id, task.id)
        hit = answers.get(cache_key)
        if hit is not None and hit[0] is task:
            return hit[1]
        response = json_response(200, task_envelope(task))
        answers.put(cache_key, (task, response))
        return response

    def change(
        act: Callable[[SendAITasks, ApiKey, str, str], SendAITask],
    ) -> Callable[[Request, Mapping[str, str]], Response]:
        def handler(request: Request, params: Mapping[str, str]) -> Response:
            key = caller(request, params, EDIT)
            # unlock and discard take no body: one that is sent must be ``{}``.
            raw = body(request, key, params, optional=True)
            if raw is not _NO_BODY and raw != {}:
                service.check_task(key, params["project_id"], params["task_id"])
                raise ValidationError("This operation takes no request body")
            task = act(service, key, params["project_id"], params["task_id"])
            return json_response(200, task_envelope(task))

        return handler

    def complete(request: Request, params: Mapping[str, str]) -> Response:
        key = caller(request, params, EDIT)
        raw = body(request, key, params, optional=True)
        try:
            if raw is None:  # JSON null is a body, and not an object
                raise ValidationError("Request body must be a JSON object")
            meta = None if raw is _NO_BODY else parse_complete(raw)
        except ValidationError:
            service.check_task(key, params["project_id"], params["task_id"])
            raise
        task = service.complete(key, params["project_id"], params["task_id"], meta)
        return json_response(200, complete_response(task))

    def report(request: Request, params: Mapping[str, str]) -> Response:
        key = caller(request, params, EDIT)
        raw = body(request, key, params, optional=False)
        try:
            issues, message = parse_report(raw)
        except ValidationError:
            service.check_task(key, params["project_id"], params["task_id"])
            raise
        task, record = service.report(key, params["project_id"], params["task_id"], issues, message)
        status = 207 if record.failed_issues else 201
        return json_response(status, report_response(task, record.failed_issues))

    unlock = change(SendAITasks.unlock)
    discard = change(SendAITasks.discard)
    return Router(
        [
            Route("GET", TASK_PATH, get),
            Route("POST", TASK_PATH + "/unlock", unlock),
            Route("PUT", TASK_PATH + "/unlock", unlock),
            Route("POST", TASK_PATH + "/complete", complete),
            Route("POST", TASK_PATH + "/discard", discard),
            Route("PUT", TASK_PATH + "/discard", discard),
            Route("POST", TASK_PATH + "/report", report),
        ],
        render_error,
        auth_scheme="Bearer",
    )
