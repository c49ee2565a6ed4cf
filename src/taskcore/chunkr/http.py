"""The Chunkr task API over sans-IO HTTP (Chunkr API, ``TaskApi``).

:func:`chunkr_router` answers the five documented endpoints:

| method | path | answer |
| --- | --- | --- |
| POST | ``/api/v1/task/parse`` | 200, the new task's ``TaskResponse`` |
| GET | ``/api/v1/task/{task_id}`` | 200, the ``TaskResponse`` |
| PATCH | ``/api/v1/task/{task_id}/parse`` | 200, the updated task's ``TaskResponse`` |
| GET | ``/api/v1/task/{task_id}/cancel`` | 200, ``text/plain`` ``Task cancelled`` |
| DELETE | ``/api/v1/task/{task_id}`` | 200, ``text/plain`` ``Task deleted`` |

GET takes ``include_chunks`` (default true) and ``base64_urls`` (default false).
The key is the ``Authorization`` header's whole value, as the ``chunkr-ai`` client
sends it (no scheme); a missing or unknown key is 401.  Every refusal is a
``text/plain`` body, the error's message (docs/chunkr.md, "Errors").  Create and update
need ``Content-Type: application/json`` and a body of at most ``max_body`` bytes, else
400.  The router never raises and never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.wire import parse_create, parse_update, task_response
from taskcore.errors import TaskcoreError, Unauthorized, ValidationError
from taskcore.http import Request, Response, Route, Router, json_response

__all__ = ["MAX_BODY", "PREFIX", "chunkr_router", "render_error"]

PREFIX = "/api/v1/task"
MAX_BODY = 16 * 1024 * 1024
"""The largest create or update body accepted by default, in bytes (a base64 file)."""
_TEXT = {"content-type": "text/plain; charset=utf-8"}


def text_response(status: int, text: str) -> Response:
    """A ``text/plain`` UTF-8 response (text that is not valid Unicode is replaced)."""
    return Response(status, _TEXT, text.encode("utf-8", "replace"))


def render_error(error: TaskcoreError) -> Response:
    """The Chunkr error: the message as a ``text/plain`` body, the error's status."""
    return text_response(error.status, error.message)


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise ValidationError(f"Invalid value for {name}: expected true or false", field=name)
    return value == "true"


def _json_body(request: Request, max_body: int) -> object:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ValidationError("Content-Type must be application/json", field="Content-Type")
    if len(request.body) > max_body:
        raise ValidationError(f"Request body is larger than {max_body} bytes")
    return request.json()


def chunkr_router(
    service: ChunkrTasks,
    api_keys: Mapping[str, str],
    *,
    base_url: str = "http://localhost:8000",
    max_body: int = MAX_BODY,
) -> Router:
    """Build the Chunkr router.

    Args:
        service: the service that answers.
        api_keys: API key -> user id.
        base_url: where the API is served; ``task_url`` is
            ``<base_url>/api/v1/task/<task_id>``.
        max_body: the largest create or update body, in bytes.

    Returns:
        A :class:`~taskcore.http.Router`.
    """
    base = base_url.rstrip("/")

    def user(request: Request) -> str:
        user_id = api_keys.get(request.headers.get("authorization", ""))
        if user_id is None:
            raise Unauthorized("Unauthorized: missing or unknown API key")
        return user_id

    def url(task_id: str) -> str:
        return f"{base}{PREFIX}/{quote(task_id, safe='')}"

    def create(request: Request, params: Mapping[str, str]) -> Response:
        user_id = user(request)
        form = parse_create(_json_body(request, max_body))
        task = service.create(user_id, form)
        return json_response(200, task_response(task, task_url=url(task.task_id)))

    def get(request: Request, params: Mapping[str, str]) -> Response:
        user_id = user(request)
        include_chunks = _flag(request, "include_chunks", True)
        base64_urls = _flag(request, "base64_urls", False)
        task_id = params["task_id"]
        wire = service.response(
            user_id,
            task_id,
            task_url=url(task_id),
            include_chunks=include_chunks,
            base64_urls=base64_urls,
            copy=False,  # serialised at once, never changed
        )
        return json_response(200, wire)

    def update(request: Request, params: Mapping[str, str]) -> Response:
        user_id = user(request)
        given = parse_update(_json_body(request, max_body))
        task = service.update(user_id, params["task_id"], given)
        return json_response(200, task_response(task, task_url=url(task.task_id)))

    def cancel(request: Request, params: Mapping[str, str]) -> Response:
        service.cancel(user(request), params["task_id"])
        return text_response(200, "Task cancelled")

    def delete(request: Request, params: Mapping[str, str]) -> Response:
        service.delete(user(request), params["task_id"])
        return text_response(200, "Task deleted")

    return Router(
        [
            Route("POST", PREFIX + "/parse", create),
            Route("GET", PREFIX + "/{task_id}", get),
            Route("DELETE", PREFIX + "/{task_id}", delete),
            Route("PATCH", PREFIX + "/{task_id}/parse", update),
            Route("GET", PREFIX + "/{task_id}/cancel", cancel),
        ],
        render_error,
    )
