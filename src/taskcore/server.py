"""The four APIs served together: composition, keys, and ``taskcore serve`` on uvicorn.

The pieces, each usable alone (docs/server.md, "Serving"):

- :func:`build_services` makes the four services on one store and holds them, with the
  API keys each router reads, in :class:`Services`.
- :func:`build_handler` mounts the four routers at their documented prefixes in a
  :class:`Mounts` (the composite handler; ``GET /healthz`` answers 200), with room for
  more routes (``extra_routes``).
- :func:`load_keys` reads a keys file; :func:`seed_demo` puts the demo data and keys in.
- :func:`serve` runs a handler under uvicorn until SIGTERM or SIGINT, then lets the
  requests in flight finish; ``taskcore serve`` (:func:`main`) wires all of it.

Only :func:`serve` needs uvicorn (the optional extra ``taskcore[server]``); it is
imported when called, and its absence is :class:`ServerUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO

import attrs

from taskcore._edge import DEFAULT_MAX_BODY, LOG
from taskcore.asgi import asgi_app
from taskcore.chunkr.http import MAX_BODY as CHUNKR_MAX_BODY
from taskcore.chunkr.http import PREFIX as CHUNKR_PREFIX
from taskcore.chunkr.http import chunkr_router
from taskcore.chunkr.service import ChunkrTasks
from taskcore.claro.grid import CellTable, Grid
from taskcore.claro.http import PREFIX as CLARO_PREFIX
from taskcore.claro.http import claro_router
from taskcore.claro.service import ClaroTasks
from taskcore.clock import MAX_SPAN
from taskcore.delivery import Dispatcher
from taskcore.errors import (
    InternalError,
    PayloadTooLarge,
    TaskcoreError,
    UnsupportedMediaType,
    ValidationError,
)
from taskcore.fixtures import Loaded, load
from taskcore.http import Request, Response, Route, Router, json_response
from taskcore.openapi import APIS, openapi_route
from taskcore.sendai import ApiKey, Document, SendAITasks, Step
from taskcore.sendai.http import MAX_BODY_BYTES as SENDAI_MAX_BODY
from taskcore.sendai.http import sendai_router
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import TaskType
from taskcore.visual_layer.http import PREFIX as VISUAL_LAYER_PREFIX
from taskcore.visual_layer.http import visual_layer_router
from taskcore.visual_layer.service import VisualLayerTasks
from taskcore.worker import SimulatedWorker, control_router

__all__ = [
    "DEMO_KEYS",
    "KEEP_ALIVE",
    "KEYS_ENV",
    "MAX_CONNECTIONS",
    "RESET_PATH",
    "SENDAI_PREFIX",
    "SHUTDOWN_GRACE",
    "VISUAL_LAYER_MAX_BODY",
    "ApiKeys",
    "Mount",
    "Mounts",
    "Resettable",
    "ServerUnavailable",
    "Services",
    "Session",
    "bind",
    "bound_url",
    "build_handler",
    "build_services",
    "configure_logging",
    "healthz",
    "load_fixtures",
    "load_keys",
    "main",
    "open_store",
    "parse_keys",
    "seed_demo",
    "serve",
]

SENDAI_PREFIX: Final = "/v2"
"""Where the Send AI task endpoints live (``/v2/{team_id}/project/...``)."""
HEAD_TIMEOUT: Final = 10.0
"""Seconds a connection has to send a whole request head (see :func:`serve`)."""
MIN_WORKER_INTERVAL: Final = 0.01
"""The shortest ``--worker`` interval, in seconds (a tick every 10 ms at most)."""
KEYS_ENV: Final = "TASKCORE_KEYS"
"""The environment variable naming a keys file when ``--keys`` is not given."""
VISUAL_LAYER_MAX_BODY: Final = 64 * 1024
"""The Visual Layer endpoints take no body; anything bigger than this is 413."""
SHUTDOWN_GRACE: Final = 30
"""Seconds the server waits for requests in flight after SIGTERM before closing them."""

MAX_CONNECTIONS: Final = 1000
"""Connections and requests in flight at most; beyond them uvicorn answers 503."""
KEEP_ALIVE: Final = 5
"""Seconds an idle kept-alive connection stays open."""

_JSON: Final = "application/json"


def _generic_error(error: TaskcoreError) -> Response:
    """taskcore's own error body (``{"error", "code", "details"}``) off every API."""
    return json_response(error.status, error.to_wire())


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == _JSON or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


@attrs.frozen
class Mount:
    """One router at a path prefix, with the edge rules of its API.

    Attributes:
        prefix: the raw path prefix, without a trailing ``/`` (``"/api/v2/datasets"``);
            it matches that path and every path under it, on a segment boundary.
        router: the API's router.
        json_bodies: whether a request with a body must declare ``application/json``
            (or ``application/*+json``); any other ``Content-Type``, or none, is 415.
        max_body: the largest body accepted, in bytes (more is 413).
    """

    prefix: str
    router: Router
    json_bodies: bool = False
    max_body: int = DEFAULT_MAX_BODY

    def matches(self, path: str) -> bool:
        """Whether the raw ``path`` lies at or under :attr:`prefix`."""
        return path == self.prefix or path.startswith(self.prefix + "/")


def healthz(request: Request, params: Mapping[str, str]) -> Response:
    """``GET /healthz``: 200 ``{"status": "ok"}`` while the server answers."""
    return json_response(200, {"status": "ok"})


class Mounts:
    """The composite handler: several routers by path prefix, plus extra routes.

    A request goes to the first of ``extra_routes`` whose pattern matches its path, else
    to the mount with the longest matching prefix (there its 413 and 415 rules apply
    before the router sees it), else it is 404 ``NOT_FOUND``.  Refusals made here, and
    by the extra routes, are taskcore's own error body ``{"error", "code", "details"}``;
    those of a mount are its API's.  :meth:`handle` never raises.  Immutable after
    construction; safe to share between threads.

    Args:
        mounts: the routers and their prefixes.
        extra_routes: more routes (``/healthz``, documents, control endpoints).
    """

    def __init__(self, mounts: Iterable[Mount], *, extra_routes: Sequence[Route] = ()) -> None:
        self.mounts: tuple[Mount, ...] = tuple(
            sorted(mounts, key=lambda m: len(m.prefix), reverse=True)
        )
        self.extra: Router = Router(list(extra_routes), _generic_error)

    def mount_for(self, path: str) -> Mount | None:
        """The mount that serves the raw ``path``, or ``None``."""
        return next((m for m in self.mounts if m.matches(path)), None)

    def handle(self, request: Request) -> Response:
        """Answer ``request`` (see the class docstring); never raises."""
        try:
            if any(route.params(request.path) is not None for route in self.extra.routes):
                return self.extra.handle(request)
            mount = self.mount_for(request.path)
            if mount is None:
                return self.extra.handle(request)  # 404 in taskcore's shape
            if len(request.body) > mount.max_body:
                return mount.router.render(PayloadTooLarge(mount.max_body))
            if mount.json_bodies and request.body:
                media_type = _media_type(request.headers)
                if not _is_json(media_type):
                    return mount.router.render(UnsupportedMediaType(media_type))
            return mount.router.handle(request)
        except Exception:
            LOG.exception("Unexpected error routing %r %r", request.method, request.path)
            return self.reject(request.path, InternalError())

    def body_limit(self, path: str) -> int:
        """The largest body accepted for the raw ``path``, in bytes."""
        mount = self.mount_for(path)
        return DEFAULT_MAX_BODY if mount is None else mount.max_body

    def reject(self, path: str, error: TaskcoreError) -> Response:
        """``error`` in the error shape of the API serving the raw ``path``; never raises."""
        mount = self.mount_for(path)
        return self.extra.render(error) if mount is None else mount.router.render(error)


@attrs.define(eq=False)
class ApiKeys:
    """The API keys of the four routers (mutable: each router reads its map per request).

    Attributes:
        claro: Bearer token -> account id.
        sendai: Bearer token -> the key's team and scopes.
        chunkr: ``Authorization`` value -> user id.
        visual_layer: Bearer token (JWT) -> user email.
    """

    claro: dict[str, str] = attrs.field(factory=dict)
    sendai: dict[str, ApiKey] = attrs.field(factory=dict)
    chunkr: dict[str, str] = attrs.field(factory=dict)
    visual_layer: dict[str, str] = attrs.field(factory=dict)

    def update(self, other: ApiKeys) -> None:
        """Add ``other``'s keys (a key in both takes ``other``'s owner)."""
        self.claro.update(other.claro)
        self.sendai.update(other.sendai)
        self.chunkr.update(other.chunkr)
        self.visual_layer.update(other.visual_layer)

    def count(self) -> int:
        """How many keys there are, all APIs together."""
        return len(self.claro) + len(self.sendai) + len(self.chunkr) + len(self.visual_layer)


@attrs.define(eq=False)
class Services:
    """The four services on one store, and the keys their routers read.

    Mutable (the services are; :attr:`keys` may gain keys, say from fixtures, before
    serving starts).  :meth:`close` closes the store.
    """

    store: RowsStore
    claro: ClaroTasks
    sendai: SendAITasks
    chunkr: ChunkrTasks
    visual_layer: VisualLayerTasks
    keys: ApiKeys = attrs.field(factory=ApiKeys)

    def close(self) -> None:
        """Close the store; the services answer nothing after it."""
        self.store.close()


def build_services(store: RowsStore, keys: ApiKeys | None = None) -> Services:
    """The four services on ``store`` (each keeps its own tables there).

    Args:
        store: the store all four share.
        keys: the API keys; none when ``None``.
    """
    return Services(
        store=store,
        claro=ClaroTasks(store),
        sendai=SendAITasks(store),
        chunkr=ChunkrTasks(store),
        visual_layer=VisualLayerTasks(store),
        keys=ApiKeys() if keys is None else keys,
    )


def build_handler(
    services: Services,
    *,
    base_url: str = "http://127.0.0.1:8000",
    extra_routes: Sequence[Route] = (),
) -> Mounts:
    """The four routers at their documented prefixes, ``GET /healthz``, each API's
    OpenAPI document at ``GET /openapi/<api>.json`` (``claro``, ``sendai``, ``chunkr``,
    ``visual_layer``), and ``extra_routes``.

    | API | prefix | bodies | largest body |
    | --- | --- | --- | --- |
    | Claro | ``/api/v2/datasets`` | JSON (else 415) | 1 MiB |
    | Send AI | ``/v2`` | JSON (else 415) | 1,000,000 bytes |
    | Chunkr | ``/api/v1/task`` | its router's check (400) | 16 MiB |
    | Visual Layer | ``/api/v1/tasks`` | none read | 64 KiB |

    Args:
        services: what answers; the routers read ``services.keys`` on every request.
        base_url: where the server is reached (Chunkr's ``task_url`` starts with it).
        extra_routes: more routes, tried before the mounts.
    """
    keys = services.keys
    return Mounts(
        [
            Mount(CLARO_PREFIX, claro_router(services.claro, keys.claro), json_bodies=True),
            Mount(
                SENDAI_PREFIX,
                sendai_router(services.sendai, keys.sendai),
                json_bodies=True,
                max_body=SENDAI_MAX_BODY,
            ),
            Mount(
                CHUNKR_PREFIX,
                chunkr_router(services.chunkr, keys.chunkr, base_url=base_url),
                max_body=CHUNKR_MAX_BODY,
            ),
            Mount(
                VISUAL_LAYER_PREFIX,
                visual_layer_router(services.visual_layer, keys.visual_layer),
                max_body=VISUAL_LAYER_MAX_BODY,
            ),
        ],
        extra_routes=[
            Route("GET", "/healthz", healthz),
            *(openapi_route(api) for api in APIS),
            *extra_routes,
        ],
    )


# --- reset (taskcore verify) -------------------------------------------------------------

RESET_PATH: Final = "/_taskcore/reset"
"""Where :class:`Resettable` answers ``POST``: the state goes back to the start."""


@attrs.define(eq=False)
class Session:
    """One life of a :class:`Resettable` server: its services, its handler, and what
    stops what runs beside them (a webhook dispatcher, say)."""

    services: Services
    handler: Mounts
    stop: Callable[[], None] = lambda: None


class Resettable:
    """A handler whose whole state ``POST /_taskcore/reset`` puts back to the start
    (docs/verify.md, "Reset"): ``start`` is called again for a fresh :class:`Session`
    (new store, the fixtures loaded again), which then answers every request; the old
    one is stopped and its store closed.  The answer is 200 ``{"reset": n}`` (how many
    resets so far); another method on the path is 405.  A request in flight during a
    reset may be answered by the old session or fail with a 5xx.

    Thread-safe (one lock around a reset).  :meth:`close` stops and closes the session
    that is current.

    Args:
        start: makes a fresh session (called once here, then once per reset).
    """

    def __init__(self, start: Callable[[], Session]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._session = start()
        self._resets = 0
        self._route = Router([Route("POST", RESET_PATH, self._reset)], _generic_error)

    @property
    def services(self) -> Services:
        """The services answering now."""
        return self._session.services

    def _reset(self, request: Request, params: Mapping[str, str]) -> Response:
        self.reset()
        return json_response(200, {"reset": self._resets})

    def reset(self) -> None:
        """Put the state back to the start (see the class docstring).

        Raises:
            TaskcoreError: ``start`` failed (say, fixtures that no longer load); the
                current session goes on answering.
        """
        with self._lock:
            fresh = self._start()
            old, self._session = self._session, fresh
            self._resets += 1
        old.stop()
        old.services.close()

    def handle(self, request: Request) -> Response:
        """Answer ``request``: the reset route, else the current session; never raises."""
        if request.path == RESET_PATH:
            return self._route.handle(request)
        return self._session.handler.handle(request)

    def body_limit(self, path: str) -> int:
        """The largest body accepted for the raw ``path``, in bytes."""
        return self._session.handler.body_limit(path)

    def reject(self, path: str, error: TaskcoreError) -> Response:
        """``error`` in the error shape of the API serving the raw ``path``."""
        return self._session.handler.reject(path, error)

    def close(self) -> None:
        """Stop the current session and close its store."""
        self._session.stop()
        self._session.services.close()


# --- keys --------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be an object of key -> owner", field=where)
    for token, owner in value.items():
        if not token or not token.strip():
            raise ValidationError(f"{where} has an empty key", field=where)
        if not isinstance(owner, str) or not owner:
            raise ValidationError(
                f"{where}[{token!r}] must be a non-empty string", field=f"{where}.{token}"
            )
    return dict(value)


def _sendai_keys(value: Any) -> dict[str, ApiKey]:
    where = "$.sendai"
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be an object of key -> {{team, scopes}}", field=where)
    keys: dict[str, ApiKey] = {}
    for token, entry in value.items():
        at = f"{where}.{token}"
        if not token or not token.strip():
            raise ValidationError(f"{where} has an empty key", field=where)
        if not isinstance(entry, dict) or set(entry) != {"team", "scopes"}:
            raise ValidationError(f'{at} must be {{"team", "scopes"}}', field=at)
        team, scopes = entry["team"], entry["scopes"]
        if not isinstance(team, str) or not team:
            raise ValidationError(f"{at}.team must be a non-empty string", field=f"{at}.team")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValidationError(f"{at}.scopes must be a list of strings", field=f"{at}.scopes")
        keys[token] = ApiKey(team, frozenset(scopes))
    return keys


def parse_keys(document: Any) -> ApiKeys:
    """API keys from a keys document (the format is in docs/server.md, "Keys")::

        {"claro": {"TOKEN": "account"}, "sendai": {"TOKEN": {"team": "t", "scopes": [...]}},
         "chunkr": {"KEY": "user"}, "visual_layer": {"JWT": "user@example.com"}}

    Every API is optional.

    Raises:
        ValidationError: the document breaks the format; ``field`` is where in it
            (``$.sendai.KEY.scopes``).  Nothing is kept.
    """
    if not isinstance(document, dict):
        raise ValidationError("The keys file must hold a JSON object", field="$")
    unknown = sorted(set(document) - {"claro", "sendai", "chunkr", "visual_layer"})
    if unknown:
        raise ValidationError(
            f"Unknown API {unknown[0]!r} (known: claro, sendai, chunkr, visual_layer)",
            field=f"$.{unknown[0]}",
        )
    return ApiKeys(
        claro=_strings(document.get("claro", {}), "$.claro"),
        sendai=_sendai_keys(document.get("sendai", {})),
        chunkr=_strings(document.get("chunkr", {}), "$.chunkr"),
        visual_layer=_strings(document.get("visual_layer", {}), "$.visual_layer"),
    )


def load_keys(path: str | os.PathLike[str]) -> ApiKeys:
    """API keys from the JSON file at ``path`` (:func:`parse_keys`).

    Raises:
        ValidationError: the file cannot be read, is not JSON, or breaks the format; the
            message names the file and ``field`` the place in it.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValidationError(f"Cannot read keys file {os.fspath(path)}: {error}") from None
    try:
        return parse_keys(document)
    except ValidationError as error:
        raise ValidationError(
            f"Keys file {os.fspath(path)}: {error.message}", field=error.field
        ) from None


# --- demo data ---------------------------------------------------------------------------

DEMO_KEYS: Final = {
    "claro": "YOUR_API_KEY",
    "sendai": "YOUR_API_KEY",
    "chunkr": "YOUR_API_KEY",
    "visual_layer": "YOUR_JWT",
}
"""The keys ``--demo`` accepts, per API (never accepted without ``--demo``)."""
DEMO_DATASET: Final = "550e8400-e29b-41d4-a716-446655440000"
DEMO_USER: Final = "rachel@visual-layer.com"


def seed_demo(services: Services) -> dict[str, Any]:
    """Put the demo data and :data:`DEMO_KEYS` into ``services``.

    Claro: account ``acme``'s dataset :data:`DEMO_DATASET` (rows ``row_1``..``row_20``,
    columns ``col_product_name``, ``col_category``, ``col_url``; cells ``cell_1``,
    ``cell_2`` named; every third category empty) and a webhook.  Send AI: team
    ``team_acme``'s project ``invoices`` with one task in REVIEWING.  Chunkr: user
    ``acme``.  Visual Layer: two datasets of :data:`DEMO_USER`, a failed dataset
    creation and a failed enrichment.

    Returns:
        What a client needs to call: keys and ids, by API.

    Raises:
        TaskcoreError: the data is there already (seeding twice on one SQLite file);
            what was added before the failing step stays.
    """
    keys = services.keys
    keys.claro[DEMO_KEYS["claro"]] = "acme"
    keys.sendai[DEMO_KEYS["sendai"]] = ApiKey("team_acme", frozenset({"task.read", "task.edit"}))
    keys.chunkr[DEMO_KEYS["chunkr"]] = "acme"
    keys.visual_layer[DEMO_KEYS["visual_layer"]] = DEMO_USER

    rows = [f"row_{i}" for i in range(1, 21)]
    columns = ["col_product_name", "col_category", "col_url"]
    names = {"cell_1": ("row_1", "col_product_name"), "cell_2": ("row_2", "col_category")}
    grid = Grid(rows, columns, filled=True, codec=CellTable(names))
    for i, row in enumerate(rows):
        if i % 3 == 0:
            grid.set_filled(row, "col_category", False)
    claro = services.claro
    claro.create_dataset("acme", grid, dataset_id=DEMO_DATASET)
    webhook = claro.register_webhook("acme", "https://hooks.example.invalid/claro", "s3cret")

    sendai = services.sendai
    sendai.create_project("team_acme", "invoices", [Step("EXTRACT", ["invoice_total"])])
    (task,) = sendai.upload("team_acme", "invoices", "upload_1", [Document("invoice.pdf", 2)])
    sendai.run_step("team_acme", task.id)

    vl = services.visual_layer
    images = vl.add_dataset("Product Images Q1", [DEMO_USER]).dataset_id
    vl.add_dataset("Training Set v2", [DEMO_USER])
    creation = vl.submit(images, TaskType.DATASET_CREATION, DEMO_USER).task.task_id
    vl.start(creation)
    vl.fail(creation, "Upload bucket unreachable")
    enrichment = vl.submit(images, TaskType.ENRICHMENT, DEMO_USER).task.task_id
    vl.start(enrichment)
    vl.fail(enrichment, "Model timeout after 300s")
    return {
        "keys": dict(DEMO_KEYS),
        "claro": {"datasetId": DEMO_DATASET, "webhookId": webhook.webhook_id},
        "sendai": {"path": f"/v2/team_acme/project/invoices/task/{task.id}"},
        "visual_layer": {"failedTaskIds": [creation, enrichment]},
    }


# --- serving -----------------------------------------------------------------------------


class ServerUnavailable(RuntimeError):
    """``taskcore serve`` cannot run: uvicorn is not installed, or the address cannot
    be bound.  Nothing was started."""


def open_store(spec: str) -> RowsStore:
    """The store ``--store`` names: ``memory``, ``sqlite:PATH`` or ``postgres:DSN`` (a
    libpq connection string or URI; needs ``taskcore[postgres]``).

    Raises:
        ValidationError: another spelling, an empty path or DSN, a file SQLite cannot
            open, or no PostgreSQL driver installed (``field`` is ``"--store"``).
        StoreBusy: the PostgreSQL server cannot be reached, or refused the DSN.
        InternalError: the PostgreSQL database refused the schema.
    """
    if spec == "memory":
        return MemoryStore()
    kind, sep, path = spec.partition(":")
    if kind not in ("sqlite", "postgres") or not sep or not path:
        raise ValidationError(
            f"--store must be 'memory', 'sqlite:PATH' or 'postgres:DSN', not {spec!r}",
            field="--store",
        )
    if kind == "postgres":
        if importlib.util.find_spec("psycopg_pool") is None:
            raise ValidationError(
                "--store postgres:DSN needs the PostgreSQL driver: "
                "pip install 'taskcore[postgres]'",
                field="--store",
            )
        from taskcore.store.postgres import PostgresStore

        return PostgresStore(path)
    try:
        return SqliteStore(path)
    except sqlite3.Error as error:
        raise ValidationError(f"--store {spec}: {error}", field="--store") from None


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0 picks a free port).

    Raises:
        ServerUnavailable: the address cannot be bound (in use, not local, bad name, a
            port outside 0..65535).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ServerUnavailable(f"Cannot listen on {host}:{port}: a port is 0..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise ServerUnavailable(f"Cannot listen on {host}:{port}: {error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as error:
        sock.close()
        raise ServerUnavailable(f"Cannot listen on {host}:{port}: {error}") from None
    sock.set_inheritable(True)
    return sock


def bound_url(sock: socket.socket, host: str) -> str:
    """The ``http://host:port`` URL of a bound socket."""
    port = int(sock.getsockname()[1])
    return _url(host, port)


def _uvicorn() -> Any:
    if importlib.util.find_spec("uvicorn") is None:
        raise ServerUnavailable("taskcore serve needs uvicorn: pip install 'taskcore[server]'")
    return importlib.import_module("uvicorn")


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, force: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while inside, ``force`` on a second one (main
    thread only; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        (force if stop.is_set() else stop).set()

    saved = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def _bounded_head_protocol(head_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, with a time limit on each request head.

    uvicorn bounds an idle kept-alive connection (``timeout_keep_alive``) and the body
    (the adapter's ``body_timeout``), but not the head: a connection that sends half a
    head and waits is kept for ever.  This subclass arms a timer when the connection
    opens and after each answer, disarms it when a whole head has arrived (uvicorn then
    starts a new request cycle), and closes the connection when it fires.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedHeadProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a whole head arrived: a request began
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

    return BoundedHeadProtocol


def serve(
    handler: Any,
    sock: socket.socket,
    *,
    on_listening: Callable[[], None] = lambda: None,
    on_stopping: Callable[[], None] = lambda: None,
    stop: threading.Event | None = None,
    head_timeout: float = HEAD_TIMEOUT,
) -> None:
    """Answer HTTP on the listening ``sock`` with ``handler`` (through
    :func:`taskcore.asgi.asgi_app`) under uvicorn, until ``stop`` is set or, in the main
    thread, SIGTERM or SIGINT arrives.

    Then no new connection is taken, the requests in flight are answered (for at most
    :data:`SHUTDOWN_GRACE` seconds, or until a second signal) and the function returns;
    the socket is closed.
    uvicorn's own access log is off (the adapter writes one JSON line per request to the
    ``taskcore.access`` logger).

    Args:
        handler: what answers (:class:`Mounts`, a router, anything with ``handle``).
        sock: a bound, listening socket (:func:`bind`).
        on_listening: called once the server accepts connections.
        on_stopping: called once, when the server has stopped taking connections and
            waits for the requests in flight.
        stop: set it to stop the server (from any thread).
        head_timeout: seconds a connection has to send a whole request head, from when
            it opens or its previous answer was sent; then it is closed (so connections
            that send half a head cannot hold every slot).

    Raises:
        ServerUnavailable: uvicorn is not installed, or the server failed to start.
    """
    uvicorn = _uvicorn()
    stop = threading.Event() if stop is None else stop
    config = uvicorn.Config(
        asgi_app(handler),
        http=_bounded_head_protocol(head_timeout),
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    listening, force = threading.Event(), threading.Event()

    async def run() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            listening.set()
            on_listening()
        stopping = False
        while not task.done():
            if stop.is_set():
                server.should_exit = True
                if not stopping and not any(s.is_serving() for s in server.servers):
                    stopping = True
                    on_stopping()
            if force.is_set():
                # uvicorn's own force exit still waits for open connections to close
                # (asyncio.Server.wait_closed, Python 3.12+): drop them instead.
                server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return
            await asyncio.sleep(0.05)
        await task

    failure: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:  # a SystemExit from uvicorn's startup too
            failure.append(error)

    # uvicorn runs in a thread of its own so that the signals stay ours: SIGTERM sets
    # ``stop`` and the process exits 0 after the shutdown (uvicorn, in the main thread,
    # re-raises the signal once it stopped).
    thread = threading.Thread(target=in_thread, name="taskcore-serve")
    with _stop_on_signals(stop, force):
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
    sock.close()
    why = f": {failure[0]!r}" if failure else " (see the log)"
    if not listening.is_set():
        raise ServerUnavailable(f"The server did not start{why}")
    if failure:
        raise ServerUnavailable(f"The server stopped on an error{why}")


_INSTALLED: list[tuple[logging.Logger, logging.Handler]] = []


def configure_logging(stream: TextIO) -> None:
    """Access lines (``taskcore.access``, INFO) and errors (``taskcore.server``,
    ``taskcore.http``, ``uvicorn.error``; WARNING and up) on ``stream``, one per line.
    Calling it again replaces what the last call installed."""
    for logger, installed in _INSTALLED:
        logger.removeHandler(installed)
    _INSTALLED.clear()
    access = logging.StreamHandler(stream)
    access.setFormatter(logging.Formatter("%(message)s"))
    errors = logging.StreamHandler(stream)
    errors.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name, handler, level in (
        ("taskcore.access", access, logging.INFO),
        ("taskcore.server", errors, logging.WARNING),
        ("taskcore.http", errors, logging.WARNING),
        ("uvicorn.error", errors, logging.WARNING),
    ):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        _INSTALLED.append((logger, handler))


def load_fixtures(path: str | os.PathLike[str], services: Services) -> Loaded:
    """Load the fixture file ``path`` into ``services`` (docs/server.md, "Fixtures"):
    its data into the four services, its API keys into ``services.keys``.

    Raises:
        FixtureError: the file cannot be read, is not a valid fixture, or names ids the
            services hold already; nothing was loaded.
    """
    loaded = load(
        Path(path),
        claro=services.claro,
        sendai=services.sendai,
        chunkr=services.chunkr,
        visual_layer=services.visual_layer,
    )
    services.keys.update(
        ApiKeys(
            claro=dict(loaded.claro_keys),
            sendai=dict(loaded.sendai_keys),
            chunkr=dict(loaded.chunkr_keys),
            visual_layer=dict(loaded.visual_layer_tokens),
        )
    )
    return loaded


def main(
    *,
    host: str,
    port: int,
    store: str,
    keys: str | None,
    demo: bool,
    fixtures: str | None,
    out: TextIO,
    err: TextIO,
    environ: Mapping[str, str] = os.environ,
    stop: threading.Event | None = None,
    worker: float | None = None,
    worker_seed: int = 0,
    worker_failure_rate: float = 0.0,
    worker_control: bool = False,
    webhooks: bool = True,
    verify_control: bool = False,
) -> int:
    """``taskcore serve``: serve the four APIs until SIGTERM or SIGINT.

    Prints the bound URL (``http://127.0.0.1:PORT``) on ``out`` once the server listens;
    with ``demo``, first the demo keys and ids as one JSON line.  Keys come from
    ``keys``, else from the file :data:`KEYS_ENV` names, plus the demo keys with
    ``demo``; none otherwise.  Access lines and errors go to ``err``.  ``stop`` (set
    from another thread) stops the server as SIGTERM does.

    With ``worker`` (seconds between ticks) a :class:`~taskcore.worker.SimulatedWorker`
    (seeded with ``worker_seed``, failing ``worker_failure_rate`` of cells or tasks)
    moves tasks on in the background; with ``worker_control`` its control routes
    (``/_taskcore/worker/...``) are mounted.  With ``webhooks`` (the default) a
    :class:`~taskcore.delivery.Dispatcher` delivers Claro's webhook notifications.
    Both stop before the store is closed.  With ``verify_control`` (``--store memory``
    only, no ``worker``) the server is :class:`Resettable`: ``POST /_taskcore/reset``
    puts back the state it started with (docs/verify.md, "Reset").

    Returns:
        0 after a clean shutdown; 1 when the store, keys, fixtures or address are bad
        or uvicorn is missing (one line on ``err`` says why; nothing was served).
    """
    try:
        _uvicorn()
        keys_path = keys if keys is not None else environ.get(KEYS_ENV) or None
        api_keys = load_keys(keys_path) if keys_path else ApiKeys()
        sock = bind(host, port)
    except (TaskcoreError, ServerUnavailable) as error:
        err.write(f"taskcore serve: {error}\n")
        return 1
    if verify_control:
        return _main_resettable(
            sock,
            host=host,
            store=store,
            keys=api_keys,
            demo=demo,
            fixtures=fixtures,
            out=out,
            err=err,
            stop=stop,
            worker=worker,
            worker_seed=worker_seed,
            worker_failure_rate=worker_failure_rate,
            worker_control=worker_control,
            webhooks=webhooks,
        )
    try:
        services = build_services(open_store(store), api_keys)
    except (TaskcoreError, OSError) as error:
        sock.close()
        err.write(f"taskcore serve: {error}\n")
        return 1
    try:
        if fixtures is not None:
            load_fixtures(fixtures, services)
        if demo:
            out.write(json.dumps(seed_demo(services)) + "\n")
        if services.keys.count() == 0:
            err.write("taskcore serve: no API keys (--keys, $TASKCORE_KEYS or --demo): "
                      "every API call will be 401\n")  # fmt: skip
        if worker is not None and not MIN_WORKER_INTERVAL <= worker <= MAX_SPAN.total_seconds():
            raise ValidationError(
                f"--worker must be {MIN_WORKER_INTERVAL:g} seconds or more, not {worker}",
                field="--worker",
            )
        if worker is None and not worker_control and (worker_seed or worker_failure_rate):
            raise ValidationError(
                "--worker-seed and --worker-failure-rate need --worker or --worker-control",
                field="--worker",
            )
        url = bound_url(sock, host)
        simulated = None
        if worker is not None or worker_control:
            simulated = SimulatedWorker(
                claro=services.claro,
                sendai=services.sendai,
                chunkr=services.chunkr,
                visual_layer=services.visual_layer,
                seed=worker_seed,
                failure_rate=worker_failure_rate,
                interval=1.0 if worker is None else worker,
            )
        extra: Sequence[Route] = ()
        if simulated is not None and worker_control:
            extra = control_router(simulated, enabled=True).routes
        handler = build_handler(services, base_url=url, extra_routes=extra)
        configure_logging(err)
        dispatcher = Dispatcher(services.claro) if webhooks else None

        def listening() -> None:
            out.write(url + "\n")
            out.flush()

        def stopping() -> None:
            err.write("taskcore serve: stopping; answering the requests in flight\n")
            err.flush()

        with contextlib.ExitStack() as background:
            if simulated is not None and worker is not None:
                simulated.start()
                background.callback(simulated.stop)
            if dispatcher is not None:
                dispatcher.start()
                background.callback(dispatcher.stop)
            serve(handler, sock, on_listening=listening, on_stopping=stopping, stop=stop)
    except (TaskcoreError, ServerUnavailable, OSError, ValueError) as error:
        err.write(f"taskcore serve: {error}\n")
        return 1
    finally:
        sock.close()
        services.close()
    return 0


def _main_resettable(
    sock: socket.socket,
    *,
    host: str,
    store: str,
    keys: ApiKeys,
    demo: bool,
    fixtures: str | None,
    out: TextIO,
    err: TextIO,
    stop: threading.Event | None,
    worker: float | None,
    worker_seed: int,
    worker_failure_rate: float,
    worker_control: bool,
    webhooks: bool,
) -> int:
    """``taskcore serve --verify-control``: :func:`main` on a :class:`Resettable`."""
    url = bound_url(sock, host)
    seeded: list[dict[str, Any]] = []  # what --demo printed: the first session's ids

    def start() -> Session:
        services = build_services(MemoryStore(), ApiKeys())
        services.keys.update(keys)
        try:
            if fixtures is not None:
                load_fixtures(fixtures, services)
            if demo:
                seeded.append(seed_demo(services))
            extra: Sequence[Route] = ()
            if worker_control:
                simulated = SimulatedWorker(
                    claro=services.claro,
                    sendai=services.sendai,
                    chunkr=services.chunkr,
                    visual_layer=services.visual_layer,
                    seed=worker_seed,
                    failure_rate=worker_failure_rate,
                )
                extra = control_router(simulated, enabled=True).routes
            handler = build_handler(services, base_url=url, extra_routes=extra)
        except BaseException:
            services.close()
            raise
        if not webhooks:
            return Session(services, handler)
        dispatcher = Dispatcher(services.claro)
        dispatcher.start()
        return Session(services, handler, dispatcher.stop)

    try:
        if store != "memory":
            raise ValidationError("--verify-control needs --store memory", field="--store")
        if worker is not None:
            raise ValidationError(
                "--verify-control runs no background worker (drop --worker; "
                "--worker-control drives it)",
                field="--worker",
            )
        resettable = Resettable(start)
    except (TaskcoreError, OSError, ValueError) as error:
        sock.close()
        err.write(f"taskcore serve: {error}\n")
        return 1
    try:
        if demo:
            out.write(json.dumps(seeded[0]) + "\n")
        if resettable.services.keys.count() == 0:
            err.write("taskcore serve: no API keys (--keys, $TASKCORE_KEYS or --demo): "
                      "every API call will be 401\n")  # fmt: skip
        configure_logging(err)

        def listening() -> None:
            out.write(url + "\n")
            out.flush()

        serve(resettable, sock, on_listening=listening, stop=stop)
    except (TaskcoreError, ServerUnavailable, OSError, ValueError) as error:
        err.write(f"taskcore serve: {error}\n")
        return 1
    finally:
        sock.close()
        resettable.close()
    return 0
