"""``taskcore verify`` facing ids that need percent-encoding, deep JSON and wrongly typed
answers: no false alarm for an odd but legitimate id, and a hostile answer is a
divergence with its reports written, never a traceback."""

from __future__ import annotations

import copy
import http.client
import io
import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from taskcore.cli import main
from taskcore.fixtures import demo_fixture
from taskcore.verify.exchange import Step
from taskcore.verify.model import Check, Divergence
from taskcore.verify.repro import _repro_sh
from taskcore.verify.run import _checkers
from taskcore.verify.trace import check_trace
from verify_servers import FIXTURE, KEY, serving, write_fixture

ODD_ID = "task rev'%41?y#z\"q"
"""A Send AI document id with a space, quotes, ``%``, ``?`` and ``#`` (fixtures refuse ``/``)."""


def _verify(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["verify", *argv], out=out)
    return status, out.getvalue()


def test_an_id_that_needs_encoding_is_sent_encoded_and_matched_decoded(tmp_path: Path) -> None:
    fixture: dict[str, Any] = copy.deepcopy(FIXTURE)
    documents = fixture["sendai"]["teams"][0]["uploads"][0]["documents"]
    for document in documents:
        document["id"] = document["id"].replace("task_reviewing", ODD_ID)
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    report = tmp_path / "report.json"
    with serving(path) as url:
        status, text = _verify(
            ["sendai", "--base-url", url, "--key", KEY, "--fixtures", str(path),
             "--examples", "5", "--seed", "1", "--json", str(report),
             "--out", str(tmp_path / "out")]
        )  # fmt: skip
    assert 0 == status, text
    verdicts = {p["verdict"] for p in json.loads(report.read_text())["properties"].values()}
    assert "held" in verdicts
    assert verdicts <= {"held", "not checked"}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _Renamer:
    """Two-way map between a server's task ids and odd ones (``T0 '/?%#"``, ...)."""

    def __init__(self) -> None:
        self.odd: dict[str, str] = {}
        self.real: dict[str, str] = {}

    def rename(self, real: str) -> str:
        if real not in self.odd:
            odd = f"T{len(self.odd)} '/?%#\""
            self.odd[real], self.real[odd] = odd, real
        return self.odd[real]

    def answer(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.answer(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.answer(v) for v in value]
        if isinstance(value, str):
            return _UUID.sub(lambda m: self.rename(m.group(0)), value)
        return value

    def path(self, raw: str) -> str:
        route, mark, query = raw.partition("?")
        parts = [unquote(part) for part in route.split("/")]
        route = "/".join(quote(self.real.get(part, part), safe="") for part in parts)
        return route + mark + query


@contextmanager
def _renaming_proxy(backend: str) -> Iterator[str]:
    """A Chunkr server like ``backend`` whose task ids need percent-encoding."""
    names = _Renamer()
    with _proxy(
        backend, names.path, lambda path, data: json.dumps(names.answer(json.loads(data))).encode()
    ) as url:
        yield url


@contextmanager
def _proxy(
    backend: str, path: Callable[[str], str], rewrite: Callable[[str, bytes], bytes]
) -> Iterator[str]:
    """``backend`` behind a proxy: request paths through ``path``, JSON answers
    through ``rewrite(path, body)``."""
    target = urlsplit(backend)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection = http.client.HTTPConnection(target.hostname or "", target.port or 80)
            try:
                connection.request(self.command, path(self.path), body, headers)
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            if "json" in (answer.getheader("content-type") or ""):
                data = rewrite(self.path, data)
            self.send_response(answer.status)
            self.send_header("content-type", answer.getheader("content-type") or "")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = forward  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_server_made_ids_that_need_encoding_are_no_false_alarm(tmp_path: Path) -> None:
    fixture = write_fixture(tmp_path)
    report = tmp_path / "report.json"
    with serving(fixture) as backend, _renaming_proxy(backend) as url:
        status, text = _verify(
            ["chunkr", "--base-url", url, "--key", KEY, "--fixtures", str(fixture),
             "--examples", "10", "--seed", "3", "--json", str(report),
             "--out", str(tmp_path / "out")]
        )  # fmt: skip
    assert 0 == status, text
    verdicts = {p["verdict"] for p in json.loads(report.read_text())["properties"].values()}
    assert "held" in verdicts
    assert verdicts <= {"held", "not checked"}


def _deep(path: str, data: bytes) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000 if path.startswith("/api/") else data


def test_an_answer_nested_too_deep_is_a_divergence_with_reports(tmp_path: Path) -> None:
    fixture = write_fixture(tmp_path)
    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    with serving(fixture) as backend, _proxy(backend, lambda p: p, _deep) as url:
        status, text = _verify(
            ["chunkr", "--base-url", url, "--key", KEY, "--fixtures", str(fixture),
             "--examples", "3", "--seed", "1", "--json", str(report), "--junit", str(junit),
             "--out", str(tmp_path / "out"), "--no-shipped-scenarios"]
        )  # fmt: skip
    assert 1 == status, text
    assert junit.exists()
    verdicts = {n: p["verdict"] for n, p in json.loads(report.read_text())["properties"].items()}
    assert "diverged" in {verdicts["responses"], verdicts["fields"]}, verdicts


FUZZ_TRACES = Path(__file__).parent / "verify_fuzz_traces"
"""Recorded traces with one answer or request mutated to a wrong JSON type (a list
where a string is documented, a string ``details``, a create with no JSON object)."""


@pytest.mark.parametrize("trace", sorted(FUZZ_TRACES.glob("*.jsonl")), ids=lambda p: p.stem)
def test_wrongly_typed_json_in_a_trace_is_judged_not_a_traceback(trace: Path) -> None:
    api = trace.stem.split("-")[0].replace("visual", "visual-layer")
    key = "YOUR_JWT" if api == "visual-layer" else "YOUR_API_KEY"
    model = _checkers()[api](demo_fixture(), key, control=True)
    result = check_trace(trace, api, model)
    assert result.exit_status in (0, 1)
    assert result.problem is None


def test_repro_sh_sends_a_captured_id_percent_encoded_as_verify_does(tmp_path: Path) -> None:
    steps = [
        Step(
            "POST",
            "/api/v1/task/parse",
            json.dumps({"file": "aGVsbG8=", "file_name": "hello.pdf"}),
            capture={"task_1": "task_id"},
        ),
        Step("GET", "/api/v1/task/${task_1}"),
    ]
    auth = [{"authorization": KEY}] * 2
    divergence = Divergence("responses", "expected 200", (Check("status", "==", 200),))
    with serving(write_fixture(tmp_path)) as backend, _renaming_proxy(backend) as url:
        script = tmp_path / "repro.sh"
        script.write_text(_repro_sh(url, "true", steps, auth, divergence), encoding="utf-8")
        done = subprocess.run(
            ["sh", str(script)], capture_output=True, text=True, timeout=60, check=False
        )
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "step 2: GET -> 200" in done.stderr
