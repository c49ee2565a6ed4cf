"""What every API's document is built from: operations keyed by route, and the builder.

An :class:`Operation` describes one ``(method, pattern)`` of a router: its success
responses, the error statuses its handler can give, its parameters and request body.
:func:`build` walks the router's own :class:`~taskcore.http.Route` table, so a path or
method is never listed twice: a route without an operation, or an operation without a
route, is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from taskcore.http import Router

JSON = "application/json"
TEXT = "text/plain"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_REASONS = {
    200: "OK",
    201: "Created",
    207: "Multi-Status: some issues were not accepted by the external tracker",
    400: "Bad request: invalid input, or the task's status refuses the operation",
    401: "Missing or unknown API key",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large (the server adapter's limit)",
    415: "Unsupported Content-Type (the server adapter's check): send application/json",
    422: "Invalid parameter",
    429: "Too many requests: retry after Retry-After seconds",
    500: "Internal error (logged; nothing of it is shown)",
    503: "The store is busy: retry after Retry-After seconds",
}
COMMON_ERRORS = (401, 500, 503)
"""Statuses every operation can answer: a bad key, a bug, a busy store."""
BODY_ERRORS = (413, 415)
"""Statuses the HTTP server adapters (taskcore.asgi, taskcore.wsgi) answer for a request
body, before the router sees it: too large, or not JSON."""


def ref(name: str) -> dict[str, str]:
    """A ``$ref`` to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null``."""
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [dict(schema), {"type": "null"}]}
    kind = schema["type"]
    kinds = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    widened = {**schema, "type": kinds}
    if "enum" in widened:
        widened["enum"] = [*widened["enum"], None]
    return widened


def obj(properties: Mapping[str, Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A closed object schema; ``required`` defaults to every property."""
    names = tuple(properties) if required is None else required
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if names:
        schema["required"] = list(names)
    schema["additionalProperties"] = False
    return schema


@attrs.frozen
class Operation:
    """One documented operation.

    Attributes:
        operation_id: the OpenAPI ``operationId``.
        summary: one line.
        success: status -> ``(media type, schema)`` of each success answer.
        errors: the error statuses the handler can give (besides :data:`COMMON_ERRORS`).
        parameters: query and header parameter objects.
        body: the request body's schema, or ``None`` for no body.
        body_required: whether the body must be sent.
        path_schemas: a path placeholder -> its schema (default: a non-empty string).
        links: a success status -> OpenAPI links from its answer to other operations
            (link name -> ``(operationId, {parameter: runtime expression})``).
    """

    operation_id: str
    summary: str
    success: Mapping[int, tuple[str, Mapping[str, Any]]]
    errors: tuple[int, ...] = ()
    parameters: tuple[Mapping[str, Any], ...] = ()
    body: Mapping[str, Any] | None = None
    body_required: bool = True
    path_schemas: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    links: Mapping[int, Mapping[str, tuple[str, Mapping[str, str]]]] = attrs.field(factory=dict)


@attrs.frozen
class ApiSpec:
    """What one API's document says besides its routes.

    Attributes:
        name: ``claro``, ``sendai``, ``chunkr`` or ``visual_layer``.
        title: the document's title.
        description: its description (Markdown).
        router: builds the router whose route table gives the paths.
        operations: ``(method, pattern)`` -> operation.
        error_media: the media type of the API's error bodies.
        error_schema: the API's error body schema.
        security_scheme: the OpenAPI security scheme object.
        schemas: the component schemas.
        webhooks: the ``webhooks`` object (OpenAPI 3.1), if any.
    """

    name: str
    title: str
    description: str
    router: Callable[[], Router]
    operations: Mapping[tuple[str, str], Operation]
    error_media: str
    error_schema: Mapping[str, Any]
    security_scheme: Mapping[str, Any]
    schemas: Mapping[str, Any]
    webhooks: Mapping[str, Any] = attrs.field(factory=dict)


def _header(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": dict(schema)}


def _error(spec: ApiSpec, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _REASONS[status],
        "content": {spec.error_media: {"schema": dict(spec.error_schema)}},
    }
    headers: dict[str, Any] = {}
    if status == 401 and spec.security_scheme.get("scheme") == "bearer":
        headers["WWW-Authenticate"] = _header(
            "The scheme to authenticate with", {"type": "string", "const": "Bearer"}
        )
    if status in (429, 503):
        headers["Retry-After"] = _header(
            "Whole seconds to wait before retrying", {"type": "string", "pattern": "^[0-9]+$"}
        )
    if headers:
        response["headers"] = headers
    return response


def _operation(spec: ApiSpec, pattern: str, op: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(op.path_schemas.get(name, {"type": "string", "minLength": 1})),
        }
        for name in _PLACEHOLDER.findall(pattern)
    ]
    parameters += [dict(p) for p in op.parameters]
    responses: dict[str, Any] = {
        str(status): {
            "description": _REASONS[status],
            "content": {media: {"schema": dict(schema)}},
        }
        for status, (media, schema) in op.success.items()
    }
    # A placeholder that names nothing (``..``, ``%2F``) is 404 on every API.
    path_errors = (404,) if parameters and parameters[0]["in"] == "path" else ()
    for status, links in op.links.items():
        responses[str(status)]["links"] = {
            name: {"operationId": target, "parameters": dict(given)}
            for name, (target, given) in links.items()
        }
    body_errors = BODY_ERRORS if op.body is not None else ()
    for status in sorted({*op.errors, *COMMON_ERRORS, *path_errors, *body_errors}):
        responses[str(status)] = _error(spec, status)
    document: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": dict(op.body)}},
        }
    document["responses"] = responses
    return document


def build(spec: ApiSpec, router: Router, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``spec``, paths and methods from ``router``'s routes.

    Raises:
        LookupError: a route has no operation, or an operation no route.
    """
    paths: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for route in router.routes:
        key = (route.method, route.pattern)
        op = spec.operations.get(key)
        if op is None:
            raise LookupError(f"{spec.name}: route {route.method} {route.pattern} is undeclared")
        seen.add(key)
        item = paths.setdefault(route.pattern, {})
        item[route.method.lower()] = _operation(spec, route.pattern, op)
    missing = sorted(set(spec.operations) - seen)
    if missing:
        raise LookupError(f"{spec.name}: operations without a route: {missing}")
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": spec.title, "version": version, "description": spec.description},
        "paths": paths,
    }
    if spec.webhooks:
        document["webhooks"] = dict(spec.webhooks)
    document["components"] = {
        "schemas": dict(spec.schemas),
        "securitySchemes": {"apiKey": dict(spec.security_scheme)},
    }
    document["security"] = [{"apiKey": []}]
    return document
