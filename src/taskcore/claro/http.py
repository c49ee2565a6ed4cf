"""The Claro tasks API over sans-IO HTTP (Claro API reference, Tasks).

:func:`claro_router` answers the four documented endpoints with Bearer authentication:

| method | path | answer |
| --- | --- | --- |
| POST | ``/api/v2/datasets/{datasetId}/tasks/new-rows`` | 201, the create response |
| POST | ``/api/v2/datasets/{datasetId}/tasks/bulk`` | 201, the create response |
| GET | ``/api/v2/datasets/{datasetId}/tasks/{taskId}`` | 200, the status response |
| DELETE | ``/api/v2/datasets/{datasetId}/tasks/{taskId}`` | 200, the cancel response |

Errors are the documented body ``{"error", "code", "details"}`` with taskcore's statuses
(docs/claro.md, "HTTP, sans-IO"); a missing or unknown key is 401 with
``WWW-Authenticate: Bearer``, ``QUOTA_EXCEEDED`` is 429 with ``Retry-After``.  An optional
``Idempotency-Key`` header (:func:`taskcore.http.idempotency_key`) makes a create safe to
retry.  The router never raises and never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskcore.claro.service import ClaroTasks
from taskcore.claro.wire import cancel_response, created_response
from taskcore.errors import TaskcoreError, Unauthorized, ValidationError
from taskcore.http import (
    Request,
    Response,
    Route,
    Router,
    bearer_token,
    idempotency_key,
    json_response,
)

__all__ = ["PREFIX", "claro_router", "render_error"]

PREFIX = "/api/v2/datasets"


def render_error(error: TaskcoreError) -> Response:
    """The documented Claro error body with the error's HTTP status."""
    return json_response(error.status, error.to_wire())


def claro_router(service: ClaroTasks, api_keys: Mapping[str, str]) -> Router:
    """Build the Claro router.

    Args:
        service: the service that answers.
        api_keys: Bearer token -> account id.

    Returns:
        A :class:`~taskcore.http.Router` whose 401 answers challenge with ``Bearer``.
    """

    def account(request: Request) -> str:
        token = bearer_token(request)
        account_id = api_keys.get(token)
        if account_id is None:
            raise Unauthorized("Unknown API key")
        return account_id

    def inputs(request: Request, account_id: str, dataset_id: str) -> tuple[Any, str | None]:
        """The body and the idempotency key; a malformed one is refused only after the
        dataset check (order of checks: dataset exists, then input valid)."""
        try:
            return request.json(), idempotency_key(request)
        except ValidationError:
            service.check_dataset(account_id, dataset_id)
            raise

    def create(kind: str) -> Any:
        def handler(request: Request, params: Mapping[str, str]) -> Response:
            account_id = account(request)
            dataset_id = params["dataset_id"]
            create = service.create_new_rows if kind == "new_rows" else service.create_bulk
            body, key = inputs(request, account_id, dataset_id)
            task = create(account_id, dataset_id, body, idempotency_key=key)
            return json_response(201, created_response(task))

        return handler

    def get(request: Request, params: Mapping[str, str]) -> Response:
        wire = service.status(account(request), params["dataset_id"], params["task_id"])
        return json_response(200, wire)

    def cancel(request: Request, params: Mapping[str, str]) -> Response:
        task = service.cancel(account(request), params["dataset_id"], params["task_id"])
        return json_response(200, cancel_response(task))

    return Router(
        [
            Route("POST", PREFIX + "/{dataset_id}/tasks/new-rows", create("new_rows")),
            Route("POST", PREFIX + "/{dataset_id}/tasks/bulk", create("bulk")),
            Route("GET", PREFIX + "/{dataset_id}/tasks/{task_id}", get),
            Route("DELETE", PREFIX + "/{dataset_id}/tasks/{task_id}", cancel),
        ],
        render_error,
        auth_scheme="Bearer",
    )
