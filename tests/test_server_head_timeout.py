"""A connection that sends half a request head is closed after the head timeout, on its
first request and on a kept-alive one, so such connections cannot hold every slot."""

from __future__ import annotations

import socket
import time

from server_helpers import START_TIMEOUT, call, running


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading what it sends)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    return False


def test_half_a_head_is_closed_after_the_head_timeout() -> None:
    with running(head_timeout=0.3) as (url, _):
        port = int(url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=START_TIMEOUT) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            assert _closed_within(sock, START_TIMEOUT)
        assert 200 == call(url, "GET", "/healthz").status  # the server goes on


def test_a_kept_alive_connection_gets_the_same_limit_for_its_next_head() -> None:
    with running(head_timeout=0.3) as (url, _):
        port = int(url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=START_TIMEOUT) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(START_TIMEOUT)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert _closed_within(sock, START_TIMEOUT)


def test_a_slow_but_whole_head_within_the_limit_is_answered() -> None:
    with running(head_timeout=5.0) as (url, _):
        port = int(url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=START_TIMEOUT) as sock:
            for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
                sock.sendall(piece)
                time.sleep(0.05)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
