"""The four APIs' operations and component schemas.

Request bodies and query parameters come from the tables the wire layer parses with
(:data:`taskcore.claro.wire.NEW_ROWS_FIELDS`, :data:`~taskcore.claro.wire.BULK_FIELDS`,
:data:`taskcore.visual_layer.task.LIST_QUERY`, the Chunkr ``*_FIELDS`` tables with
:func:`taskcore.chunkr.configuration.field_schema`, the Send AI bounds); response schemas
are the wire functions' shapes, key for key (docs/claro.md, docs/sendai.md, docs/chunkr.md,
docs/visual-layer.md, "Wire format").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskcore.chunkr import configuration as chunkr_config
from taskcore.chunkr.http import PREFIX as CHUNKR
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.lifecycle import ChunkrStatus
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.wire import CREATE_FIELDS
from taskcore.claro.http import PREFIX as CLARO
from taskcore.claro.http import claro_router
from taskcore.claro.lifecycle import ClaroStatus
from taskcore.claro.service import ClaroTasks
from taskcore.claro.task import TaskType as ClaroType
from taskcore.claro.wire import BULK_FIELDS, NEW_ROWS_FIELDS, NEW_ROWS_REQUIRED
from taskcore.http import MAX_IDEMPOTENCY_KEY_LENGTH
from taskcore.openapi._spec import JSON, TEXT, ApiSpec, Operation, nullable, obj, ref
from taskcore.sendai.http import TASK_PATH, sendai_router
from taskcore.sendai.lifecycle import SendAIStatus
from taskcore.sendai.service import SendAITasks
from taskcore.sendai.task import StepType
from taskcore.sendai.wire import (
    COMPLETE_FIELDS,
    PROCESSING_STARTED,
    REPORT_FIELDS,
    REPORT_REQUIRED,
)
from taskcore.visual_layer.http import FILTER_PARAMETERS, LIST_PARAMETERS, visual_layer_router
from taskcore.visual_layer.http import PREFIX as VISUAL_LAYER
from taskcore.visual_layer.lifecycle import TaskType as VisualLayerType
from taskcore.visual_layer.lifecycle import VisualLayerStatus
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.visual_layer.task import LIST_QUERY, DatasetStatus

__all__ = ["SPECS"]

_STRING = {"type": "string"}
_INSTANT = {"type": "string", "format": "date-time"}
_INT = {"type": "integer"}
_COUNT = {"type": "integer", "minimum": 0}
_BEARER = {"type": "http", "scheme": "bearer"}


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [v.value for v in values]}


# -- Claro ----------------------------------------------------------------------------------

_CLARO_HEAD = {
    "taskId": _STRING,
    "datasetId": _STRING,
    "type": _enum(ClaroType),
    "status": _enum(ClaroStatus),
}
_CLARO_SIZE = {
    "rowCount": _COUNT,
    "targetCells": _COUNT,
    "processOnlyEmpty": {"type": "boolean"},
}
_CLARO_RESULTS = {
    "processedCells": _COUNT,
    "successfulCells": _COUNT,
    "failedCells": _COUNT,
    "newRowsCreated": _COUNT,
}
_CLARO_SCHEMAS: dict[str, Any] = {
    "NewRowsRequest": obj(NEW_ROWS_FIELDS, NEW_ROWS_REQUIRED),
    "BulkRequest": obj(BULK_FIELDS, ()),
    "CreatedTask": obj(
        {
            **_CLARO_HEAD,
            **_CLARO_SIZE,
            "estimatedDuration": _STRING,
            "createdAt": _INSTANT,
            "webhookId": _STRING,
        },
        (*_CLARO_HEAD, "estimatedDuration", "createdAt"),
    ),
    "Progress": obj({"completed": _COUNT, "total": _COUNT, "percentage": _COUNT}),
    "Results": obj(_CLARO_RESULTS, ("processedCells", "successfulCells", "failedCells")),
    "TaskStatus": obj(
        {
            **_CLARO_HEAD,
            "progress": ref("Progress"),
            **_CLARO_SIZE,
            "results": ref("Results"),
            "estimatedDuration": _STRING,
            "estimatedCompletion": _INSTANT,
            "createdAt": _INSTANT,
            "startedAt": _INSTANT,
            "completedAt": _INSTANT,
            "cancelledAt": _INSTANT,
            "failedAt": _INSTANT,
            "failureReason": _STRING,
            "webhookId": _STRING,
        },
        (*_CLARO_HEAD, "progress", "createdAt"),
    ),
    "CancelResponse": obj(
        {
            "message": {"type": "string", "const": "Task cancelled successfully"},
            "taskId": _STRING,
            "status": {"type": "string", "const": ClaroStatus.CANCELLED.value},
            "cancelledAt": _INSTANT,
        }
    ),
    "WebhookPayload": obj(
        {
            "taskId": _STRING,
            "datasetId": _STRING,
            "status": {"type": "string", "enum": ["completed", "failed"]},
            "type": _enum(ClaroType),
            "completedAt": _INSTANT,
            "results": ref("Results"),
            "failedAt": _INSTANT,
            "failureReason": _STRING,
        },
        ("taskId", "datasetId", "status", "type"),
    ),
    "Error": obj(
        {
            "error": _STRING,
            "code": _STRING,
            "details": {"type": "object", "properties": {"message": _STRING}},
        }
    ),
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a create safe to retry: the same key and body answer the same task",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
}
_CLARO_TASK = CLARO + "/{dataset_id}/tasks/{task_id}"
_CLARO_CREATE_ERRORS = (400, 404, 409, 429)
_CLARO_CREATED = {"dataset_id": "$request.path.dataset_id", "task_id": "$response.body#/taskId"}
_CLARO_LINKS = {
    201: {
        "GetTaskStatus": ("getTaskStatus", _CLARO_CREATED),
        "CancelTask": ("cancelTask", _CLARO_CREATED),
    }
}
_CLARO = ApiSpec(
    name="claro",
    title="Claro tasks API (taskcore)",
    description="The Claro API reference's Tasks endpoints as taskcore serves them "
    "(docs/claro.md). Errors are `{error, code, details}`.",
    router=lambda: claro_router(ClaroTasks(), {}),
    operations={
        ("POST", CLARO + "/{dataset_id}/tasks/new-rows"): Operation(
            "createNewRowsTask",
            "Create a task that adds rows to a dataset",
            {201: (JSON, ref("CreatedTask"))},
            _CLARO_CREATE_ERRORS,
            (_IDEMPOTENCY_KEY,),
            ref("NewRowsRequest"),
            links=_CLARO_LINKS,
        ),
        ("POST", CLARO + "/{dataset_id}/tasks/bulk"): Operation(
            "createBulkProcessingTask",
            "Create a task that fills a selection of cells",
            {201: (JSON, ref("CreatedTask"))},
            _CLARO_CREATE_ERRORS,
            (_IDEMPOTENCY_KEY,),
            ref("BulkRequest"),
            links=_CLARO_LINKS,
        ),
        ("GET", _CLARO_TASK): Operation(
            "getTaskStatus", "A task's status and progress", {200: (JSON, ref("TaskStatus"))}
        ),
        ("DELETE", _CLARO_TASK): Operation(
            "cancelTask",
            "Cancel a queued or processing task",
            {200: (JSON, ref("CancelResponse"))},
            (409,),
        ),
    },
    error_media=JSON,
    error_schema=ref("Error"),
    security_scheme=_BEARER,
    schemas=_CLARO_SCHEMAS,
    webhooks={
        "taskFinished": {
            "post": {
                "summary": "A task completed or failed (signed with X-Webhook-Signature)",
                "requestBody": {"content": {JSON: {"schema": ref("WebhookPayload")}}},
                "responses": {"200": {"description": "Received"}},
            }
        }
    },
)

# -- Send AI --------------------------------------------------------------------------------

_PAGE_NUMBER = {"type": "integer", "minimum": 1}
_SENDAI_SCHEMAS: dict[str, Any] = {
    "Task": obj(
        {
            "id": _STRING,
            "name": _STRING,
            "created_at": _INSTANT,
            "meta": {"type": "array", "items": obj({"name": _STRING, "value": _STRING})},
            "status": _enum(SendAIStatus),
            "step_type": _enum(StepType),
            "upload_id": _STRING,
            "project_id": _STRING,
            "approved": {"type": "boolean"},
            "exported_at": nullable(_INSTANT),
            "export_failed_at": nullable(_INSTANT),
            "last_opened_at": nullable(_INSTANT),
            "pages": {"type": "array", "items": obj({"page_number": _PAGE_NUMBER})},
        }
    ),
    "TaskEnvelope": obj({"payload": ref("Task")}),
    "CompleteResponse": obj(
        {"payload": ref("Task"), "message": {"type": "string", "const": PROCESSING_STARTED}}
    ),
    "ReportResponse": obj(
        {
            "payload": ref("Task"),
            "failed_issues": {"type": "array", "items": obj({"label": _STRING, "value": _STRING})},
        },
        ("payload",),
    ),
    "CompleteRequest": obj(COMPLETE_FIELDS, ()),
    "ReportRequest": obj(REPORT_FIELDS, REPORT_REQUIRED),
    "EmptyRequest": {"type": "object", "maxProperties": 0},
    "Error": obj({"code": _STRING, "message": _STRING}),
}
_SENDAI_CHANGE = (400, 404)
_SENDAI_SAME = {
    "team_id": "$request.path.team_id",
    "project_id": "$request.path.project_id",
    "task_id": "$response.body#/payload/id",
}
_SENDAI_LINKS = {
    200: {
        name: (operation_id, _SENDAI_SAME)
        for name, operation_id in (
            ("GetTask", "getTask"),
            ("UnlockTask", "unlockTask"),
            ("CompleteTask", "completeTask"),
            ("DiscardTask", "discardTask"),
            ("ReportTask", "reportTask"),
        )
    }
}


def _sendai_change(operation_id: str, summary: str) -> Operation:
    return Operation(
        operation_id,
        summary,
        {200: (JSON, ref("TaskEnvelope"))},
        _SENDAI_CHANGE,
        body=ref("EmptyRequest"),
        body_required=False,
        links=_SENDAI_LINKS,
    )


_SENDAI = ApiSpec(
    name="sendai",
    title="Send AI Task Management API (taskcore)",
    description="The Send AI task endpoints as taskcore serves them (docs/sendai.md). "
    "Errors are `{code, message}`.",
    router=lambda: sendai_router(SendAITasks(), {}),
    operations={
        ("GET", TASK_PATH): Operation(
            "getTask", "A task", {200: (JSON, ref("TaskEnvelope"))}, (404,), links=_SENDAI_LINKS
        ),
        ("POST", TASK_PATH + "/unlock"): _sendai_change("unlockTask", "Unlock a task"),
        ("PUT", TASK_PATH + "/unlock"): _sendai_change("unlockTaskPut", "Unlock a task"),
        ("POST", TASK_PATH + "/complete"): Operation(
            "completeTask",
            "Complete a task's review, optionally correcting its meta fields",
            {200: (JSON, ref("CompleteResponse"))},
            _SENDAI_CHANGE,
            body=ref("CompleteRequest"),
            body_required=False,
        ),
        ("POST", TASK_PATH + "/discard"): _sendai_change("discardTask", "Discard a task"),
        ("PUT", TASK_PATH + "/discard"): _sendai_change("discardTaskPut", "Discard a task"),
        ("POST", TASK_PATH + "/report"): Operation(
            "reportTask",
            "Report issues with a task",
            {201: (JSON, ref("ReportResponse")), 207: (JSON, ref("ReportResponse"))},
            _SENDAI_CHANGE,
            body=ref("ReportRequest"),
        ),
    },
    error_media=JSON,
    error_schema=ref("Error"),
    security_scheme=_BEARER,
    schemas=_SENDAI_SCHEMAS,
)

# -- Chunkr ---------------------------------------------------------------------------------

_OBJECTS = {
    "ChunkProcessing": ("ChunkProcessing", chunkr_config.CHUNK_PROCESSING_FIELDS),
    "LlmProcessing": ("LlmProcessing", chunkr_config.LLM_PROCESSING_FIELDS),
    "GenerationConfig": ("GenerationConfig", chunkr_config.GENERATION_CONFIG_FIELDS),
}


def _field(parser: chunkr_config.Parser) -> dict[str, Any]:
    schema = chunkr_config.field_schema(parser)
    name = schema.pop("x-taskcore-object", None)
    return nullable(ref(name) if name is not None else schema)


def _fields(table: Mapping[str, chunkr_config.Parser]) -> dict[str, Any]:
    return {name: _field(parser) for name, parser in table.items()}


_CONFIG = _fields(chunkr_config.CONFIGURATION_FIELDS)
_TOKENIZER = chunkr_config.Tokenizer
_CHUNKR_SCHEMAS: dict[str, Any] = {
    "CreateForm": obj(
        {
            "file": CREATE_FIELDS["file"],
            "file_name": nullable(CREATE_FIELDS["file_name"]),
            **_CONFIG,
        },
        ("file",),
    ),
    "Configuration": obj(_CONFIG, ()),
    **{name: obj(_fields(table), ()) for name, (_, table) in _OBJECTS.items()},
    "SegmentProcessing": obj(
        {key: nullable(ref("GenerationConfig")) for key in chunkr_config.SEGMENT_KEYS}, ()
    ),
    "TokenizerType": {
        "oneOf": [
            obj({"Enum": _enum(_TOKENIZER)}),
            obj({"String": {"type": "string", "maxLength": chunkr_config.MAX_TEXT_LENGTH}}),
        ]
    },
    "FallbackStrategy": {
        "oneOf": [
            {"type": "string", "enum": ["None", "Default"]},
            obj({"Model": {"type": "string", "maxLength": chunkr_config.MAX_TEXT_LENGTH}}),
        ]
    },
    "OutputConfiguration": obj({**_CONFIG, "input_file_url": nullable(_STRING)}),
    "BoundingBox": obj({k: {"type": "number"} for k in ("left", "top", "width", "height")}),
    "Segment": obj(
        {
            "segment_id": _STRING,
            "segment_type": _enum(chunkr_config.SegmentType),
            "content": _STRING,
            "text": _STRING,
            "bbox": ref("BoundingBox"),
            "page_number": _INT,
            "page_width": {"type": "number"},
            "page_height": {"type": "number"},
            "confidence": nullable({"type": "number"}),
            "html": nullable(_STRING),
            "markdown": nullable(_STRING),
            "ocr": {"type": "array", "maxItems": 0},
        }
    ),
    "Chunk": obj(
        {
            "chunk_id": _STRING,
            "chunk_length": _COUNT,
            "segments": {"type": "array", "items": ref("Segment")},
            "content": nullable(_STRING),
            "embed": nullable(_STRING),
        }
    ),
    "Output": obj(
        {
            "chunks": {"type": "array", "items": ref("Chunk")},
            "file_name": nullable(_STRING),
            "page_count": nullable(_COUNT),
            "pdf_url": nullable(_STRING),
            "mime_type": nullable(_STRING),
            "pages": {"type": "null"},
        }
    ),
    "TaskResponse": obj(
        {
            "task_id": _STRING,
            "status": _enum(ChunkrStatus),
            "message": _STRING,
            "created_at": _INSTANT,
            "started_at": nullable(_INSTANT),
            "finished_at": nullable(_INSTANT),
            "expires_at": nullable(_INSTANT),
            "configuration": ref("OutputConfiguration"),
            "output": nullable(ref("Output")),
            "task_url": {"type": "string", "format": "uri"},
        }
    ),
}


def _flag(name: str, default: bool, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "enum": ["true", "false"], "default": str(default).lower()},
    }


_CHUNKR_TASK = CHUNKR + "/{task_id}"
_CHUNKR_SAME = {"task_id": "$response.body#/task_id"}
_CHUNKR_LINKS = {
    200: {
        name: (operation_id, _CHUNKR_SAME)
        for name, operation_id in (
            ("GetTask", "getTask"),
            ("UpdateTask", "updateTask"),
            ("CancelTask", "cancelTask"),
            ("DeleteTask", "deleteTask"),
        )
    }
}
_PLAIN = {"type": "string"}
_CHUNKR = ApiSpec(
    name="chunkr",
    title="Chunkr task API (taskcore)",
    description="The Chunkr TaskApi as taskcore serves it (docs/chunkr.md). The key is the "
    "whole `Authorization` header; every error is a `text/plain` message.",
    router=lambda: chunkr_router(ChunkrTasks(), {}),
    operations={
        ("POST", CHUNKR + "/parse"): Operation(
            "createTask",
            "Create a parse task",
            {200: (JSON, ref("TaskResponse"))},
            (400, 429),
            body=ref("CreateForm"),
            links=_CHUNKR_LINKS,
        ),
        ("GET", _CHUNKR_TASK): Operation(
            "getTask",
            "A task, with its output once it succeeded",
            {200: (JSON, ref("TaskResponse"))},
            (400,),
            (
                _flag("include_chunks", True, "false answers output.chunks as []"),
                _flag("base64_urls", False, "true gives a base64 input as a data: URL"),
            ),
        ),
        ("DELETE", _CHUNKR_TASK): Operation(
            "deleteTask",
            "Delete a task that is not running",
            {200: (TEXT, {"type": "string", "const": "Task deleted"})},
            (400,),
        ),
        ("PATCH", _CHUNKR_TASK + "/parse"): Operation(
            "updateTask",
            "Re-run a finished task with a changed configuration",
            {200: (JSON, ref("TaskResponse"))},
            (400,),
            body=ref("Configuration"),
            links=_CHUNKR_LINKS,
        ),
        ("GET", _CHUNKR_TASK + "/cancel"): Operation(
            "cancelTask",
            "Cancel a task that has not started",
            {200: (TEXT, {"type": "string", "const": "Task cancelled"})},
            (400,),
        ),
    },
    error_media=TEXT,
    error_schema=_PLAIN,
    security_scheme={"type": "apiKey", "in": "header", "name": "Authorization"},
    schemas=_CHUNKR_SCHEMAS,
)

# -- Visual Layer ---------------------------------------------------------------------------


def _query(names: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"name": name, "in": "query", "required": False, "schema": dict(LIST_QUERY[name])}
        for name in names
    )


_VL_SCHEMAS: dict[str, Any] = {
    "Task": obj(
        {
            "task_id": {"type": "string", "format": "uuid"},
            "dataset_id": _STRING,
            "dataset_name": _STRING,
            "dataset_status": _enum(DatasetStatus),
            "created_by": _STRING,
            "task_type": _enum(VisualLayerType),
            "status": _enum(VisualLayerStatus),
            "status_message": _STRING,
            "progress_percentage": nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "error_message": nullable(_STRING),
            "start_time": _INSTANT,
            "end_time": nullable(_INSTANT),
        }
    ),
    "TaskList": obj(
        {
            "tasks": {"type": "array", "items": ref("Task")},
            "total": _COUNT,
            "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1},
        }
    ),
    "FilterOptions": obj(
        {
            "dataset_names": {"type": "array", "items": _STRING},
            "dataset_ids": {"type": "array", "items": _STRING},
            "task_types": {"type": "array", "items": _enum(VisualLayerType)},
            "created_by": {"type": "array", "items": _STRING},
        }
    ),
    "Error": obj({"detail": _STRING}),
}
_UUID_PATH = {"task_id": {"type": "string", "format": "uuid"}}
_VL_FIRST = {"task_id": "$response.body#/tasks/0/task_id"}
_VL_SAME = {"task_id": "$response.body#/task_id"}
_VISUAL_LAYER = ApiSpec(
    name="visual_layer",
    title="Visual Layer Task Manager API (taskcore)",
    description="The Visual Layer Task Manager as taskcore serves it (docs/visual-layer.md). "
    'Errors are `{"detail"}`.',
    router=lambda: visual_layer_router(VisualLayerTasks(), {}),
    operations={
        ("GET", VISUAL_LAYER): Operation(
            "listTasks",
            "The caller's tasks, filtered, sorted and paged",
            {200: (JSON, ref("TaskList"))},
            (422,),
            _query(LIST_PARAMETERS),
            links={
                200: {
                    "AbortFirstTask": ("abortTask", _VL_FIRST),
                    "RetryFirstTask": ("retryTask", _VL_FIRST),
                }
            },
        ),
        ("GET", VISUAL_LAYER + "/filters"): Operation(
            "getFilterOptions",
            "The values the list filters can take",
            {200: (JSON, ref("FilterOptions"))},
            (422,),
            _query(FILTER_PARAMETERS),
        ),
        ("POST", VISUAL_LAYER + "/{task_id}/abort"): Operation(
            "abortTask",
            "Abort a dataset creation task",
            {200: (JSON, ref("Task"))},
            (409, 422),
            path_schemas=_UUID_PATH,
            links={200: {"RetryTask": ("retryTask", _VL_SAME)}},
        ),
        ("POST", VISUAL_LAYER + "/{task_id}/retry"): Operation(
            "retryTask",
            "Retry a failed or aborted dataset creation task",
            {200: (JSON, ref("Task"))},
            (400, 422),
            path_schemas=_UUID_PATH,
            links={200: {"AbortTask": ("abortTask", _VL_SAME)}},
        ),
    },
    error_media=JSON,
    error_schema=ref("Error"),
    security_scheme=_BEARER,
    schemas=_VL_SCHEMAS,
)

SPECS: dict[str, ApiSpec] = {spec.name: spec for spec in (_CLARO, _SENDAI, _CHUNKR, _VISUAL_LAYER)}
"""Every API's specification, by name."""
