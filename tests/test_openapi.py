"""The OpenAPI documents (taskcore.openapi): valid OpenAPI 3.1, paths from the routers'
route tables, the golden examples valid against their component schemas, and every answer
the routers give to the documented requests declared and conforming (docs/server.md,
"OpenAPI")."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from openapi_apis import SERVED, Served
from taskcore.docs import rendered_docs
from taskcore.http import Request, Response, Route, Router
from taskcore.openapi import APIS, document, document_path, openapi_route, rendered_documents
from taskcore.openapi._apis import SPECS

GOLDEN = Path(__file__).parent / "golden"
DOCS = {api: document(api) for api in APIS}

# Golden file -> (API, component schema): every JSON example in tests/golden/.
GOLDEN_SCHEMAS = {
    "create_new_rows_task.success.json": ("claro", "CreatedTask"),
    "create_new_rows_task.dataset_locked_error.json": ("claro", "Error"),
    "create_bulk_processing_task.success.json": ("claro", "CreatedTask"),
    "create_bulk_processing_task.invalid_selection_error.json": ("claro", "Error"),
    "get_task_status.success_in_progress.json": ("claro", "TaskStatus"),
    "get_task_status.success_completed.json": ("claro", "TaskStatus"),
    "get_task_status.task_not_found_error.json": ("claro", "Error"),
    "cancel_task.success.json": ("claro", "CancelResponse"),
    "cancel_task.cannot_cancel_error.json": ("claro", "Error"),
    "webhook_notifications.payload.json": ("claro", "WebhookPayload"),
    "sendai/complete_task.invalid_state_error.json": ("sendai", "Error"),
    "sendai/complete_task.success.json": ("sendai", "CompleteResponse"),
    "sendai/complete_task.validation_failed_error.json": ("sendai", "Error"),
    "sendai/discard_task.success.json": ("sendai", "TaskEnvelope"),
    "sendai/get_task.not_found_error.json": ("sendai", "Error"),
    "sendai/get_task.success.json": ("sendai", "TaskEnvelope"),
    "sendai/get_task.unauthorized_error.json": ("sendai", "Error"),
    "sendai/report_task.created.json": ("sendai", "ReportResponse"),
    "sendai/report_task.multi_status.json": ("sendai", "ReportResponse"),
    "sendai/unlock_task.exported_error.json": ("sendai", "Error"),
    "sendai/unlock_task.success.json": ("sendai", "TaskEnvelope"),
    "visual_layer/get_filter_options.response.json": ("visual_layer", "FilterOptions"),
    "visual_layer/list_tasks.response.json": ("visual_layer", "TaskList"),
    **{
        f"chunkr/{path.name}": ("chunkr", "TaskResponse")
        for path in sorted((GOLDEN / "chunkr").glob("*.json"))
    },
}


def validator(api: str, schema: Any) -> Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` refs resolve in ``api``'s
    document."""
    return Draft202012Validator({**schema, "components": DOCS[api]["components"]})


def errors(api: str, schema: Any, value: Any) -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message}" for e in validator(api, schema).iter_errors(value)
    ]


@pytest.mark.parametrize("api", APIS)
def test_each_document_is_valid_openapi_3_1(api: str) -> None:
    OpenAPIV31SpecValidator(DOCS[api]).validate()
    assert "3.1.0" == DOCS[api]["openapi"]


@pytest.mark.parametrize("api", APIS)
def test_paths_and_methods_are_the_routers_route_table(api: str) -> None:
    router = SPECS[api].router()
    expected = sorted((r.pattern, r.method.lower()) for r in router.routes)
    declared = sorted((p, m) for p, item in DOCS[api]["paths"].items() for m in item)
    assert expected == declared


@pytest.mark.parametrize("api", APIS)
def test_every_component_schema_is_valid_json_schema(api: str) -> None:
    for schema in DOCS[api]["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_golden_json_file_has_a_schema() -> None:
    """Every golden response example (``requests/`` holds the documents' request
    examples, sent over a socket by the server tests)."""
    files = sorted(
        str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.json") if p.parent.name != "requests"
    )
    assert files == sorted(GOLDEN_SCHEMAS)


@pytest.mark.parametrize(("name", "where"), sorted(GOLDEN_SCHEMAS.items()))
def test_every_golden_example_validates_against_its_component(
    name: str, where: tuple[str, str]
) -> None:
    api, component = where
    value = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert [] == errors(api, {"$ref": f"#/components/schemas/{component}"}, value)


def test_the_schemas_are_closed_so_an_unknown_key_is_refused() -> None:
    value = json.loads((GOLDEN / "cancel_task.success.json").read_text(encoding="utf-8"))
    assert errors("claro", {"$ref": "#/components/schemas/CancelResponse"}, {**value, "x": 1})


def test_request_bodies_and_query_come_from_the_parsers_tables() -> None:
    from taskcore.chunkr.wire import CREATE_FIELDS
    from taskcore.claro.wire import BULK_FIELDS, NEW_ROWS_FIELDS
    from taskcore.sendai.wire import COMPLETE_FIELDS, REPORT_FIELDS
    from taskcore.visual_layer.task import LIST_QUERY

    claro = DOCS["claro"]["components"]["schemas"]["NewRowsRequest"]
    assert NEW_ROWS_FIELDS == claro["properties"]
    listing = DOCS["visual_layer"]["paths"]["/api/v1/tasks"]["get"]["parameters"]
    assert LIST_QUERY == {p["name"]: p["schema"] for p in listing}
    config = DOCS["chunkr"]["components"]["schemas"]["Configuration"]["properties"]
    assert {"type": ["string", "null"], "enum": ["All", "Auto", None]} == config["ocr_strategy"]
    assert BULK_FIELDS == DOCS["claro"]["components"]["schemas"]["BulkRequest"]["properties"]
    sendai = DOCS["sendai"]["components"]["schemas"]
    assert REPORT_FIELDS == sendai["ReportRequest"]["properties"]
    assert COMPLETE_FIELDS == sendai["CompleteRequest"]["properties"]
    create = DOCS["chunkr"]["components"]["schemas"]["CreateForm"]["properties"]
    assert CREATE_FIELDS["file"] == create["file"]


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[a-z_]+\})", template)
    ) + r"\Z")  # fmt: skip


class Conformance:
    """Checks each answer against the document: its status is declared for the path
    and method, its media type and body match, its declared headers are there."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], set[int]] = defaultdict(set)

    def __call__(self, api: str, request: Request, response: Response) -> None:
        doc = DOCS[api]
        matches = [p for p in doc["paths"] if _pattern(p).match(request.path)]
        assert matches, request.path
        operation = doc["paths"][matches[0]][request.method.lower()]
        status = str(response.status)
        where = f"{request.method} {request.path} -> {status}: {response.body[:200]!r}"
        assert status in operation["responses"], where
        declared = operation["responses"][status]
        media = response.headers["content-type"].partition(";")[0]
        assert media in declared["content"], where
        body = response.json() if media == "application/json" else response.body.decode()
        assert [] == errors(api, declared["content"][media]["schema"], body), where
        for name, header in declared.get("headers", {}).items():
            value = response.headers.get(name.lower())
            assert value is not None, f"{where}: no {name}"
            assert [] == errors(api, header["schema"], value), where
        self.seen[(api, matches[0], request.method.lower())].add(response.status)


@pytest.mark.parametrize("api", APIS)
def test_the_routers_answers_to_documented_requests_conform(api: str) -> None:
    build, scenario = SERVED[api]
    served: Served = build()
    checker = Conformance()
    scenario(served.caller(checker), served)
    for path, item in DOCS[api]["paths"].items():
        for method in item:  # every operation answered with success at least once
            assert checker.seen[(api, path, method)] & {200, 201}, (path, method)
    # ... and every status the document declares was given, but for a bug's 500 and a
    # busy store's 503, which no scenario causes, and the server adapters' 413 and 415,
    # which the sans-IO router never answers.
    statuses = set().union(*checker.seen.values())
    assert {int(s) for item in DOCS[api]["paths"].values() for op in item.values()
            for s in op["responses"]} - {500, 503, 413, 415} <= statuses  # fmt: skip


def test_a_route_the_api_does_not_declare_is_refused() -> None:
    router = SPECS["claro"].router()
    extra = Router([*router.routes, Route("GET", "/extra", router.routes[0].handler)], print)  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="GET /extra"):
        document("claro", extra)


def test_a_declared_operation_without_a_route_is_refused() -> None:
    router = SPECS["claro"].router()
    fewer = Router(list(router.routes[1:]), router.render_error)
    with pytest.raises(LookupError, match="without a route"):
        document("claro", fewer)


def test_a_router_given_gives_the_same_document() -> None:
    assert DOCS["sendai"] == document("sendai", SPECS["sendai"].router())


def test_an_unknown_api_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown API 'stripe'"):
        document("stripe")
    with pytest.raises(ValueError, match="unknown API"):
        openapi_route("stripe")


@pytest.mark.parametrize("api", APIS)
def test_the_route_serves_the_document_at_openapi_api_json(api: str) -> None:
    route = openapi_route(api)
    assert f"/openapi/{api}.json" == document_path(api) == route.pattern
    response = Router([route], print).handle(Request("GET", f"/openapi/{api}.json"))  # type: ignore[arg-type]
    assert (200, "application/json") == (response.status, response.headers["content-type"])
    assert DOCS[api] == response.json()


def test_document_gives_a_fresh_copy() -> None:
    document("claro")["paths"].clear()
    assert DOCS["claro"] == document("claro")


def test_taskcore_docs_writes_every_document_with_a_final_newline() -> None:
    written = rendered_docs()
    for api in APIS:
        text = written[f"openapi/{api}.json"]
        assert text.endswith("}\n")
        assert DOCS[api] == json.loads(text)
    assert rendered_documents().items() <= written.items()


@pytest.mark.parametrize("api", APIS)
def test_every_link_names_an_operation_and_its_parameters(api: str) -> None:
    operations = {
        op["operationId"]: {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        for item in DOCS[api]["paths"].values()
        for op in item.values()
    }
    links = [
        link
        for item in DOCS[api]["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert links
    for link in links:
        assert set(link["parameters"]) == operations[link["operationId"]]
