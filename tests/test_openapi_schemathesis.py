"""schemathesis against each API in-process: generated requests from each OpenAPI
document (taskcore.openapi), answered by the router through taskcore's ASGI adapter; no answer is a
5xx and every answer conforms to the document (status, media type, headers, body).

Bounded and derandomized (a fixed number of examples per operation), so CI does not
flake and the run stays short."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from openapi_apis import SERVED, Served, chunkr
from taskcore.asgi import asgi_app
from taskcore.http import Router
from taskcore.openapi import APIS, openapi_route

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _served(api: str) -> Served:
    served = chunkr(seeded=True) if api == "chunkr" else SERVED[api][0]()
    router = served.router
    served.router = Router(
        [*router.routes, openapi_route(api)], router.render_error, auth_scheme=router.auth_scheme
    )
    return served


SERVED_APIS = {api: _served(api) for api in APIS}
SCHEMAS = {
    api: schemathesis.openapi.from_asgi(f"/openapi/{api}.json", asgi_app(served.router))
    for api, served in SERVED_APIS.items()
}
BOUNDED = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _seed(api: str, case: Any) -> None:
    """For about half the cases (chosen by the generated path values, so derandomized),
    the path placeholders of seeded objects name seeded ids: generated requests then reach
    real datasets and tasks as well as missing ones."""
    served = SERVED_APIS[api]
    given = case.path_parameters or {}
    digest = zlib.crc32(repr(sorted(given.items())).encode("utf-8", "replace"))
    if digest % 2 == 0:
        for name in given:
            pool = served.ids.get(name)
            if pool:
                case.path_parameters[name] = pool[digest // 2 % len(pool)]


def _run(api: str, case: Any) -> None:
    _seed(api, case)
    case.call_and_validate(headers=SERVED_APIS[api].headers, checks=CHECKS)


@SCHEMAS["claro"].parametrize()
@BOUNDED
def test_claro_answers_conform(case: Any) -> None:
    _run("claro", case)


@SCHEMAS["sendai"].parametrize()
@BOUNDED
def test_sendai_answers_conform(case: Any) -> None:
    _run("sendai", case)


@SCHEMAS["chunkr"].parametrize()
@BOUNDED
def test_chunkr_answers_conform(case: Any) -> None:
    _run("chunkr", case)


@SCHEMAS["visual_layer"].parametrize()
@BOUNDED
def test_visual_layer_answers_conform(case: Any) -> None:
    _run("visual_layer", case)


def _machine(api: str) -> Any:
    """schemathesis' state machine for ``api``: it follows the document's links (a
    created task's id into its GET, cancel, delete...), with the API's key on every call
    and the checks above on every answer."""
    served = SERVED_APIS[api]
    base: Any = SCHEMAS[api].as_state_machine()

    class Machine(base):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            _seed(api, case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": served.headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, headers=served.headers)

    return Machine


@pytest.mark.parametrize("api", APIS)
def test_stateful_scenarios_conform(api: str) -> None:
    run_state_machine_as_test(
        _machine(api),
        settings=settings(
            max_examples=8,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
