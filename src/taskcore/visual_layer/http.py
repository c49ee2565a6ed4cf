"""The Visual Layer Task Manager API over sans-IO HTTP.

:func:`visual_layer_router` answers the four documented endpoints:

| method | path | answer |
| --- | --- | --- |
| GET | ``/api/v1/tasks`` | 200, ``{"tasks", "total", "page", "page_size"}`` |
| GET | ``/api/v1/tasks/filters`` | 200, the filter options object |
| POST | ``/api/v1/tasks/{task_id}/abort`` | 200, the task object, ``ABORTED`` |
| POST | ``/api/v1/tasks/{task_id}/retry`` | 200, the task object, ``INITIALIZING`` |

Authentication is ``Authorization: Bearer <jwt>``; the token names a user (an email) in
the ``tokens`` mapping; a missing, malformed or unknown token is 401.  Every refusal is
``{"detail": "..."}`` with the documented status (400, 401, 404, 409, 422, 500).  Query
parameters the documentation does not name are ignored; a documented one with a bad
value is 422 naming it; a ``task_id`` that is not a UUID is 422.  The router never
raises and never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskcore.errors import TaskcoreError, Unauthorized
from taskcore.http import Request, Response, Route, Router, bearer_token, json_response
from taskcore.visual_layer.errors import detail_body
from taskcore.visual_layer.service import VisualLayerTasks, valid_user
from taskcore.visual_layer.task import LIST_QUERY, TaskQuery, canonical_uuid
from taskcore.visual_layer.wire import filter_options_response, list_response, task_object

__all__ = ["FILTER_PARAMETERS", "LIST_PARAMETERS", "PREFIX", "render_error", "visual_layer_router"]

PREFIX = "/api/v1/tasks"
LIST_PARAMETERS = tuple(LIST_QUERY)
"""The documented query parameters of ``GET /api/v1/tasks``."""
FILTER_PARAMETERS = ("start_time_from", "start_time_to")
"""The query parameters of ``GET /api/v1/tasks/filters`` (the time window)."""


def render_error(error: TaskcoreError) -> Response:
    """The Visual Layer error: ``{"detail": message}`` with the error's status."""
    return json_response(error.status, detail_body(error))


def visual_layer_router(service: VisualLayerTasks, tokens: Mapping[str, str]) -> Router:
    """Build the Visual Layer router.

    Args:
        service: the service that answers.
        tokens: bearer token -> the user (email) it authenticates.

    Returns:
        A :class:`~taskcore.http.Router`.
    """

    def user(request: Request) -> str:
        found = tokens.get(bearer_token(request))
        # No such token, or one naming nobody (an empty or unusable user name).
        if not isinstance(found, str) or not found or not valid_user(found):
            raise Unauthorized("Could not validate credentials")
        return found

    def query(request: Request, names: tuple[str, ...]) -> TaskQuery:
        return TaskQuery.build(**{n: request.query[n] for n in names if n in request.query})

    def list_tasks(request: Request, params: Mapping[str, str]) -> Response:
        caller = user(request)
        return json_response(
            200, list_response(service.list(caller, query(request, LIST_PARAMETERS)))
        )

    def filters(request: Request, params: Mapping[str, str]) -> Response:
        caller = user(request)
        options = service.filter_options(caller, query(request, FILTER_PARAMETERS))
        return json_response(200, filter_options_response(options))

    def abort(request: Request, params: Mapping[str, str]) -> Response:
        caller = user(request)
        task_id = canonical_uuid("task_id", params["task_id"])
        return json_response(200, task_object(service.abort(caller, task_id)))

    def retry(request: Request, params: Mapping[str, str]) -> Response:
        caller = user(request)
        task_id = canonical_uuid("task_id", params["task_id"])
        return json_response(200, task_object(service.retry(caller, task_id)))

    return Router(
        [
            Route("GET", PREFIX, list_tasks),
            Route("GET", PREFIX + "/filters", filters),
            Route("POST", PREFIX + "/{task_id}/abort", abort),
            Route("POST", PREFIX + "/{task_id}/retry", retry),
        ],
        render_error,
        auth_scheme="Bearer",
    )
