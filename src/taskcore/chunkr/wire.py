"""Chunkr request parsing and the ``TaskResponse`` shape.

Requests are what the ``chunkr-ai`` client (0.3.7) sends: a create form is one flat JSON
object, ``file`` (an ``http(s)://`` URL, a ``data:`` URL or base64 text), an optional
``file_name`` and the configuration's fields beside them; an update form is the
configuration's fields only.  Parsing is strict (see
:mod:`taskcore.chunkr.configuration`): anything else is a
:class:`~taskcore.errors.ValidationError` naming the field.

:func:`task_response` is the client's ``TaskResponse``: ``task_id``, ``status``,
``message``, the four timestamps (ISO 8601 UTC, microseconds when not zero, ``null`` when not set),
``configuration`` (with ``input_file_url``), ``output`` (only while ``Succeeded``) and
``task_url``, the task's own absolute URL that the client polls.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from taskcore.chunkr.configuration import CONFIGURATION_FIELDS, Configuration
from taskcore.chunkr.lifecycle import ChunkrStatus
from taskcore.chunkr.task import ChunkrTask
from taskcore.clock import format_instant
from taskcore.errors import ValidationError

__all__ = [
    "CREATE_FIELDS",
    "MAX_FILE_NAME_LENGTH",
    "CreateForm",
    "parse_create",
    "parse_update",
    "task_response",
]

MAX_FILE_NAME_LENGTH = 255
"""The longest ``file_name`` accepted, in characters."""

_DATA_URL = re.compile(r"\Adata:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[^;,]*)*;base64,", re.ASCII)
"""A ``data:`` URL of base64 content, parameters allowed (RFC 2397: ``;name=a.pdf``)."""
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"

CREATE_FIELDS: dict[str, dict[str, Any]] = {
    "file": {
        "type": "string",
        "minLength": 1,
        "anyOf": [
            {"pattern": r"^https?://[A-Za-z0-9.-]+(?:[/?#]\S*)?$"},
            {"pattern": rf"^(?:data:[\w.+-]+/[\w.+-]+;base64,)?{_BASE64}$"},
        ],
        "description": "The document: an http(s) URL, a data: URL of base64, or base64",
    },
    "file_name": {"type": "string", "maxLength": MAX_FILE_NAME_LENGTH},
}
"""The create form's own fields (beside the configuration's) as JSON Schemas: the
parser takes ``file_name``'s bound from here and taskcore.openapi writes them.  A value
the patterns admit can still be refused (a URL whose host does not parse)."""


@attrs.frozen
class CreateForm:
    """A parsed create form.

    Attributes:
        file_url: the input's URL when ``file`` is an ``http(s)://`` URL.
        file_data: the input's base64 text when ``file`` is base64 or a ``data:`` URL.
        file_name: ``file_name``, if given.
        configuration: the configuration's fields.
    """

    configuration: Configuration
    file_url: str | None = None
    file_data: str | None = None
    file_name: str | None = None


def _file(value: Any) -> tuple[str | None, str | None]:
    """``(url, base64 text)`` of a ``file`` value, exactly one of them set.

    Raises:
        ValidationError: not a string, or neither a URL nor valid, non-empty base64.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError("Invalid value for file: expected a URL or base64", field="file")
    if value.startswith(("http://", "https://")):
        try:  # urlsplit refuses some hosts itself ("http://[::1")
            host = urlsplit(value).hostname if value.isprintable() else None
        except ValueError:
            host = None
        if not host or any(c.isspace() for c in value):
            raise ValidationError("Invalid file URL", field="file")
        return value, None
    data = value
    match = _DATA_URL.match(value)
    if match is not None:
        data = value[match.end() :]
    # The chunkr-ai client passes base64 through as Python's lenient decoder reads it,
    # line breaks included (``base64.encodebytes``): drop them, then decode strictly.
    data = data.replace("\r", "").replace("\n", "")
    try:
        if not data or not base64.b64decode(data.encode("ascii"), validate=True):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise ValidationError(
            "Invalid value for file: not a URL nor valid base64", field="file"
        ) from None
    return None, data


def parse_create(body: Any) -> CreateForm:
    """Parse a create form (``POST /api/v1/task/parse``).

    Raises:
        ValidationError: the body is not an object, ``file`` is missing or invalid,
            ``file_name`` is not a short string, or the configuration is refused.
    """
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object")
    fields = dict(body)
    if fields.get("file") is None:
        raise ValidationError("Missing field file", field="file")
    file_url, file_data = _file(fields.pop("file"))
    file_name = fields.pop("file_name", None)
    longest = CREATE_FIELDS["file_name"]["maxLength"]
    if file_name is not None and (not isinstance(file_name, str) or len(file_name) > longest):
        raise ValidationError(
            f"Invalid value for file_name: expected a string of at most {longest} characters",
            field="file_name",
        )
    return CreateForm(Configuration.from_wire(fields), file_url, file_data, file_name)


def parse_update(body: Any) -> Configuration:
    """Parse an update form (``PATCH /api/v1/task/{task_id}/parse``): configuration
    fields only (``file`` and ``file_name`` are unknown fields here).

    Raises:
        ValidationError: the body is not an object, or the configuration is refused.
    """
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object")
    return Configuration.from_wire(body)


def _time(value: Any) -> str | None:
    return None if value is None else format_instant(value)


def _input_file_url(task: ChunkrTask, file_data: str | None, base64_urls: bool) -> str | None:
    if task.file_url is not None:
        return task.file_url
    if not base64_urls or file_data is None:
        return None
    mime = mimetypes.guess_type(task.file_name or "")[0] or "application/octet-stream"
    return f"data:{mime};base64,{file_data}"


def task_response(
    task: ChunkrTask,
    *,
    task_url: str,
    include_chunks: bool = True,
    base64_urls: bool = False,
    file_data: str | None = None,
    output: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``TaskResponse`` object for ``task``.

    Args:
        task: the task.
        task_url: the task's absolute URL (``<base>/api/v1/task/<task_id>``).
        include_chunks: ``False`` answers ``output.chunks`` as ``[]``.
        base64_urls: give a base64 input as a ``data:`` URL in
            ``configuration.input_file_url`` (else ``null``: taskcore stores no files to
            presign; an input given as a URL is always that URL).
        file_data: the input's base64 text, when it was given as such.
        output: the stored output document (:meth:`~taskcore.chunkr.task.Output.to_doc`)
            of the last successful run; shown only while ``Succeeded``.
    """
    configuration = {
        **task.configuration.to_wire(),
        "input_file_url": _input_file_url(task, file_data, base64_urls),
    }
    shown = None
    if task.status is ChunkrStatus.SUCCEEDED and output is not None:
        shown = {
            "chunks": output["chunks"] if include_chunks else [],
            "file_name": task.file_name,
            "page_count": output["page_count"],
            "pdf_url": output["pdf_url"],
            "mime_type": output["mime_type"],
            "pages": None,
        }
    return {
        "task_id": task.task_id,
        "status": task.status.value,
        "message": task.message,
        "created_at": format_instant(task.created_at),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
        "expires_at": _time(task.expires_at),
        "configuration": configuration,
        "output": shown,
        "task_url": task_url,
    }


# Create forms accept the configuration's fields besides ``file`` and ``file_name``.
assert "file" not in CONFIGURATION_FIELDS
