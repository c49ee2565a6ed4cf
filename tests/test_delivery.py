"""Webhook delivery (docs/server.md, "Webhook delivery"): a real receiver on 127.0.0.1
verifying both signature schemes, retries on the documented schedule under an injected
clock and random source, giving up, at-least-once, and a restart on SQLite."""

from __future__ import annotations

import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs
import pytest
import standardwebhooks
from hypothesis import given
from hypothesis import strategies as st

from taskcore.claro.grid import Grid
from taskcore.claro.service import ClaroTasks
from taskcore.claro.webhooks import (
    CLARO_SIGNATURE_HEADER,
    MAX_ERROR_LENGTH,
    SIGNATURE_HEADER,
    OutboxRecord,
    Webhook,
    message_id,
    standard_secret,
    verify_signature,
)
from taskcore.clock import ManualClock, SystemClock, format_instant, parse_instant
from taskcore.delivery import (
    Backoff,
    DeliveryError,
    Dispatcher,
    Outcome,
    PassSummary,
    post,
)
from taskcore.errors import TaskNotFound, ValidationError
from taskcore.store import MemoryStore, SqliteStore, Store
from threads import run_threads

ME = "acct_me"
SECRET = "whsec-test-secret"
REPLAY_TOLERANCE = timedelta(minutes=5)  # the standardwebhooks package's

# --- a real receiver ------------------------------------------------------------------


@attrs.frozen
class Received:
    headers: dict[str, str]
    body: bytes
    claro_ok: bool
    standard_ok: bool
    status: int


class Receiver:
    """An ``http.server`` on 127.0.0.1 that verifies both signatures and acknowledges
    (204) what verifies, 400 otherwise; ``statuses`` overrides the next answers."""

    def __init__(self, secret: str = SECRET, statuses: tuple[int, ...] = ()) -> None:
        self.secret = secret
        self.statuses = deque(statuses)
        self.requests: list[Received] = []
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None  # when set: answer only once it is set
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = dict(self.headers.items())
                receiver.handle(self, headers, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?x=1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))

    def handle(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        claro_ok = verify_signature(self.secret, body, headers.get(CLARO_SIGNATURE_HEADER))
        try:
            standardwebhooks.Webhook(standard_secret(self.secret)).verify(body, headers)
            standard_ok = True
        except standardwebhooks.WebhookVerificationError:
            standard_ok = False
        with self._lock:
            status = self.statuses.popleft() if self.statuses else 0
            status = status or (204 if claro_ok and standard_ok else 400)
            self.requests.append(Received(headers, body, claro_ok, standard_ok, status))
        self.arrived.set()
        if self.hold is not None:
            assert self.hold.wait(timeout=60)
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:  # the sender is gone (killed): nothing to answer
            handler.close_connection = True

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


# --- a scripted sender (no network) ------------------------------------------------------


class Script:
    """A ``send`` that answers from a script: an int is a status, an exception is raised."""

    def __init__(self, *answers: int | BaseException) -> None:
        self.answers = deque(answers)
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        with self._lock:
            self.calls.append((url, body, dict(headers), timeout))
            answer = self.answers.popleft() if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        return answer


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore(clock=clock)
        if request.param == "memory"
        else SqliteStore(tmp_path / "claro.db", clock=clock)
    )
    with made:
        yield made


def ended(service: ClaroTasks, count: int = 1, webhook: str = "wh") -> list[str]:
    """``count`` completed tasks notifying ``webhook``, each on a dataset of its own."""
    task_ids = []
    for _ in range(count):
        dataset = service.create_dataset(ME, Grid(["r1"], ["c1"]))
        task = service.create_bulk(ME, dataset, {"webhookId": webhook})
        service.start(task.task_id)
        service.record(task.task_id, succeeded=range(task.total), token=task.lease_token)
        service.complete(task.task_id, token=task.lease_token)
        task_ids.append(task.task_id)
    return task_ids


def claro(store: Store, url: str = "https://receiver.example/hook") -> ClaroTasks:
    service = ClaroTasks(store)
    service.register_webhook(ME, url, SECRET, webhook_id="wh")
    return service


def every_record(service: ClaroTasks) -> dict[str, OutboxRecord]:
    return {r.task_id: r for r in service.outbox(pending_only=False)}


def store_snapshot(service: ClaroTasks) -> dict[str, list[tuple[str, Any]]]:
    tables = ("claro.outbox", "claro.outbox_due", "claro.delivered", "claro.gave_up")
    with service.store.unit(readonly=True) as unit:
        return {t: list(unit.items(t)) for t in tables}


# --- a real receiver over a real socket ----------------------------------------------


def test_a_receiver_verifies_both_signatures_and_the_record_is_delivered_once(
    store: Store,
) -> None:
    with Receiver() as receiver:
        service = claro(store, receiver.url)
        [task_id] = ended(service)
        [pending] = service.outbox()
        dispatcher = Dispatcher(service, timeout=5)
        summary = dispatcher.run_once()
        assert [Outcome.DELIVERED] == [r.outcome for r in summary.results]
        assert (1, 0, 0) == (summary.delivered, summary.retrying, summary.gave_up)
        [got] = receiver.requests
        assert (True, True, 204) == (got.claro_ok, got.standard_ok, got.status)
        assert pending.body == got.body
        assert pending.signature == got.headers[SIGNATURE_HEADER]
        assert message_id(task_id, pending.created_at) == got.headers["webhook-id"]
        assert "application/json" == got.headers["Content-Type"]
        # delivered exactly once: the next pass finds nothing to send
        assert PassSummary() == dispatcher.run_once()
        assert 1 == len(receiver.requests)
    assert [] == service.outbox()
    record = every_record(service)[task_id]
    assert (True, 1, None, None) == (
        record.delivered,
        record.attempts,
        record.last_error,
        record.next_attempt_at,
    )


def test_a_request_replayed_outside_the_tolerance_is_rejected_and_the_retry_is_fresh(
    clock: ManualClock,
) -> None:
    with MemoryStore(clock=clock) as store, Receiver() as receiver:
        service = claro(store, receiver.url)
        [task_id] = ended(service)
        # A request stamped six minutes ago (captured then), replayed now, is refused.
        captured = Script(503)
        stale = ManualClock(datetime.now(UTC) - REPLAY_TOLERANCE - timedelta(minutes=1))
        Dispatcher(service, send=captured, clock=stale).run_once()
        [(url, body, headers, _)] = captured.calls
        assert 400 == post(url, body, headers, 5.0)
        [replayed] = receiver.requests
        assert (True, False) == (replayed.claro_ok, replayed.standard_ok)
        # The record's own retry is signed anew at its attempt and accepted.
        clock.advance(Backoff().ceiling(1))
        summary = Dispatcher(service, timeout=5).run_once()
        assert [Outcome.DELIVERED] == [r.outcome for r in summary.results]
        fresh = receiver.requests[-1]
        assert (True, True) == (fresh.claro_ok, fresh.standard_ok)
        assert headers["webhook-id"] == fresh.headers["webhook-id"]  # stable across retries
        assert headers["webhook-timestamp"] != fresh.headers["webhook-timestamp"]
        assert 2 == every_record(service)[task_id].attempts


def test_5xx_refused_connections_and_timeouts_over_sockets_are_retried(
    clock: ManualClock,
) -> None:
    silent = socket.socket()  # listens, never accepts: a receiver that never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()  # a port nobody listens on
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        with MemoryStore(clock=clock) as store, Receiver(statuses=(503,)) as receiver:
            service = ClaroTasks(store)
            urls = {
                "wh_5xx": receiver.url,
                "wh_refused": f"http://127.0.0.1:{closed_port}/",
                "wh_silent": f"http://127.0.0.1:{silent.getsockname()[1]}/",
            }
            for webhook, url in urls.items():
                service.register_webhook(ME, url, SECRET, webhook_id=webhook)
            ids = {w: ended(service, 1, w)[0] for w in urls}
            dispatcher = Dispatcher(service, timeout=0.5, rng=random.Random(3))
            summary = dispatcher.run_once()
            kept = {r.task_id: r.last_error for r in service.outbox()}
    finally:
        silent.close()
    errors = {r.task_id: (r.status, r.error, r.outcome) for r in summary.results}
    assert {
        ids["wh_5xx"]: (503, "HTTP 503", Outcome.RETRY),
        ids["wh_refused"]: (None, "connection refused", Outcome.RETRY),
        ids["wh_silent"]: (None, "timed out after 0.5 s", Outcome.RETRY),
    } == errors
    assert {ids[w]: errors[ids[w]][1] for w in urls} == kept


# --- the schedule, under an injected clock and random source ---------------------------


@pytest.mark.parametrize(
    "failure",
    [503, 302, 404, TimeoutError("slow"), ConnectionRefusedError(111, "refused"), OSError("x")],
)
def test_every_failed_attempt_follows_the_schedule_then_gives_up(
    store: Store, clock: ManualClock, failure: int | BaseException
) -> None:
    service = claro(store)
    [task_id] = ended(service)
    backoff = Backoff()
    send = Script(*[failure] * backoff.attempts)
    dispatcher = Dispatcher(service, send=send, rng=random.Random(42))
    twin = random.Random(42)
    for attempt in range(1, backoff.attempts):
        [result] = dispatcher.run_once().results
        assert Outcome.RETRY == result.outcome
        wait = backoff.ceiling(attempt) * twin.random()
        assert format_instant(clock.now() + wait) == result.next_attempt_at
        [pending] = service.outbox()
        assert (attempt, result.error) == (pending.attempts, pending.last_error)
        clock.advance(wait - timedelta(microseconds=1))
        assert PassSummary() == dispatcher.run_once()  # not due yet
        clock.advance(timedelta(microseconds=1))
    [last] = dispatcher.run_once().results
    assert (Outcome.GAVE_UP, None) == (last.outcome, last.next_attempt_at)
    assert backoff.attempts == len(send.calls)
    assert [] == service.outbox()
    record = every_record(service)[task_id]
    assert (True, False, backoff.attempts, last.error) == (
        record.gave_up,
        record.delivered,
        record.attempts,
        record.last_error,
    )
    clock.advance(timedelta(days=30))
    assert PassSummary() == dispatcher.run_once()  # never sent again


def test_a_given_up_record_stays_inspectable_for_its_retention(clock: ManualClock) -> None:
    with MemoryStore(clock=clock) as store:
        service = ClaroTasks(store, gave_up_retention=3600)
        service.register_webhook(ME, "https://r.example/", SECRET, webhook_id="wh")
        [task_id] = ended(service)
        one_shot = Backoff(attempts=1)
        Dispatcher(service, send=Script(500), backoff=one_shot).run_once()
        assert every_record(service)[task_id].gave_up
        clock.advance(3599)
        assert 0 == service.prune()
        clock.advance(1)
        assert 1 == service.prune()
        assert {} == every_record(service)


def test_a_2xx_marks_a_record_delivered_exactly_once(store: Store) -> None:
    service = claro(store)
    [task_id] = ended(service)
    delivered = service.record_attempt(task_id, ok=True)
    before = store_snapshot(service)
    again = service.record_attempt(task_id, ok=True)
    late = service.record_attempt(task_id, ok=False, error="late", retry_in=timedelta(0))
    service.mark_delivered(task_id)
    assert before == store_snapshot(service)
    assert delivered == again == late
    assert (True, 1) == (delivered.delivered, delivered.attempts)


def test_a_crash_between_send_and_record_sends_again_with_the_same_webhook_id(
    store: Store, clock: ManualClock
) -> None:
    service = claro(store)
    [task_id] = ended(service)
    [claimed] = service.due_outbox(10, claim_for=60)  # a dispatcher that then dies
    send = Script()
    dispatcher = Dispatcher(service, send=send)
    assert PassSummary() == dispatcher.run_once()  # claimed: another dispatcher waits
    clock.advance(60)
    [result] = dispatcher.run_once().results
    assert Outcome.DELIVERED == result.outcome
    assert claimed.message_id == send.calls[0][2]["webhook-id"] == result.message_id
    assert 1 == every_record(service)[task_id].attempts  # the lost attempt was not recorded


def test_a_pass_claims_at_most_its_batch_and_sends_concurrently(store: Store) -> None:
    service = claro(store)
    ids = ended(service, 5)
    send = Script()
    dispatcher = Dispatcher(service, send=send, batch_size=3, concurrency=3)
    first = dispatcher.run_once()
    second = dispatcher.run_once()
    assert (3, 2) == (first.delivered, second.delivered)
    assert sorted(ids) == sorted(r.task_id for r in first.results + second.results)
    assert {10.0} == {call[3] for call in send.calls}  # the default timeout, in seconds
    assert [] == service.outbox()


def test_a_lapsed_lease_is_settled_and_its_failure_delivered(clock: ManualClock) -> None:
    with MemoryStore(clock=clock) as store:
        service = ClaroTasks(store, lease_ttl=60)
        service.register_webhook(ME, "https://r.example/", SECRET, webhook_id="wh")
        dataset = service.create_dataset(ME, Grid(["r1"], ["c1"]))
        task = service.create_bulk(ME, dataset, {"webhookId": "wh"})
        clock.advance(61)
        send = Script()
        [result] = Dispatcher(service, send=send).run_once().results
        assert (task.task_id, Outcome.DELIVERED) == (result.task_id, result.outcome)
        assert b'"status":"failed"' in send.calls[0][1]


def test_only_allowed_hosts_are_contacted(store: Store, clock: ManualClock) -> None:
    service = claro(store, "https://Receiver.example/hook")
    ended(service)
    send = Script()
    refused = Dispatcher(service, send=send, allowed_hosts={"other.example"}).run_once()
    [result] = refused.results
    assert (None, "host 'receiver.example' is not in allowed_hosts") == (
        result.status,
        result.error,
    )
    assert [] == send.calls
    # a host name is compared without regard to case
    allowed = Dispatcher(service, send=send, allowed_hosts={"RECEIVER.example"})
    clock.advance(Backoff().ceiling(1))
    assert 1 == allowed.run_once().delivered


def test_a_send_that_raises_anything_is_a_failed_attempt(store: Store) -> None:
    service = claro(store)
    ended(service)
    [result] = Dispatcher(service, send=Script(KeyError("boom"))).run_once().results
    assert ("KeyError: 'boom'", Outcome.RETRY) == (result.error, result.outcome)


def test_a_long_error_is_kept_truncated(store: Store) -> None:
    service = claro(store)
    [task_id] = ended(service)
    record = service.record_attempt(task_id, ok=False, error="x" * 10_000, retry_in=timedelta(0))
    assert "x" * MAX_ERROR_LENGTH == record.last_error
    [result] = Dispatcher(service, send=Script(DeliveryError("y" * 500))).run_once().results
    assert 200 == len(result.error or "")


# --- restart on SQLite --------------------------------------------------------------------


def test_a_restart_on_sqlite_loses_nothing_and_delivers_the_rest(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "claro.db"
    with SqliteStore(path, clock=clock) as store:
        service = ClaroTasks(store)
        service.register_webhook(ME, "https://r.example/", SECRET, webhook_id="wh")
        ids = ended(service, 3)
        first = Dispatcher(service, send=Script(500, 200, 503), rng=random.Random(1))
        summary = first.run_once()
        assert (1, 2) == (summary.delivered, summary.retrying)
        before = {r.task_id: r for r in service.outbox(pending_only=False)}
    with SqliteStore(path, clock=clock) as store:  # a new process: nothing in memory
        service = ClaroTasks(store)
        assert before == every_record(service)
        clock.advance(Backoff().ceiling(1))
        send = Script()
        summary = Dispatcher(service, send=send).run_once()
        assert 2 == summary.delivered
        records = every_record(service)
    assert set(ids) == set(records)
    assert {1, 2} == {r.attempts for r in records.values()}
    assert all(r.delivered for r in records.values())
    assert {before[t].message_id for t in ids if not before[t].delivered} == {
        call[2]["webhook-id"] for call in send.calls
    }


CHILD = """
import sys
from taskcore.claro.service import ClaroTasks
from taskcore.delivery import Dispatcher
from taskcore.store import SqliteStore
with SqliteStore(sys.argv[1]) as store:
    dispatcher = Dispatcher(ClaroTasks(store), timeout=30, batch_size=1, concurrency=1,
                            claim_for=60)
    dispatcher.run_once()
"""


def test_a_dispatcher_killed_before_it_recorded_the_answer_is_followed_by_a_resend(
    tmp_path: Path,
) -> None:
    path = tmp_path / "claro.db"
    with Receiver() as receiver:
        with SqliteStore(path) as store:
            service = claro(store, receiver.url)
            [task_id] = ended(service)
        receiver.hold = threading.Event()
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)])
        try:
            assert receiver.arrived.wait(timeout=60)  # the child sent it; no answer yet
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            receiver.hold.set()
        receiver.hold = None
        later = ManualClock(datetime.now(UTC) + timedelta(minutes=2))  # its claim lapsed
        with SqliteStore(path, clock=later) as store:
            service = ClaroTasks(store)
            [result] = Dispatcher(service, timeout=5).run_once().results
            record = every_record(service)[task_id]
        first, second = receiver.requests
    assert Outcome.DELIVERED == result.outcome
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == record.message_id
    assert (True, 1) == (record.delivered, record.attempts)


# --- the schedule itself ----------------------------------------------------------------


def test_the_default_schedule_is_the_documented_one() -> None:
    minutes = [int(c.total_seconds() // 60) for c in Backoff().schedule()]
    assert [15, 30, 60, 120, 240, 480, 480] == minutes
    assert timedelta(hours=23, minutes=45) == sum(Backoff().schedule(), timedelta(0))
    assert Backoff().delay(8, random.Random(0)) is None


@given(
    base=st.integers(1, 3600),
    factor=st.floats(1, 10),
    cap_factor=st.integers(1, 1000),
    attempts=st.integers(1, 100),
    seed=st.integers(0, 2**32),
)
def test_the_backoff_is_monotone_capped_and_its_jitter_in_range(
    base: int, factor: float, cap_factor: int, attempts: int, seed: int
) -> None:
    backoff = Backoff(timedelta(seconds=base), factor, timedelta(seconds=base * cap_factor),
                      attempts)  # fmt: skip
    ceilings = backoff.schedule()
    assert attempts - 1 == len(ceilings)
    assert ceilings == sorted(ceilings)
    assert all(timedelta(seconds=base) <= c <= backoff.cap for c in ceilings)
    rng = random.Random(seed)
    for attempt, ceiling in enumerate(ceilings, start=1):
        delay = backoff.delay(attempt, rng)
        assert delay is not None
        assert timedelta(0) <= delay <= ceiling
    assert backoff.delay(attempts, rng) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"attempts": 101},
        {"attempts": True},
        {"base": timedelta(0)},
        {"factor": 0.5},
        {"factor": 11.0},
        {"cap": timedelta(minutes=1)},
    ],
)
def test_a_backoff_out_of_range_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        Backoff(**bad)


# --- the background thread --------------------------------------------------------------


def test_the_background_thread_delivers_and_stops_cleanly(clock: ManualClock) -> None:
    with MemoryStore(clock=clock) as store, Receiver() as receiver:
        service = claro(store, receiver.url)
        [task_id] = ended(service)
        dispatcher = Dispatcher(service, interval=0.01, timeout=5)
        with dispatcher:
            assert dispatcher.is_running()
            with pytest.raises(RuntimeError, match="already running"):
                dispatcher.start()
            assert receiver.arrived.wait(timeout=60)
        assert not dispatcher.is_running()
        assert not any(t.name == "taskcore-delivery-loop" for t in threading.enumerate())
        dispatcher.stop()  # stopping again does nothing
        assert every_record(service)[task_id].delivered


def test_a_failing_pass_does_not_end_the_background_thread(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    service = claro(store)
    ended(service)
    passes = 0
    done = threading.Event()
    real = service.due_outbox

    def flaky(limit: int = 100, *, claim_for: timedelta | float = 300) -> list[OutboxRecord]:
        nonlocal passes
        passes += 1
        if passes == 1:
            raise RuntimeError("store trouble")
        records = real(limit, claim_for=claim_for)
        if records:
            done.set()
        return records

    service.due_outbox = flaky  # type: ignore[method-assign]  # a store in trouble
    dispatcher = Dispatcher(service, send=Script(), interval=0.01)
    dispatcher.start()
    try:
        assert done.wait(timeout=60)
    finally:
        dispatcher.stop()
    assert "webhook delivery pass failed" in caplog.text


# --- the HTTP client --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://r.example/", "not an http or https URL"),
        ("http://r.example:99999/", "port"),
        ("http:///path", "names no host"),
        ("http://r.example/a b", "cannot carry"),
        ("http://r.example/\u00e9", "cannot carry"),
    ],
)
def test_post_refuses_what_it_cannot_send(url: str, message: str) -> None:
    with pytest.raises(DeliveryError, match=message):
        post(url, b"{}", {}, 1.0)


def test_post_refuses_a_header_that_would_split_the_request() -> None:
    with pytest.raises(DeliveryError, match="cannot carry"):
        post("http://127.0.0.1:9/", b"{}", {"X-A": "1\r\nX-B: 2"}, 1.0)


def answering(raw: bytes) -> tuple[str, threading.Thread, socket.socket]:
    """A one-shot raw TCP server that answers ``raw`` to the first connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(raw)

    thread = threading.Thread(target=serve)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/", thread, listener


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok", 202),
        (b"HTTP/1.0 500\r\n\r\n" + b"x" * 200_000, 500),
        (b"HTTP/1.0 204 No Content\r\nServer: x\r\n\r\n", 204),
        (b"SSH-2.0-OpenSSH\r\n", None),
        (b"", None),
        (b"x" * 9000, None),
    ],
)
def test_post_reads_only_the_status_of_an_answer(raw: bytes, expected: int | None) -> None:
    url, thread, listener = answering(raw)
    try:
        if expected is None:
            with pytest.raises(DeliveryError):
                post(url, b"{}", {"X-A": "1"}, 5.0)
        else:
            assert expected == post(url, b"{}", {"X-A": "1"}, 5.0)
    finally:
        thread.join()
        listener.close()


def test_post_gives_up_at_its_deadline_and_checks_tls() -> None:
    with pytest.raises(TimeoutError):
        post("http://127.0.0.1:9/", b"{}", {}, 0)  # no time left: not even a connect
    url, thread, listener = answering(b"HTTP/1.1 200 OK\r\n\r\n")  # not TLS
    try:
        with pytest.raises(ssl.SSLError):  # the answer is no TLS handshake
            post(url.replace("http:", "https:"), b"{}", {}, 5.0)
    finally:
        thread.join()
        listener.close()


def test_an_answer_with_a_length_is_read_to_its_end_not_to_the_connections() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    closed_first: list[bool] = []

    def keep_alive() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            connection.settimeout(30)  # keeps the connection open: the client closes it
            closed_first.append(connection.recv(1) == b"")

    thread = threading.Thread(target=keep_alive)
    thread.start()
    try:
        assert 200 == post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"{}", {}, 60.0)
    finally:
        thread.join()
        listener.close()
    assert [True] == closed_first


def test_a_slow_answer_is_cut_at_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    release = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")  # the status, then nothing more
            release.wait(timeout=60)

    thread = threading.Thread(target=drip)
    thread.start()
    try:
        assert 200 == post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"{}", {}, 0.3)
    finally:
        release.set()
        thread.join()
        listener.close()


# --- the service's outbox operations ------------------------------------------------------


def test_bad_attempt_reports_are_refused_and_change_nothing(store: Store) -> None:
    service = claro(store)
    [task_id] = ended(service)
    before = store_snapshot(service)
    calls: list[Callable[[], object]] = [
        lambda: service.record_attempt(task_id, ok="yes"),  # type: ignore[arg-type]
        lambda: service.record_attempt(task_id, ok=False, error=5),  # type: ignore[arg-type]
        lambda: service.record_attempt(task_id, ok=False, retry_in=5),  # type: ignore[arg-type]
        lambda: service.record_attempt(task_id, ok=False, retry_in=timedelta(-1)),
        lambda: service.record_attempt(task_id, ok=False, retry_in=timedelta(days=4000)),
        lambda: service.due_outbox(0),
        lambda: service.due_outbox(True),
        lambda: service.due_outbox(10_001),
    ]
    for call in calls:
        with pytest.raises(ValidationError):
            call()
    with pytest.raises(ValueError, match="claim_for"):
        service.due_outbox(1, claim_for=-1)
    with pytest.raises(TaskNotFound):
        service.record_attempt("task_missing", ok=True)
    assert before == store_snapshot(service)


def test_records_read_from_the_service_carry_their_schedule(
    store: Store, clock: ManualClock
) -> None:
    service = claro(store)
    [task_id] = ended(service)
    [pending] = service.outbox()
    assert (0, format_instant(clock.now()), None) == (
        pending.attempts,
        pending.next_attempt_at,
        pending.last_error,
    )
    record = service.record_attempt(task_id, ok=False, error="HTTP 500", retry_in=timedelta(0))
    assert (1, "HTTP 500", b"") == (record.attempts, record.last_error, record.signing_key)
    assert clock.now() == parse_instant(record.next_attempt_at or "")
    assert [task_id] == [r.task_id for r in service.due_outbox(5)]


def test_a_record_without_a_signing_key_cannot_be_sent(store: Store) -> None:
    service = claro(store)
    ended(service)
    [record] = service.outbox()
    dispatcher = Dispatcher(service, send=Script())
    with pytest.raises(ValueError, match="signing key"):
        dispatcher.headers(attrs.evolve(record, signing_key=b""), 0)


def test_the_standard_secret_verifies_with_the_standardwebhooks_package(store: Store) -> None:
    service = claro(store)
    ended(service)
    [record] = service.outbox()
    now = int(SystemClock().now().timestamp())
    headers = Dispatcher(service, send=Script()).headers(record, now)
    receiver = standardwebhooks.Webhook(standard_secret(SECRET))
    assert record.payload() == receiver.verify(record.body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(standard_secret("another")).verify(record.body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        receiver.verify(record.body + b" ", headers)
    assert verify_signature(SECRET, record.body, headers[CLARO_SIGNATURE_HEADER])


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": 0},
        {"timeout": 301},
        {"batch_size": 0},
        {"concurrency": 65},
        {"interval": 0},
        {"claim_for": 10.0},
        {"claim_for": 90000.0},
    ],
)
def test_a_dispatcher_out_of_bounds_is_refused(store: Store, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        Dispatcher(claro(store), **bad)


def test_a_record_built_from_a_payload_is_signed_both_ways() -> None:
    webhook = Webhook("wh", ME, "https://r.example/", SECRET)
    payload = {"taskId": "task_1"}
    record = OutboxRecord.for_payload(webhook, "task_1", payload, "2026-01-05T12:00:00Z")
    assert verify_signature(SECRET, record.body, record.signature)
    now = int(SystemClock().now().timestamp())
    headers = Dispatcher(ClaroTasks(), send=Script()).headers(record, now)
    assert {"taskId": "task_1"} == standardwebhooks.Webhook(standard_secret(SECRET)).verify(
        record.body, headers
    )
    assert "signing_key" not in repr(record)  # the key is never shown
    assert record.signing_key.hex() not in str(record.to_doc())  # nor stored


def test_dispatchers_on_many_threads_send_each_record_once(store: Store) -> None:
    service = claro(store)
    ids = ended(service, 12)
    send = Script()
    dispatchers = [Dispatcher(service, send=send, batch_size=2, concurrency=2) for _ in range(4)]

    def drain(index: int) -> None:
        while dispatchers[index].run_once().results:
            pass

    run_threads(4, drain)
    sent = [call[2]["webhook-id"] for call in send.calls]
    assert sorted(sent) == sorted(set(sent))  # claimed by one dispatcher each: sent once
    records = every_record(service)
    assert {r.message_id for r in records.values()} == set(sent)
    assert sorted(ids) == sorted(t for t, r in records.items() if r.delivered and r.attempts == 1)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://r.example/",
        "http:///x",
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1/a b",
        "http://r.example/\u00e9",
        "file:///etc/passwd",
    ],
)
def test_a_webhook_that_could_never_be_delivered_to_is_refused_at_registration(url: str) -> None:
    service = ClaroTasks()
    with pytest.raises(ValidationError) as caught:
        service.register_webhook("acct", url, "secret")
    assert "url" == caught.value.field
    assert [] == service.outbox(pending_only=False)
