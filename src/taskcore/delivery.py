"""Webhook delivery: POST the Claro outbox to the receivers, with retries (docs/server.md,
"Webhook delivery"; the payload is the Claro API reference's "Webhook Notifications").

Theory of operation:

- The service keeps every pending notification in its store, with its attempt count and
  the instant it is next due (:meth:`ClaroTasks.due_outbox
  <taskcore.claro.service.ClaroTasks.due_outbox>`, :meth:`ClaroTasks.record_attempt
  <taskcore.claro.service.ClaroTasks.record_attempt>`).  A :class:`Dispatcher` holds no
  delivery state of its own: a pass claims what is due (at most ``batch_size``), POSTs
  each record (at most ``concurrency`` at once, each within ``timeout`` seconds), then
  records each outcome in the store, in the order the records were claimed.  So a
  restart, on a SQLite store, loses nothing and repeats at most the pass that was cut.
- At least once: a record is marked delivered only after a 2xx answer.  A dispatcher
  that dies between the answer and the record leaves the record claimed; once the claim
  lapses it is sent again with the same ``webhook-id``, on which receivers dedupe.
- Retries follow :class:`Backoff`: exponential ceilings with full jitter (each wait is
  drawn uniformly below its ceiling from an injectable :class:`random.Random`), then
  the record is given up and kept, with its last error, for the service's
  ``gave_up_retention``.  Any answer but a 2xx is a failed attempt (redirects are not
  followed), and so are timeouts, refused connections and other network errors.
- Every request carries both signatures (:mod:`taskcore.claro.webhooks`): Claro style
  (``X-Webhook-Signature``, and ``X-Taskcore-Signature`` as before) and Standard
  Webhooks (``webhook-id``, ``webhook-timestamp`` of the attempt, ``webhook-signature``).
- Deliveries go only to ``http://`` and ``https://`` URLs, and, with
  ``allowed_hosts``, only to those host names.  taskcore neither resolves nor filters
  addresses: a webhook may name a private address; an operator who lets untrusted
  accounts register webhooks limits where the dispatcher may connect (``allowed_hosts``,
  or egress rules of the host).
- Bounded: the request body is the record's; the answer's status line is read, the rest
  of the answer (at most 64 KiB) is read and dropped; an attempt's error text is kept
  truncated; nothing is kept per request.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from enum import Enum
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

import attrs

from taskcore import __version__
from taskcore.claro.service import ClaroTasks
from taskcore.claro.webhooks import (
    CLARO_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    OutboxRecord,
    sign_standard,
    url_problem,
)
from taskcore.clock import Clock, SystemClock

__all__ = [
    "AttemptResult",
    "Backoff",
    "DeliveryError",
    "Dispatcher",
    "Outcome",
    "PassSummary",
    "Send",
    "post",
]

_log = logging.getLogger("taskcore.delivery")

Send = Callable[[str, bytes, Mapping[str, str], float], int]
"""How a request is sent: ``send(url, body, headers, timeout_seconds) -> status``.
Raises :class:`OSError` (``TimeoutError``, ``ConnectionRefusedError``, ...) or
:class:`DeliveryError` when no HTTP answer came."""

MAX_ERROR_TEXT: Final = 200
"""The most characters of an attempt's error text a :class:`AttemptResult` carries."""
_MAX_STATUS_LINE: Final = 8192
_MAX_DRAIN: Final = 64 * 1024
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] ([1-9][0-9]{2})(?: [^\r\n]*)?\r?\n")
_CONTENT_LENGTH: Final = re.compile(rb"(?im)^content-length:[ \t]*([0-9]{1,12})[ \t]*$")
_UNSENDABLE: Final = re.compile(r"[\s\x00-\x1f\x7f]")


class DeliveryError(Exception):
    """A request that could not be sent, or an answer that is not HTTP/1.x."""


@attrs.frozen
class Backoff:
    """When to retry a failed delivery: exponential ceilings with full jitter.

    After the ``n``-th failed attempt (``n < attempts``) the next one waits a duration
    drawn uniformly from ``[0, ceiling(n))``, where ``ceiling(n) = min(cap, base *
    factor ** (n - 1))``; after the ``attempts``-th it gives up.  The defaults make 8
    attempts with ceilings of 15 min, 30 min, 1 h, 2 h, 4 h, 8 h and 8 h: the last
    attempt comes at most 23 h 45 min after the first (about half that on average).

    Raises:
        ValueError: ``attempts`` outside 1..100, ``base`` not positive, ``factor``
            outside 1..10, or ``cap`` below ``base``.
    """

    base: timedelta = timedelta(minutes=15)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=8)
    attempts: int = 8

    def __attrs_post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ValueError("attempts must be an integer")
        if not 1 <= self.attempts <= 100:
            raise ValueError("attempts must be from 1 to 100")
        if self.base <= timedelta(0):
            raise ValueError("base must be positive")
        if not 1 <= self.factor <= 10:
            raise ValueError("factor must be from 1 to 10")
        if self.cap < self.base:
            raise ValueError("cap must be at least base")

    def ceiling(self, attempt: int) -> timedelta:
        """The longest wait after the ``attempt``-th failed attempt (``attempt >= 1``)."""
        seconds = self.base.total_seconds() * self.factor ** min(attempt - 1, 100)
        return min(self.cap, timedelta(seconds=min(seconds, self.cap.total_seconds())))

    def delay(self, attempt: int, rng: random.Random) -> timedelta | None:
        """The wait after the ``attempt``-th failed attempt, drawn with ``rng``, or
        ``None`` when that was the last attempt (give up)."""
        if attempt >= self.attempts:
            return None
        return self.ceiling(attempt) * rng.random()

    def schedule(self) -> list[timedelta]:
        """The ceilings after attempts 1 .. ``attempts - 1``."""
        return [self.ceiling(n) for n in range(1, self.attempts)]


class Outcome(Enum):
    """What an attempt did to its record."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GAVE_UP = "gave_up"


@attrs.frozen
class AttemptResult:
    """One delivery attempt of a pass.

    Attributes:
        task_id: the notification's task.
        message_id: its ``webhook-id``.
        status: the receiver's HTTP status, or ``None`` when no answer came.
        error: why the attempt failed (at most :data:`MAX_ERROR_TEXT` characters), or
            ``None`` after a 2xx.
        outcome: delivered, to be retried, or given up.
        next_attempt_at: ISO 8601 instant (UTC) of the next attempt when retried.
    """

    task_id: str
    message_id: str
    status: int | None
    error: str | None
    outcome: Outcome
    next_attempt_at: str | None = None


@attrs.frozen
class PassSummary:
    """What one :meth:`Dispatcher.run_once` did, attempt by attempt, in claim order."""

    results: tuple[AttemptResult, ...] = ()

    def count(self, outcome: Outcome) -> int:
        """How many attempts ended with ``outcome``."""
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def delivered(self) -> int:
        """Attempts answered with a 2xx."""
        return self.count(Outcome.DELIVERED)

    @property
    def retrying(self) -> int:
        """Failed attempts with another one scheduled."""
        return self.count(Outcome.RETRY)

    @property
    def gave_up(self) -> int:
        """Failed last attempts."""
        return self.count(Outcome.GAVE_UP)


def _text(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        text = f"timed out after {timeout:g} s"
    elif isinstance(error, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(error, DeliveryError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_TEXT]


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` over HTTP/1.1 and return the answer's status.

    The whole exchange (connect, TLS, send, status line) must end within ``timeout``
    seconds; then the rest of the answer (to its ``Content-Length``, or to the end of the
    connection) is read and dropped, at most 64 KiB of it and within the same deadline.
    Redirects are not followed, no proxy is used, HTTPS verifies the certificate (system
    trust store).

    Raises:
        DeliveryError: not an http/https URL, an unsendable URL or header, or an answer
            that is not HTTP/1.x.
        TimeoutError: the deadline passed.
        OSError: the connection failed (refused, reset, unreachable, TLS).
    """
    problem = url_problem(url)
    if problem is not None:
        raise DeliveryError(problem)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = parts.hostname
    assert host is not None  # url_problem checked it
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    fields = {"Host": authority, **headers, "Content-Length": str(len(body)),
              "Connection": "close"}  # fmt: skip
    if _UNSENDABLE.search(target) or any(
        _UNSENDABLE.sub("", k) != k or re.search(r"[\r\n\x00]", v) for k, v in fields.items()
    ):
        raise DeliveryError("the URL or a header holds characters a request cannot carry")
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    try:
        request = head.encode("ascii") + b"\r\n" + body
    except UnicodeEncodeError:
        raise DeliveryError("the URL or a header is not ASCII") from None
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=_left(deadline))
    try:
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(_left(deadline))
        sock.sendall(request)
        received = b""
        while b"\n" not in received:
            if len(received) > _MAX_STATUS_LINE:
                raise DeliveryError("the answer's status line is too long")
            sock.settimeout(_left(deadline))
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        match = _STATUS_LINE.match(received)
        if match is None:
            raise DeliveryError("the answer is not HTTP/1.x")
        _drain(sock, deadline, received)
        return int(match.group(1))
    finally:
        sock.close()


def _left(deadline: float) -> float:
    """Seconds until ``deadline`` (a :func:`time.monotonic` instant).

    Raises:
        TimeoutError: it passed.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    return remaining


def _drain(sock: socket.socket, deadline: float, received: bytes) -> None:
    """Read and drop the rest of an answer: to the end its ``Content-Length`` gives (or
    to the end of the connection), 64 KiB, or the deadline, whichever comes first."""
    try:
        while len(received) < _MAX_DRAIN and not _complete(received):
            sock.settimeout(_left(deadline))
            chunk = sock.recv(4096)
            if not chunk:
                return
            received += chunk
    except OSError:  # the deadline (TimeoutError) included
        return  # the status is known: how the rest of the answer ends does not matter


def _complete(received: bytes) -> bool:
    """Whether ``received`` holds a whole answer with a ``Content-Length``."""
    head, blank, rest = received.partition(b"\r\n\r\n")
    length = _CONTENT_LENGTH.search(head) if blank else None
    return length is not None and len(rest) >= int(length.group(1))


class Dispatcher:
    """Delivers a :class:`~taskcore.claro.service.ClaroTasks` outbox.  Thread-safe:
    passes run one at a time; mutable (its background thread).

    Args:
        service: whose outbox to deliver.
        send: how a request goes out (default :func:`post`).
        backoff: the retry schedule (default :class:`Backoff`'s).
        rng: where jitter comes from (default a new :class:`random.Random`).
        clock: the clock ``webhook-timestamp`` is read from (default the system
            clock); when to retry is judged by the service's store clock.
        timeout: seconds one request may take, from connect to status line.
        batch_size: the most records one pass claims.
        concurrency: the most requests in flight at once.
        interval: seconds the background thread waits between passes.
        claim_for: seconds a claim holds (default the longer of 5 minutes and twice
            the longest pass); must exceed the longest pass.
        allowed_hosts: when given, the only host names deliveries go to (compared
            lower-case); any other is a failed attempt, and no connection is made.

    Raises:
        ValueError: a bound out of range: ``timeout`` not in (0, 300], ``batch_size``
            not in 1..10000, ``concurrency`` not in 1..64, ``interval`` not in
            (0, 86400], ``claim_for`` not above the longest pass.
    """

    def __init__(
        self,
        service: ClaroTasks,
        *,
        send: Send | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        batch_size: int = 100,
        concurrency: int = 4,
        interval: float = 5.0,
        claim_for: float | None = None,
        allowed_hosts: Collection[str] | None = None,
    ) -> None:
        if not 0 < timeout <= 300:
            raise ValueError("timeout must be more than 0 and at most 300 seconds")
        if not 1 <= batch_size <= 10000:
            raise ValueError("batch_size must be from 1 to 10000")
        if not 1 <= concurrency <= 64:
            raise ValueError("concurrency must be from 1 to 64")
        if not 0 < interval <= 86400:
            raise ValueError("interval must be more than 0 and at most 86400 seconds")
        longest = timeout * math.ceil(batch_size / concurrency)
        claim = max(300.0, 2 * longest) if claim_for is None else claim_for
        if not longest < claim <= 86400:
            raise ValueError(
                f"claim_for must be more than the longest pass ({longest:g} s) and at "
                "most 86400 seconds"
            )
        self.service = service
        self.send: Send = post if send is None else send
        self.backoff: Backoff = Backoff() if backoff is None else backoff
        self.rng: random.Random = random.Random() if rng is None else rng
        self.clock: Clock = SystemClock() if clock is None else clock
        self.timeout = timeout
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.interval = interval
        self.claim_for = claim
        self.allowed_hosts: frozenset[str] | None = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )
        self._pass = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def headers(self, record: OutboxRecord, timestamp: int) -> dict[str, str]:
        """The headers of an attempt of ``record`` at ``timestamp`` (Unix seconds).

        Raises:
            ValueError: the record carries no signing key (not read from
                :meth:`ClaroTasks.due_outbox`).
        """
        if not record.signing_key:
            raise ValueError("the record carries no signing key: read it with due_outbox()")
        msg_id = record.message_id
        return {
            "Content-Type": "application/json",
            "User-Agent": f"taskcore/{__version__} (webhook delivery)",
            CLARO_SIGNATURE_HEADER: record.signature,
            SIGNATURE_HEADER: record.signature,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard(record.signing_key, msg_id, timestamp, record.body),
        }

    def run_once(self) -> PassSummary:
        """Deliver what is due now: claim up to ``batch_size`` records, POST them (at most
        ``concurrency`` at once), record each outcome in the store.

        Returns:
            What each attempt did, in claim order.

        Raises:
            StoreBusy: the store stayed busy; records already claimed are sent again
                once their claim lapses.
        """
        with self._pass:
            records = self.service.due_outbox(self.batch_size, claim_for=self.claim_for)
            if not records:
                return PassSummary()
            if len(records) == 1 or self.concurrency == 1:
                answers = [self._attempt(record) for record in records]
            else:
                workers = min(self.concurrency, len(records))
                with concurrent.futures.ThreadPoolExecutor(
                    workers, thread_name_prefix="taskcore-delivery"
                ) as pool:
                    answers = list(pool.map(self._attempt, records))
            results = [
                self._record(record, status, error)
                for record, (status, error) in zip(records, answers, strict=True)
            ]
            return PassSummary(tuple(results))

    def _attempt(self, record: OutboxRecord) -> tuple[int | None, str | None]:
        """Send one record: ``(status, None)`` on a 2xx, else ``(status or None, why)``."""
        host = (urlsplit(record.url).hostname or "").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return None, f"host {host[:100]!r} is not in allowed_hosts"
        timestamp = int(self.clock.now().timestamp())
        try:
            status = self.send(record.url, record.body, self.headers(record, timestamp),
                               self.timeout)  # fmt: skip
        except Exception as error:  # any failure of a send is a failed attempt, not a crash
            return None, _text(error, self.timeout)
        if 200 <= status <= 299:
            return status, None
        return status, f"HTTP {status}"

    def _record(self, record: OutboxRecord, status: int | None, error: str | None) -> AttemptResult:
        """Record an attempt's outcome (a pending record is never removed but by its
        outcomes, so it is still there: delivered, given up or pending)."""
        attempt = record.attempts + 1
        retry_in = None if error is None else self.backoff.delay(attempt, self.rng)
        now = self.service.record_attempt(
            record.task_id, ok=error is None, error=error, retry_in=retry_in
        )
        if now.delivered:
            outcome = Outcome.DELIVERED
        elif now.gave_up:
            outcome = Outcome.GAVE_UP
        else:
            outcome = Outcome.RETRY
        return AttemptResult(record.task_id, record.message_id, status, error, outcome,
                             now.next_attempt_at)  # fmt: skip

    # -- the background thread ---------------------------------------------------------

    def start(self) -> None:
        """Run passes in a background thread, every ``interval`` seconds, until
        :meth:`stop`.  A pass that fails (a busy store) is logged and the next one runs
        on time.

        Raises:
            RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError("the dispatcher is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="taskcore-delivery-loop", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it (a pass under way finishes first,
        within its bounds).  Stopping a dispatcher that is not running does nothing."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._thread = None

    def is_running(self) -> bool:
        """Whether the background thread is running."""
        return self._thread is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a pass must not end the loop; the next one retries
                _log.exception("webhook delivery pass failed")
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        """Start the background thread; it stops when the ``with`` block ends."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the background thread."""
        self.stop()
