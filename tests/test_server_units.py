"""``taskcore.server`` in-process: keys files, stores, the composite's own refusals, and
``taskcore serve``'s main on a thread (a real socket), its errors before serving."""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from postgres_server import wipe
from server_helpers import START_TIMEOUT, call
from taskcore import cli, server
from taskcore.errors import StoreBusy, TaskcoreError, ValidationError
from taskcore.http import Request, Response, Route, Router, json_response
from taskcore.server import (
    ApiKeys,
    Mount,
    Mounts,
    build_handler,
    build_services,
    load_keys,
    open_store,
    parse_keys,
)
from taskcore.store import MemoryStore, SqliteStore
from taskcore.store.postgres import PostgresStore

KEYS = {
    "claro": {"C": "acme"},
    "sendai": {"S": {"team": "team_acme", "scopes": ["task.read"]}},
    "chunkr": {"K": "user"},
    "visual_layer": {"V": "me@example.com"},
}


def test_a_keys_file_gives_each_api_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KEYS), encoding="utf-8")
    keys = load_keys(path)
    assert {"C": "acme"} == keys.claro
    assert ("team_acme", frozenset({"task.read"})) == (
        keys.sendai["S"].team_id,
        keys.sendai["S"].scopes,
    )
    assert ({"K": "user"}, {"V": "me@example.com"}) == (keys.chunkr, keys.visual_layer)
    assert 4 == keys.count()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "$"),
        ({"github": {}}, "$.github"),
        ({"claro": []}, "$.claro"),
        ({"claro": {"": "a"}}, "$.claro"),
        ({"claro": {"C": 1}}, "$.claro.C"),
        ({"sendai": []}, "$.sendai"),
        ({"sendai": {" ": {"team": "t", "scopes": []}}}, "$.sendai"),
        ({"sendai": {"S": {"team": "t"}}}, "$.sendai.S"),
        ({"sendai": {"S": {"team": "", "scopes": []}}}, "$.sendai.S.team"),
        ({"sendai": {"S": {"team": "t", "scopes": "task.read"}}}, "$.sendai.S.scopes"),
    ],
)
def test_a_bad_keys_document_names_the_place(document: Any, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_keys(document)
    assert field == raised.value.field


def test_an_unreadable_keys_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(ValidationError, match="Cannot read keys file"):
        load_keys(path)
    path.write_text('{"claro": {"C": 1}}', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"keys\.json") as raised:
        load_keys(path)
    assert "$.claro.C" == raised.value.field


def test_stores_are_named_memory_or_sqlite(tmp_path: Path) -> None:
    memory = open_store("memory")
    assert isinstance(memory, MemoryStore)
    memory.close()
    sqlite = open_store(f"sqlite:{tmp_path / 'x.db'}")
    assert isinstance(sqlite, SqliteStore)
    sqlite.close()
    for bad in ("redis", "sqlite:", "sqlite", "postgres:", "postgres"):
        with pytest.raises(ValidationError, match="--store"):
            open_store(bad)


def test_a_postgres_store_is_named_by_its_dsn(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wipe(postgres_dsn)
    store = open_store(f"postgres:{postgres_dsn}")
    assert isinstance(store, PostgresStore)
    store.close()
    with pytest.raises(StoreBusy, match="no_such_database"):
        open_store(f"postgres:{postgres_dsn.replace('dbname=postgres', 'dbname=no_such_database')}")
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "psycopg_pool" else found(name)
    )
    with pytest.raises(ValidationError, match=r"taskcore\[postgres\]"):
        open_store(f"postgres:{postgres_dsn}")


def test_the_composite_refuses_in_the_apis_own_shape() -> None:
    services = build_services(MemoryStore(), ApiKeys(claro={"C": "acme"}))
    handler = build_handler(services)
    big = Request("POST", "/api/v1/tasks/x/abort", {}, b"x" * (64 * 1024 + 1))
    assert (413, ["detail"]) == (handler.handle(big).status, list(handler.handle(big).json()))
    nowhere = handler.reject("/elsewhere", ValidationError("no"))
    assert "VALIDATION_ERROR" == nowhere.json()["code"]
    assert 1024 * 1024 == handler.body_limit("/elsewhere")
    bodiless = Request("DELETE", "/api/v2/datasets/d/tasks/t", {"authorization": "Bearer C"})
    assert 404 == handler.handle(bodiless).status  # no Content-Type needed without a body
    typed = Request(
        "POST",
        "/api/v2/datasets/d/tasks/bulk",
        {"content-type": "application/vnd.x+json; charset=utf-8", "authorization": "Bearer C"},
        b"{}",
    )
    assert "DATASET_NOT_FOUND" == handler.handle(typed).json()["code"]
    services.close()


def test_a_bug_in_a_mounted_router_is_a_500_in_taskcores_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Router):
        def handle(self, request: Request) -> Response:
            raise RuntimeError("bug")

    mounts = Mounts([Mount("/x", Broken([], lambda e: json_response(e.status, {"d": e.code})))])
    with caplog.at_level(logging.ERROR, logger="taskcore.server"):
        answer = mounts.handle(Request("GET", "/x/1"))
    assert (500, {"d": "INTERNAL_ERROR"}) == (answer.status, answer.json())
    assert "bug" in caplog.text


def test_extra_routes_come_first() -> None:
    def hello(request: Request, params: Any) -> Response:
        return json_response(200, {"hello": params["name"]})

    services = build_services(MemoryStore())
    handler = build_handler(
        services, extra_routes=[Route("GET", "/api/v1/tasks/hello/{name}", hello)]
    )
    assert {"hello": "a b"} == handler.handle(Request("GET", "/api/v1/tasks/hello/a%20b")).json()
    services.close()


class Lines(io.StringIO):
    """Standard output that tells when a URL was printed."""

    def __init__(self) -> None:
        super().__init__()
        self.url = threading.Event()

    def write(self, text: str) -> int:
        if text.startswith("http://"):
            self.url.set()
        return super().write(text)


def serve_main(
    tmp_path: Path, env: dict[str, str] | None = None, **options: Any
) -> tuple[int, str, str]:
    """Run ``taskcore serve``'s main on a thread until it prints its URL (or returns),
    make one call when it listens, stop it; the exit code and what it printed."""
    out, err, stop = Lines(), io.StringIO(), threading.Event()
    result: list[int] = []
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "store": "memory",
                                "keys": None, "demo": False, "fixtures": None}  # fmt: skip
    settings.update(options)

    def run() -> None:
        try:
            result.append(server.main(out=out, err=err, environ=env or {}, stop=stop, **settings))
        finally:
            out.url.set()  # also when main returned without listening

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert out.url.wait(START_TIMEOUT)
        if out.getvalue().startswith(("http://", "{")):
            url = out.getvalue().splitlines()[-1]
            answer = call(url, "GET", "/api/v1/tasks", headers={"Authorization": "Bearer V"})
            err.write(f"answer {answer.status}\n")
    finally:
        stop.set()
        thread.join(START_TIMEOUT)
    return result[0], out.getvalue(), err.getvalue()


def test_main_serves_with_keys_from_the_environment_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KEYS), encoding="utf-8")
    code, out, err = serve_main(tmp_path, env={"TASKCORE_KEYS": str(path)})
    assert 0 == code
    assert out.startswith("http://127.0.0.1:")
    assert "answer 200" in err
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [("GET", "/api/v1/tasks", 200)] == [
        (a["method"], a["path"], a["status"]) for a in access
    ]


def test_main_with_demo_prints_the_keys_and_warns_without_keys(tmp_path: Path) -> None:
    code, out, err = serve_main(tmp_path, demo=True)
    assert 0 == code
    assert "YOUR_JWT" == json.loads(out.splitlines()[0])["keys"]["visual_layer"]
    code, out, err = serve_main(tmp_path)
    assert (0, True) == (code, "no API keys" in err)
    assert "answer 401" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"keys": "/nonexistent/keys.json"}, "Cannot read keys file"),
        ({"store": "redis"}, "--store must be"),
        ({"fixtures": "f.json"}, "cannot read f.json"),
        ({"host": "192.0.2.1"}, "Cannot listen on 192.0.2.1"),
        ({"port": 70000}, "a port is 0..65535"),
        ({"store": "sqlite:/nonexistent/dir/x.db"}, "unable to open database file"),
        ({"worker_failure_rate": 1.5}, "need --worker or --worker-control"),
        ({"worker": 1e-9}, "--worker must be 0.01 seconds or more"),
        ({"worker": 0.5, "worker_failure_rate": 1.5}, "failure_rate"),
    ],
)
def test_main_refuses_bad_settings_before_serving(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    code, out, err = serve_main(tmp_path, **options)
    assert (1, "") == (code, out)
    assert err.startswith("taskcore serve: ")
    assert message in err


def test_an_address_in_use_is_refused(tmp_path: Path) -> None:
    sock = server.bind("127.0.0.1", 0)
    try:
        code, _, err = serve_main(tmp_path, port=sock.getsockname()[1])
    finally:
        sock.close()
    assert 1 == code
    assert "Cannot listen" in err


def test_without_uvicorn_serve_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name)
    )
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert 1 == cli.main(["serve", "--port", "0"], out=io.StringIO())
    assert "pip install 'taskcore[server]'" in err.getvalue()


def test_errors_in_serve_are_typed() -> None:
    assert issubclass(server.ServerUnavailable, RuntimeError)
    assert not issubclass(server.ServerUnavailable, TaskcoreError)


def test_a_fixture_file_fills_the_services_and_their_keys(tmp_path: Path) -> None:
    path = tmp_path / "fixture.json"
    path.write_bytes((importlib.resources.files("taskcore") / "demo_fixture.json").read_bytes())
    services = server.build_services(server.open_store("memory"))
    try:
        loaded = server.load_fixtures(path, services)
        assert services.keys.count() > 0
        assert dict(loaded.visual_layer_tokens).items() <= services.keys.visual_layer.items()
        user = next(iter(services.keys.visual_layer.values()))
        assert services.visual_layer.list(user).total == len(loaded.visual_layer_tasks)
    finally:
        services.close()
