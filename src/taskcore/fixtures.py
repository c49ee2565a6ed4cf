"""Fixtures: a JSON file that fills the four services with accounts, keys, datasets,
webhooks, projects, uploads and tasks in given states (docs/server.md, "Fixtures").

Theory of operation:

- :func:`parse` reads and validates the whole file into a :class:`Fixture` value and
  touches no service.  Strict JSON (:func:`taskcore.http.parse_json`: no duplicate keys,
  no ``NaN``, bounded depth), at most :data:`MAX_FIXTURE_BYTES`, every list at most
  :data:`MAX_ITEMS` long, unknown keys refused.  The first problem found is one
  :class:`FixtureError` naming where it is in the file, as a JSONPath
  (``$.visual_layer.tasks[3].status: unknown status 'DONE'``).
- :func:`load` parses, then checks the fixture against the services (an id that one of
  them already holds is refused, naming its place in the file), and only then applies
  it through the services' own operations: datasets and webhooks are registered, Send
  AI documents are uploaded and moved by the pipeline's worker side, Visual Layer tasks
  are submitted and driven through ``start``/``progress``/``enter_commit_phase``/
  ``complete``/``fail``/``abort``.  So a bad fixture loads nothing, and what a fixture
  loads is a state the services themselves reached.
- Every section is optional; a section for a service :func:`load` was not given is
  refused.  Timestamps are the stores' clocks at loading time.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from taskcore.chunkr.service import ChunkrTasks
from taskcore.claro.grid import CellTable, Grid
from taskcore.claro.service import ClaroTasks
from taskcore.claro.task import Category
from taskcore.errors import NotFound, ValidationError
from taskcore.http import parse_json
from taskcore.sendai.lifecycle import SendAIStatus
from taskcore.sendai.service import (
    MAX_DOCUMENTS,
    MAX_NAME_LENGTH,
    MAX_PAGES,
    MAX_STEPS,
    Document,
    SendAITasks,
)
from taskcore.sendai.task import (
    EDIT,
    MAX_TASK_META,
    READ,
    SCOPE_ALIASES,
    ApiKey,
    FilterRule,
    MetaField,
    Step,
    StepType,
)
from taskcore.text import UNFIT
from taskcore.visual_layer.lifecycle import TaskType as VLTaskType
from taskcore.visual_layer.lifecycle import VisualLayerStatus
from taskcore.visual_layer.service import MAX_CONFIGURATION_BYTES, VisualLayerTasks

__all__ = [
    "FORMAT",
    "MAX_CELLS",
    "MAX_FIXTURE_BYTES",
    "MAX_ITEMS",
    "Fixture",
    "FixtureError",
    "Loaded",
    "demo_fixture",
    "load",
    "parse",
]

FORMAT: Final = 1
"""The fixture format version (the optional top-level ``"format"``)."""
MAX_FIXTURE_BYTES: Final = 8 * 1024 * 1024
"""The largest fixture file, in bytes."""
MAX_ITEMS: Final = 10_000
"""The longest list anywhere in a fixture."""
MAX_CELLS: Final = 1_000_000
"""The most cells (rows x columns) one Claro dataset of a fixture may have."""
MAX_ID_LENGTH: Final = 255
"""The longest id, key, token or name of a fixture (Send AI document names: 1000)."""
MAX_MESSAGE_LENGTH: Final = 1000
"""The longest Visual Layer error message or Send AI failure reason."""

_SENDAI_STATUSES: Final = (
    "PROCESSING",
    "REVIEWING",
    "COMPLETED",
    "FILTERED",
    "FAILED",
    "DISCARDED",
)
_VL_STATUSES: Final = tuple(s.value for s in VisualLayerStatus)
_S = VisualLayerStatus


class FixtureError(ValidationError):
    """A fixture is not valid (or clashes with what a service holds); nothing was loaded.

    ``str()`` is ``"<path>: <reason>"``.

    Attributes:
        path: where in the file, as a JSONPath (``$.claro.accounts[0].datasets[1].rows``).
        reason: what is wrong there.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}", field=path)


# -- the parsed fixture --------------------------------------------------------------------


@attrs.frozen
class ClaroDatasetSpec:
    """A Claro dataset of a fixture: its grid (cells filled as given, cell ids)."""

    path: str
    dataset_id: str
    category: Category
    grid: Grid = attrs.field(eq=False)


@attrs.frozen
class ClaroWebhookSpec:
    """A Claro webhook of a fixture."""

    path: str
    webhook_id: str
    url: str
    secret: str


@attrs.frozen
class ClaroAccountSpec:
    """A Claro account: its API keys, datasets and webhooks."""

    path: str
    account_id: str
    api_keys: tuple[str, ...]
    datasets: tuple[ClaroDatasetSpec, ...]
    webhooks: tuple[ClaroWebhookSpec, ...]


@attrs.frozen
class DocumentSpec:
    """A Send AI document of an upload, and the status its task is brought to."""

    path: str
    task_id: str | None
    name: str
    pages: int
    meta: tuple[MetaField, ...]
    status: SendAIStatus
    failure_reason: str | None


@attrs.frozen
class UploadSpec:
    """A Send AI upload: its project, documents and fully-processed flag."""

    path: str
    upload_id: str
    project_id: str
    documents: tuple[DocumentSpec, ...]
    fully_processed: bool


@attrs.frozen
class TeamSpec:
    """A Send AI team: its keys, projects and uploads."""

    path: str
    team_id: str
    api_keys: tuple[tuple[str, ApiKey], ...]
    projects: tuple[tuple[str, str, tuple[Step, ...]], ...]
    uploads: tuple[UploadSpec, ...]


@attrs.frozen
class VLDatasetSpec:
    """A Visual Layer dataset and the users who may see it."""

    path: str
    dataset_id: str
    name: str
    users: tuple[str, ...]


@attrs.frozen
class VLTaskSpec:
    """A Visual Layer task and the state it is brought to."""

    path: str
    task_id: str | None
    dataset_id: str
    task_type: VLTaskType
    created_by: str
    status: VisualLayerStatus
    progress: int | None
    commit_phase: bool
    error_message: str | None
    configuration: Mapping[str, Any]


@attrs.frozen
class Fixture:
    """A validated fixture, not yet loaded (:func:`parse`; :func:`load` applies it)."""

    claro: tuple[ClaroAccountSpec, ...] = ()
    sendai: tuple[TeamSpec, ...] = ()
    chunkr: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(JSONPath, user id, API keys) per Chunkr user."""
    vl_tokens: tuple[tuple[str, str], ...] = ()
    """(token, email) per Visual Layer token."""
    vl_datasets: tuple[VLDatasetSpec, ...] = ()
    vl_tasks: tuple[VLTaskSpec, ...] = ()
    sections: frozenset[str] = frozenset()

    def summary(self) -> list[str]:
        """One line per section: what the fixture holds (``taskcore fixtures check``)."""
        lines = []
        if "claro" in self.sections:
            lines.append(
                f"claro: {len(self.claro)} account(s), "
                f"{sum(len(a.api_keys) for a in self.claro)} API key(s), "
                f"{sum(len(a.datasets) for a in self.claro)} dataset(s), "
                f"{sum(len(a.webhooks) for a in self.claro)} webhook(s)"
            )
        if "sendai" in self.sections:
            documents = [d for t in self.sendai for u in t.uploads for d in u.documents]
            lines.append(
                f"sendai: {len(self.sendai)} team(s), "
                f"{sum(len(t.api_keys) for t in self.sendai)} API key(s), "
                f"{sum(len(t.projects) for t in self.sendai)} project(s), "
                f"{sum(len(t.uploads) for t in self.sendai)} upload(s), "
                f"{len(documents)} task(s){_by_status(d.status.value for d in documents)}"
            )
        if "chunkr" in self.sections:
            lines.append(
                f"chunkr: {len(self.chunkr)} user(s), "
                f"{sum(len(keys) for _, _, keys in self.chunkr)} API key(s)"
            )
        if "visual_layer" in self.sections:
            lines.append(
                f"visual_layer: {len({e for _, e in self.vl_tokens})} user(s) with "
                f"{len(self.vl_tokens)} token(s), {len(self.vl_datasets)} dataset(s), "
                f"{len(self.vl_tasks)} task(s)"
                f"{_by_status(t.status.value for t in self.vl_tasks)}"
            )
        return lines


def _by_status(statuses: Iterator[str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    if not counts:
        return ""
    return " (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"


@attrs.frozen
class Loaded:
    """What :func:`load` applied: the key maps each router takes, and the ids drawn.

    Attributes:
        claro_keys: Bearer token -> account id (``claro_router(service, api_keys)``).
        sendai_keys: Bearer token -> :class:`~taskcore.sendai.task.ApiKey`
            (``sendai_router(service, api_keys)``).
        chunkr_keys: ``Authorization`` value -> user id (``chunkr_router(service,
            api_keys, ...)``).
        visual_layer_tokens: Bearer token -> user email (``visual_layer_router(service,
            tokens)``).
        sendai_tasks: ``(team id, task id)`` of each document, in file order.
        visual_layer_tasks: the id of each Visual Layer task, in file order.
    """

    claro_keys: Mapping[str, str] = attrs.field(factory=dict)
    sendai_keys: Mapping[str, ApiKey] = attrs.field(factory=dict)
    chunkr_keys: Mapping[str, str] = attrs.field(factory=dict)
    visual_layer_tokens: Mapping[str, str] = attrs.field(factory=dict)
    sendai_tasks: tuple[tuple[str, str], ...] = ()
    visual_layer_tasks: tuple[str, ...] = ()


# -- reading JSON with paths -----------------------------------------------------------------


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _member(path: str, key: object) -> str:
    """``path.key``, or ``path['key']`` (JSON-escaped) when the key is not a plain name."""
    if isinstance(key, str) and _NAME.fullmatch(key):
        return f"{path}.{key}"
    text = json.dumps(key if isinstance(key, str) else repr(key))[1:-1].replace("'", "\\'")
    return f"{path}['{text}']"


def _object(
    value: object, path: str, required: Sequence[str] = (), optional: Sequence[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FixtureError(path, f"must be an object, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str) or (key not in required and key not in optional):
            raise FixtureError(_member(path, key), "unknown key")
    for key in required:
        if key not in value:
            raise FixtureError(f"{path}.{key}", "is required")
    return dict(value)


def _mapping(value: object, path: str) -> dict[str, Any]:
    """An object whose keys are the caller's own (strings)."""
    if not isinstance(value, Mapping):
        raise FixtureError(path, f"must be an object, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise FixtureError(path, "must have string keys")
    return dict(value)


def _array(value: object, path: str, *, limit: int = MAX_ITEMS) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FixtureError(path, f"must be an array, not {_kind(value)}")
    if len(value) > limit:
        raise FixtureError(path, f"has {len(value)} items; at most {limit} are allowed")
    return list(value)


def _text(value: object, path: str, *, limit: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise FixtureError(path, f"must be a string, not {_kind(value)}")
    if not 0 < len(value) <= limit:
        raise FixtureError(path, f"must be 1 to {limit} characters")
    if UNFIT.search(value):
        raise FixtureError(path, "must not hold control characters or lone surrogates")
    return value


def _ident(value: object, path: str) -> str:
    text = _text(value, path)
    if "/" in text or text in (".", ".."):
        raise FixtureError(path, "must not hold '/' nor be '.' or '..'")
    return text


def _uuid(value: object, path: str) -> str:
    text = _text(value, path)
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        canonical = None
    if canonical != text:
        raise FixtureError(path, f"must be a lower-case hyphenated UUID, not {text!r}")
    return text


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise FixtureError(path, f"must be true or false, not {_kind(value)}")
    return value


def _int(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FixtureError(path, f"must be a whole number in {low}..{high}")
    return value


def _choice(value: object, path: str, what: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise FixtureError(path, f"unknown {what} {shown}; one of {', '.join(choices)}")
    return value


def _unique(seen: dict[str, str], key: str, path: str, what: str) -> None:
    if key in seen:
        raise FixtureError(path, f"{what} {key!r} is already given at {seen[key]}")
    seen[key] = path


def _each(value: object, path: str, limit: int = MAX_ITEMS) -> Iterator[tuple[str, Any]]:
    for n, item in enumerate(_array(value, path, limit=limit)):
        yield f"{path}[{n}]", item


def _strings(value: object, path: str, read: Callable[[object, str], str] = _text) -> list[str]:
    return [read(item, where) for where, item in _each(value, path)]


# -- parsing ------------------------------------------------------------------------------


def _read_source(source: str | Path | bytes | Mapping[str, Any]) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            with path.open("rb") as file:
                data = file.read(MAX_FIXTURE_BYTES + 1)
        except OSError as error:
            raise FixtureError("$", f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_FIXTURE_BYTES:
        raise FixtureError("$", f"the file is larger than {MAX_FIXTURE_BYTES} bytes")
    try:
        return parse_json(data)
    except ValidationError as error:
        reason = error.message.replace("Request body", "The fixture")
        raise FixtureError("$", f"not strict JSON: {reason}") from None


def parse(source: str | Path | bytes | Mapping[str, Any]) -> Fixture:
    """Read and validate a fixture; touches no service.

    Args:
        source: a file path, the file's bytes, or the parsed JSON object.

    Returns:
        The validated :class:`Fixture`.

    Raises:
        FixtureError: the first problem found, with its JSONPath in the file.
    """
    try:
        return _parse(_read_source(source))
    except RecursionError:  # a mapping given in process, nested past the interpreter's limit
        raise FixtureError("$", "nested too deeply") from None


def _parse(value: object) -> Fixture:
    doc = _object(value, "$", optional=("format", "claro", "sendai", "chunkr", "visual_layer"))
    if "format" in doc and (isinstance(doc["format"], bool) or doc["format"] != FORMAT):
        raise FixtureError("$.format", f"must be {FORMAT}")
    visual_layer = (
        _visual_layer(doc["visual_layer"], "$.visual_layer") if "visual_layer" in doc else {}
    )
    return Fixture(
        claro=_claro(doc["claro"], "$.claro") if "claro" in doc else (),
        sendai=_sendai(doc["sendai"], "$.sendai") if "sendai" in doc else (),
        chunkr=_chunkr(doc["chunkr"], "$.chunkr") if "chunkr" in doc else (),
        **visual_layer,
        sections=frozenset(doc) - {"format"},
    )


def _claro(value: object, path: str) -> tuple[ClaroAccountSpec, ...]:
    section = _object(value, path, optional=("accounts",))
    accounts: list[ClaroAccountSpec] = []
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    for where, item in _each(section.get("accounts", []), f"{path}.accounts"):
        account = _object(item, where, ("id",), ("api_keys", "datasets", "webhooks"))
        account_id = _text(account["id"], f"{where}.id")
        _unique(ids, account_id, f"{where}.id", "account")
        api_keys = _strings(account.get("api_keys", []), f"{where}.api_keys")
        for n, key in enumerate(api_keys):
            _unique(keys, key, f"{where}.api_keys[{n}]", "API key")
        datasets: list[ClaroDatasetSpec] = []
        dataset_ids: dict[str, str] = {}
        for place, raw in _each(account.get("datasets", []), f"{where}.datasets"):
            dataset = _claro_dataset(raw, place)
            _unique(dataset_ids, dataset.dataset_id, f"{place}.id", "dataset")
            datasets.append(dataset)
        webhooks: list[ClaroWebhookSpec] = []
        webhook_ids: dict[str, str] = {}
        for place, raw in _each(account.get("webhooks", []), f"{where}.webhooks"):
            hook = _object(raw, place, ("id", "url", "secret"))
            webhook_id = _ident(hook["id"], f"{place}.id")
            _unique(webhook_ids, webhook_id, f"{place}.id", "webhook")
            url = _text(hook["url"], f"{place}.url", limit=2048)
            if not url.startswith(("https://", "http://")):
                raise FixtureError(f"{place}.url", "must be an http:// or https:// URL")
            secret = _text(hook["secret"], f"{place}.secret", limit=1024)
            webhooks.append(ClaroWebhookSpec(place, webhook_id, url, secret))
        accounts.append(
            ClaroAccountSpec(where, account_id, tuple(api_keys), tuple(datasets), tuple(webhooks))
        )
    return tuple(accounts)


def _claro_dataset(value: object, path: str) -> ClaroDatasetSpec:
    dataset = _object(value, path, ("id",), ("category", "rows", "columns", "filled", "cell_ids"))
    dataset_id = _ident(dataset["id"], f"{path}.id")
    categories = [c.value for c in Category]
    category = Category(
        _choice(dataset.get("category", "enrichment"), f"{path}.category", "category", categories)
    )
    rows = _strings(dataset.get("rows", []), f"{path}.rows", _ident)
    columns = _strings(dataset.get("columns", []), f"{path}.columns", _ident)
    for name, ids in (("rows", rows), ("columns", columns)):
        seen: dict[str, str] = {}
        for n, one in enumerate(ids):
            _unique(seen, one, f"{path}.{name}[{n}]", name[:-1])
    if len(rows) * len(columns) > MAX_CELLS:
        raise FixtureError(path, f"has {len(rows) * len(columns)} cells; at most {MAX_CELLS}")
    row_set, column_set = set(rows), set(columns)

    def cell(item: object, where: str) -> tuple[str, str]:
        pair = _array(item, where, limit=2)
        if len(pair) != 2:
            raise FixtureError(where, "must be [row id, column id]")
        row, column = _text(pair[0], f"{where}[0]"), _text(pair[1], f"{where}[1]")
        if row not in row_set:
            raise FixtureError(f"{where}[0]", f"unknown row {row!r}")
        if column not in column_set:
            raise FixtureError(f"{where}[1]", f"unknown column {column!r}")
        return row, column

    filled = dataset.get("filled", False)
    if isinstance(filled, bool):
        grid_filled, cells = filled, []
    else:
        grid_filled = False
        cells = [cell(item, where) for where, item in _each(filled, f"{path}.filled", MAX_CELLS)]
    names: dict[str, tuple[str, str]] = {}
    if "cell_ids" in dataset:
        table = _mapping(dataset["cell_ids"], f"{path}.cell_ids")
        for name, pair in table.items():
            where = _member(f"{path}.cell_ids", name)
            _text(name, where)
            names[name] = cell(pair, where)
    try:
        codec = CellTable(names) if names else None
        grid = Grid(rows, columns, filled=grid_filled, codec=codec)
    except ValidationError as error:
        raise FixtureError(f"{path}.cell_ids", error.message) from None
    for row, column in cells:
        grid.set_filled(row, column, True)
    return ClaroDatasetSpec(path, dataset_id, category, grid)


def _sendai(value: object, path: str) -> tuple[TeamSpec, ...]:
    section = _object(value, path, optional=("teams",))
    teams: list[TeamSpec] = []
    team_ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    for where, item in _each(section.get("teams", []), f"{path}.teams"):
        team = _object(item, where, ("id",), ("api_keys", "projects", "uploads"))
        team_id = _text(team["id"], f"{where}.id")
        _unique(team_ids, team_id, f"{where}.id", "team")
        api_keys = []
        for place, raw in _each(team.get("api_keys", []), f"{where}.api_keys"):
            key = _object(raw, place, ("key",), ("scopes",))
            token = _text(key["key"], f"{place}.key")
            _unique(keys, token, f"{place}.key", "API key")
            known = (READ, EDIT, *SCOPE_ALIASES)
            scopes = [
                _choice(s, at, "scope", known)
                for at, s in _each(key.get("scopes", [READ, EDIT]), f"{place}.scopes")
            ]
            api_keys.append((token, ApiKey(team_id, scopes)))
        projects: list[tuple[str, str, tuple[Step, ...]]] = []
        steps_of: dict[str, tuple[Step, ...]] = {}
        project_paths: dict[str, str] = {}
        for place, raw in _each(team.get("projects", []), f"{where}.projects"):
            project = _object(raw, place, ("id", "steps"))
            project_id = _ident(project["id"], f"{place}.id")
            _unique(project_paths, project_id, f"{place}.id", "project")
            steps = tuple(
                _step(s, at) for at, s in _each(project["steps"], f"{place}.steps", MAX_STEPS)
            )
            if not steps:
                raise FixtureError(f"{place}.steps", "a project has at least one step")
            steps_of[project_id] = steps
            projects.append((place, project_id, steps))
        uploads: list[UploadSpec] = []
        upload_ids: dict[str, str] = {}
        task_ids: dict[str, str] = {}
        for place, raw in _each(team.get("uploads", []), f"{where}.uploads"):
            upload = _upload(raw, place, steps_of)
            _unique(upload_ids, upload.upload_id, f"{place}.id", "upload")
            for document in upload.documents:
                if document.task_id is not None:
                    _unique(task_ids, document.task_id, f"{document.path}.id", "task")
            uploads.append(upload)
        teams.append(TeamSpec(where, team_id, tuple(api_keys), tuple(projects), tuple(uploads)))
    return tuple(teams)


def _step(value: object, path: str) -> Step:
    step = _object(value, path, ("step_type",), ("required", "filters", "review"))
    kinds = [k.value for k in StepType]
    step_type = _choice(step["step_type"], f"{path}.step_type", "step type", kinds)
    required = _strings(step.get("required", []), f"{path}.required")
    filters = [
        FilterRule(*_meta_pair(f, at))
        for at, f in _each(step.get("filters", []), f"{path}.filters")
    ]
    review = _bool(step.get("review", True), f"{path}.review")
    return Step(step_type, required, filters, review)


def _meta_pair(value: object, path: str) -> tuple[str, str]:
    pair = _object(value, path, ("name", "value"))
    name = _text(pair["name"], f"{path}.name")
    if not isinstance(pair["value"], str) or len(pair["value"]) > MAX_NAME_LENGTH:
        raise FixtureError(f"{path}.value", f"must be a string of at most {MAX_NAME_LENGTH}")
    return name, pair["value"]


def _upload(value: object, path: str, steps_of: Mapping[str, tuple[Step, ...]]) -> UploadSpec:
    upload = _object(value, path, ("id", "project", "documents"), ("fully_processed",))
    upload_id = _text(upload["id"], f"{path}.id")
    project_id = _text(upload["project"], f"{path}.project")
    if project_id not in steps_of:
        raise FixtureError(f"{path}.project", f"unknown project {project_id!r} of this team")
    documents = []
    for where, raw in _each(upload["documents"], f"{path}.documents", MAX_DOCUMENTS):
        doc = _object(raw, where, ("name",), ("id", "pages", "meta", "status", "failure_reason"))
        task_id = _ident(doc["id"], f"{where}.id") if "id" in doc else None
        name = _text(doc["name"], f"{where}.name", limit=MAX_NAME_LENGTH)
        pages = _int(doc.get("pages", 1), f"{where}.pages", 1, MAX_PAGES)
        meta = tuple(
            MetaField(*_meta_pair(m, at))
            for at, m in _each(doc.get("meta", []), f"{where}.meta", MAX_TASK_META)
        )
        status = SendAIStatus(
            _choice(doc.get("status", "PROCESSING"), f"{where}.status", "status", _SENDAI_STATUSES)
        )
        reason = None
        if "failure_reason" in doc:
            if status is not SendAIStatus.FAILED:
                raise FixtureError(f"{where}.failure_reason", "only a FAILED task has one")
            reason = _text(doc["failure_reason"], f"{where}.failure_reason", limit=1000)
        if meta and status in (SendAIStatus.PROCESSING, SendAIStatus.FAILED):
            raise FixtureError(
                f"{where}.meta",
                "is what the pipeline step extracts: not for a PROCESSING task"
                " or one that fails before its step ran",
            )
        reached = _pipeline(steps_of[project_id], meta)
        wanted = SendAIStatus.REVIEWING if status is SendAIStatus.DISCARDED else status
        if status not in (SendAIStatus.PROCESSING, SendAIStatus.FAILED) and reached != wanted:
            raise FixtureError(
                f"{where}.status",
                f"the project's pipeline takes this document to {reached.value}, "
                f"not {wanted.value} (see its steps' review, required and filters)",
            )
        documents.append(DocumentSpec(where, task_id, name, pages, meta, status, reason))
    if not documents:
        raise FixtureError(f"{path}.documents", "an upload has at least one document")
    named = [d.task_id is not None for d in documents]
    if any(named) and not all(named):
        missing = documents[named.index(False)].path
        raise FixtureError(f"{missing}.id", "either every document of an upload has an id or none")
    fully = _bool(upload.get("fully_processed", False), f"{path}.fully_processed")
    return UploadSpec(path, upload_id, project_id, tuple(documents), fully)


def _pipeline(steps: Sequence[Step], meta: Sequence[MetaField]) -> SendAIStatus:
    """Where the pipeline's first run takes a new document with ``meta`` (the rule of
    ``SendAITasks.run_step``: filtered, else stopped for review, else on to the next)."""
    for step in steps:
        if step.filtered(meta):
            return SendAIStatus.FILTERED
        if step.review or step.failed_fields(meta):
            return SendAIStatus.REVIEWING
    return SendAIStatus.COMPLETED


def _chunkr(value: object, path: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    section = _object(value, path, optional=("users",))
    users: list[tuple[str, str, tuple[str, ...]]] = []
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    for where, item in _each(section.get("users", []), f"{path}.users"):
        user = _object(item, where, ("id",), ("api_keys",))
        user_id = _text(user["id"], f"{where}.id")
        _unique(ids, user_id, f"{where}.id", "user")
        api_keys = _strings(user.get("api_keys", []), f"{where}.api_keys")
        for n, key in enumerate(api_keys):
            _unique(keys, key, f"{where}.api_keys[{n}]", "API key")
        users.append((where, user_id, tuple(api_keys)))
    return tuple(users)


def _visual_layer(value: object, path: str) -> dict[str, Any]:
    section = _object(value, path, optional=("users", "datasets", "tasks"))
    tokens: list[tuple[str, str]] = []
    emails: dict[str, str] = {}
    seen: dict[str, str] = {}
    for where, item in _each(section.get("users", []), f"{path}.users"):
        user = _object(item, where, ("email",), ("tokens",))
        email = _text(user["email"], f"{where}.email")
        _unique(emails, email, f"{where}.email", "user")
        for n, token in enumerate(_strings(user.get("tokens", []), f"{where}.tokens")):
            _unique(seen, token, f"{where}.tokens[{n}]", "token")
            tokens.append((token, email))
    datasets: list[VLDatasetSpec] = []
    dataset_ids: dict[str, str] = {}
    users_of: dict[str, set[str]] = {}
    for where, item in _each(section.get("datasets", []), f"{path}.datasets"):
        dataset = _object(item, where, ("id", "name"), ("users",))
        dataset_id = _uuid(dataset["id"], f"{where}.id")
        _unique(dataset_ids, dataset_id, f"{where}.id", "dataset")
        users = _strings(dataset.get("users", []), f"{where}.users")
        users_of[dataset_id] = set(users)
        datasets.append(
            VLDatasetSpec(where, dataset_id, _text(dataset["name"], f"{where}.name"), tuple(users))
        )
    tasks: list[VLTaskSpec] = []
    task_ids: dict[str, str] = {}
    for where, item in _each(section.get("tasks", []), f"{path}.tasks"):
        task = _vl_task(item, where, users_of)
        if task.task_id is not None:
            _unique(task_ids, task.task_id, f"{where}.id", "task")
        tasks.append(task)
    return {"vl_tokens": tuple(tokens), "vl_datasets": tuple(datasets), "vl_tasks": tuple(tasks)}


def _vl_task(value: object, path: str, users_of: Mapping[str, set[str]]) -> VLTaskSpec:
    task = _object(
        value,
        path,
        ("dataset", "task_type", "created_by"),
        ("id", "status", "progress", "commit_phase", "error_message", "configuration"),
    )
    task_id = _uuid(task["id"], f"{path}.id") if "id" in task else None
    dataset_id = _text(task["dataset"], f"{path}.dataset")
    if dataset_id not in users_of:
        raise FixtureError(f"{path}.dataset", f"unknown dataset {dataset_id!r} of this fixture")
    types = [t.value for t in VLTaskType]
    task_type = VLTaskType(_choice(task["task_type"], f"{path}.task_type", "task type", types))
    created_by = _text(task["created_by"], f"{path}.created_by")
    if created_by not in users_of[dataset_id]:
        raise FixtureError(f"{path}.created_by", f"{created_by!r} is not a user of the dataset")
    status = _S(
        _choice(task.get("status", "INITIALIZING"), f"{path}.status", "status", _VL_STATUSES)
    )
    progress = None
    if "progress" in task:
        if status not in (_S.RUNNING, _S.FAILED, _S.ABORTED):
            raise FixtureError(f"{path}.progress", f"a task {status.value} has no progress to set")
        progress = _int(task["progress"], f"{path}.progress", 0, 100)
    commit = _bool(task.get("commit_phase", False), f"{path}.commit_phase")
    if commit and status is not _S.RUNNING:
        raise FixtureError(f"{path}.commit_phase", "only a RUNNING task is in its commit phase")
    message = None
    if status is _S.FAILED:
        if "error_message" not in task:
            raise FixtureError(f"{path}.error_message", "is required for a FAILED task")
        message = _text(task["error_message"], f"{path}.error_message", limit=MAX_MESSAGE_LENGTH)
    elif "error_message" in task:
        raise FixtureError(f"{path}.error_message", "only a FAILED task has one")
    if status is _S.ABORTED and task_type is not VLTaskType.DATASET_CREATION:
        raise FixtureError(f"{path}.status", "only a DATASET_CREATION can be ABORTED")
    configuration = _mapping(task.get("configuration", {}), f"{path}.configuration")
    _finite(configuration, f"{path}.configuration")
    size = len(json.dumps(configuration, separators=(",", ":")).encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIGURATION_BYTES:
        raise FixtureError(
            f"{path}.configuration", f"is larger than {MAX_CONFIGURATION_BYTES} bytes"
        )
    return VLTaskSpec(
        path, task_id, dataset_id, task_type, created_by, status, progress, commit, message,
        configuration,
    )  # fmt: skip


def _finite(value: object, path: str) -> None:
    """Refuse what JSON cannot write (a mapping's non-finite float or odd type)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FixtureError(path, "must be a finite number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _finite(item, _member(path, key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            _finite(item, f"{path}[{n}]")
    elif not isinstance(value, str | int | float | bool | type(None)):
        raise FixtureError(path, f"{type(value).__name__} is not a JSON value")


# -- loading --------------------------------------------------------------------------------


def _held(read: Callable[..., object], *args: Any) -> bool:
    """Whether ``read(*args)`` finds what it names (its service holds it)."""
    try:
        read(*args)
    except NotFound:
        return False
    return True


def _conflicts(
    fixture: Fixture,
    claro: ClaroTasks | None,
    sendai: SendAITasks | None,
    visual_layer: VisualLayerTasks | None,
) -> None:
    """Refuse ids the services already hold (so applying cannot stop half-way)."""
    for account in fixture.claro:
        assert claro is not None
        for grid in account.datasets:
            if _held(claro.check_dataset, account.account_id, grid.dataset_id):
                raise FixtureError(f"{grid.path}.id", "the Claro service has this dataset")
    for team in fixture.sendai:
        assert sendai is not None
        for place, project_id, _ in team.projects:
            if _held(sendai.project, team.team_id, project_id):
                raise FixtureError(f"{place}.id", "the Send AI service has this project")
        reader = ApiKey(team.team_id, [READ])
        for upload in team.uploads:
            if _held(sendai.tasks_of_upload, reader, upload.upload_id):
                raise FixtureError(f"{upload.path}.id", "the Send AI service has this upload")
            for doc in upload.documents:
                if doc.task_id is not None and _held(sendai.task, team.team_id, doc.task_id):
                    raise FixtureError(f"{doc.path}.id", "the Send AI service has this task")
    for dataset in fixture.vl_datasets:
        assert visual_layer is not None
        if _held(visual_layer.dataset, dataset.dataset_id):
            raise FixtureError(f"{dataset.path}.id", "the Visual Layer service has this dataset")
    for task in fixture.vl_tasks:
        assert visual_layer is not None
        if task.task_id is not None and _held(visual_layer.task, task.task_id):
            raise FixtureError(f"{task.path}.id", "the Visual Layer service has this task")


def load(
    source: str | Path | bytes | Mapping[str, Any] | Fixture,
    *,
    claro: ClaroTasks | None = None,
    sendai: SendAITasks | None = None,
    chunkr: ChunkrTasks | None = None,
    visual_layer: VisualLayerTasks | None = None,
) -> Loaded:
    """Validate a fixture and apply it to the services.

    Args:
        source: a file path, the file's bytes, the parsed JSON object, or a
            :class:`Fixture` from :func:`parse`.
        claro: the Claro service to fill.
        sendai: the Send AI service to fill.
        chunkr: the Chunkr service to fill.
        visual_layer: the Visual Layer service to fill.  A section of the fixture whose
            service is not given is refused.

    Returns:
        The router key maps and the task ids drawn (:class:`Loaded`).

    Raises:
        FixtureError: the fixture is not valid, names a service not given, or names an
            id a service already holds.  Nothing was loaded.  (Only a store failing
            while the fixture is applied, e.g. a full disk, can leave part of it.)
    """
    fixture = source if isinstance(source, Fixture) else parse(source)
    services = {"claro": claro, "sendai": sendai, "chunkr": chunkr, "visual_layer": visual_layer}
    for section in sorted(fixture.sections):
        if services[section] is None:
            raise FixtureError(f"$.{section}", f"no {section} service was given to load it into")
    _conflicts(fixture, claro, sendai, visual_layer)
    claro_keys: dict[str, str] = {}
    for account in fixture.claro:
        assert claro is not None
        claro_keys.update(dict.fromkeys(account.api_keys, account.account_id))
        for spec in account.datasets:
            claro.create_dataset(
                account.account_id, spec.grid, dataset_id=spec.dataset_id, category=spec.category
            )
        for hook in account.webhooks:
            claro.register_webhook(
                account.account_id, hook.url, hook.secret, webhook_id=hook.webhook_id
            )
    sendai_keys: dict[str, ApiKey] = {}
    sendai_tasks: list[tuple[str, str]] = []
    for team in fixture.sendai:
        assert sendai is not None
        sendai_keys.update(team.api_keys)
        for _, project_id, steps in team.projects:
            sendai.create_project(team.team_id, project_id, steps)
        for upload in team.uploads:
            sendai_tasks += _apply_upload(sendai, team, upload)
    chunkr_keys = {key: user for _, user, keys in fixture.chunkr for key in keys}
    vl_tasks: list[str] = []
    if visual_layer is not None:
        for dataset in fixture.vl_datasets:
            visual_layer.add_dataset(dataset.name, dataset.users, dataset_id=dataset.dataset_id)
        vl_tasks = [_apply_vl_task(visual_layer, task) for task in fixture.vl_tasks]
    return Loaded(
        claro_keys=claro_keys,
        sendai_keys=sendai_keys,
        chunkr_keys=chunkr_keys,
        visual_layer_tokens=dict(fixture.vl_tokens),
        sendai_tasks=tuple(sendai_tasks),
        visual_layer_tasks=tuple(vl_tasks),
    )


def _apply_upload(sendai: SendAITasks, team: TeamSpec, upload: UploadSpec) -> list[tuple[str, str]]:
    given = [d.task_id for d in upload.documents]
    tasks = sendai.upload(
        team.team_id,
        upload.project_id,
        upload.upload_id,
        [Document(d.name, d.pages) for d in upload.documents],
        task_ids=None if None in given else [i for i in given if i is not None],  # all or none
    )
    editor = ApiKey(team.team_id, [EDIT])
    for doc, task in zip(upload.documents, tasks, strict=True):
        if doc.status is SendAIStatus.FAILED:
            sendai.fail(team.team_id, task.id, doc.failure_reason or "processing_failed")
        elif doc.status is not SendAIStatus.PROCESSING:
            sendai.run_step(team.team_id, task.id, meta=doc.meta)
            if doc.status is SendAIStatus.DISCARDED:
                sendai.discard(editor, upload.project_id, task.id)
    if upload.fully_processed:
        sendai.mark_fully_processed(team.team_id, upload.upload_id)
    return [(team.team_id, task.id) for task in tasks]


def _apply_vl_task(service: VisualLayerTasks, task: VLTaskSpec) -> str:
    """Submit the task and drive it to its state with the worker operations."""
    task_id = service.submit(
        task.dataset_id,
        task.task_type,
        task.created_by,
        task.configuration,
        task_id=task.task_id,
    ).task.task_id
    status = task.status
    if status is _S.INITIALIZING:
        return task_id
    runs = status in (_S.RUNNING, _S.COMPLETED) or task.progress is not None
    if runs:
        service.start(task_id)
        if task.progress:
            service.progress(task_id, task.progress)
    if task.commit_phase:
        service.enter_commit_phase(task_id)
    if status is _S.COMPLETED:
        service.complete(task_id)
    elif status is _S.FAILED:
        service.fail(task_id, task.error_message or "")
    elif status is _S.ABORTED:
        service.abort(task.created_by, task_id)
    return task_id


def demo_fixture() -> Fixture:
    """The demo fixture shipped in the package (``taskcore/demo_fixture.json``)."""
    from importlib.resources import files

    return parse(files("taskcore").joinpath("demo_fixture.json").read_bytes())
