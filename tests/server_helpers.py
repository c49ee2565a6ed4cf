"""Serving for the tests: taskcore's handler under uvicorn in a thread on 127.0.0.1, an
ephemeral port, and a small HTTP client on ``http.client`` (one connection a call)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from taskcore.server import ApiKeys, Services, bind, bound_url, build_handler, build_services, serve
from taskcore.store import MemoryStore

START_TIMEOUT = 30.0
"""Seconds a test waits for a server to listen or to stop (a bound, never a pace)."""


@contextmanager
def running(
    services: Services | None = None, *, head_timeout: float | None = None
) -> Iterator[tuple[str, Services]]:
    """Serve ``build_handler(services)`` until the block ends; yield the base URL and
    the services.  The store is closed at the end."""
    services = build_services(MemoryStore(), ApiKeys()) if services is None else services
    sock = bind("127.0.0.1", 0)
    url = bound_url(sock, "127.0.0.1")
    handler = build_handler(services, base_url=url)
    listening, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if head_timeout is None:
                serve(handler, sock, on_listening=listening.set, stop=stop)
            else:
                serve(
                    handler, sock, on_listening=listening.set, stop=stop, head_timeout=head_timeout
                )
        except BaseException as error:  # reported by the test
            failure.append(error)
            listening.set()

    thread = threading.Thread(target=run, name="test-server")
    thread.start()
    try:
        assert listening.wait(START_TIMEOUT), "the server did not start"
        assert not failure, failure
        yield url, services
    finally:
        stop.set()
        thread.join(START_TIMEOUT)
        services.close()
        assert not thread.is_alive(), "the server did not stop"


class Reply:
    """What came back: status, headers (lower-cased names), body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(
    url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    """One request on a fresh connection to ``url`` (``http://127.0.0.1:PORT``)."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=START_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        answer = connection.getresponse()
        data = answer.read()
        return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
    finally:
        connection.close()


def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the server sends back until it
    closes (or a whole response has come)."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=START_TIMEOUT) as sock:
        # The server may answer and close before taking everything: read what it sent.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
            length = [n for n in head.split(b"\r\n") if n.lower().startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
        return b"".join(chunks)
