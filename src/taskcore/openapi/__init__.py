"""OpenAPI 3.1 documents of the four APIs, generated from the code that serves them.

One document per API (docs/server.md, "OpenAPI"):

- the paths and methods are the router's own :class:`~taskcore.http.Route` table;
- request bodies and query parameters are the very tables the wire layer parses with
  (Claro's create bodies, the Visual Layer list query, Chunkr's configuration fields);
- every operation declares each status its handler can answer, with the API's own error
  body (Claro ``{error, code, details}``, Send AI ``{code, message}``, Visual Layer
  ``{detail}``, Chunkr plain text), ``WWW-Authenticate`` on 401 for the Bearer APIs and
  ``Retry-After`` on 429 and 503;
- component schemas give the task objects and envelopes key for key, closed
  (``additionalProperties: false``).

``taskcore docs DIR`` writes them to ``DIR/openapi/<api>.json``; a server mounts
:func:`openapi_route` to answer ``GET /openapi/<api>.json``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from taskcore import __version__
from taskcore.http import Request, Response, Route, Router
from taskcore.openapi._apis import SPECS
from taskcore.openapi._spec import ApiSpec, build

__all__ = ["APIS", "document", "document_path", "openapi_route", "rendered_documents"]

APIS: tuple[str, ...] = tuple(SPECS)
"""The APIs with a document: ``claro``, ``sendai``, ``chunkr``, ``visual_layer``."""


def _spec(api: str) -> ApiSpec:
    spec = SPECS.get(api)
    if spec is None:
        raise ValueError(f"unknown API {api!r}; one of {', '.join(APIS)}")
    return spec


@cache
def _default(api: str) -> str:
    """The document of ``api`` for its default router, as JSON text (built once)."""
    spec = _spec(api)
    router = spec.router()
    return json.dumps(build(spec, router, __version__), ensure_ascii=False)


def document(api: str, router: Router | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``api``.

    Args:
        api: ``claro``, ``sendai``, ``chunkr`` or ``visual_layer``.
        router: the router to read the paths from; by default one built on an empty
            in-memory service (routes do not depend on the service).

    Returns:
        A fresh JSON-compatible dict (the caller may change it).

    Raises:
        ValueError: ``api`` is not one of :data:`APIS`.
        LookupError: ``router`` has a route the API does not declare, or lacks one.
    """
    if router is None:
        loaded: dict[str, Any] = json.loads(_default(api))
        return loaded
    return copy.deepcopy(build(_spec(api), router, __version__))


def document_path(api: str) -> str:
    """Where a server answers ``api``'s document: ``/openapi/<api>.json``.

    Raises:
        ValueError: ``api`` is not one of :data:`APIS`.
    """
    _spec(api)
    return f"/openapi/{api}.json"


def openapi_route(api: str) -> Route:
    """A route answering ``GET /openapi/<api>.json`` with ``api``'s document (200,
    ``application/json``); mount it beside the API's router.

    Raises:
        ValueError: ``api`` is not one of :data:`APIS`.
    """
    path = document_path(api)
    body = _default(api).encode("utf-8")

    def handler(request: Request, params: Mapping[str, str]) -> Response:
        return Response(200, {"content-type": "application/json"}, body)

    return Route("GET", path, handler)


def rendered_documents() -> dict[str, str]:
    """Every document as the text ``taskcore docs`` writes, by path relative to the docs
    folder (``openapi/claro.json``): indented, keys in the code's order, a final newline."""
    return {
        f"openapi/{api}.json": json.dumps(document(api), indent=2, ensure_ascii=False) + "\n"
        for api in APIS
    }
