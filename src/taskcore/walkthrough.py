"""``taskcore demo``: a scripted walkthrough of the four APIs over real HTTP.

:func:`run` starts ``taskcore serve --port 0 --demo --worker-control --no-webhooks`` as a
child process on 127.0.0.1, reads the demo keys and ids and the URL it prints, and
walks through the APIs with :mod:`http.client` (docs/server.md, "Demo"):

- Claro: a bulk task over the demo dataset polled to completion (a progress bar), the
  dataset lock refusing a second task (409 ``DATASET_LOCKED``), a refused cancel of the
  completed task (409 ``TASK_NOT_CANCELLABLE``), and a second task accepted once the
  lock is released, then cancelled.
- Chunkr: a parse task, an update (``PATCH``) reverted by cancel, then deleted.
- Visual Layer: a failed dataset creation retried, its abort refused in the commit
  phase, and a filtered, sorted list of tasks.
- Send AI: a document completed with its corrected metadata, then unlocked and
  completed again with a correction.

The worker is the server's simulated worker, driven step by step through its control
routes (``POST /_taskcore/worker/...``) rather than on a timer: the output is the same
on every run, and no step races the walkthrough.  Each request (method, path, short
body) and response (status, short body) is printed.  The server is stopped with SIGTERM
and waited for whatever happens (an error, Ctrl-C); its exit status is checked.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import IO, Any, Final, TextIO
from urllib.parse import urlencode, urlsplit

from taskcore.worker import COMMIT_AT

__all__ = [
    "BODY_WIDTH",
    "DEADLINE",
    "SERVER_ARGS",
    "DemoError",
    "Walkthrough",
    "run",
    "running_server",
]

SERVER_ARGS: Final = (
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--demo",
    "--worker-control",
    "--no-webhooks",
)
"""The ``taskcore`` arguments the demo server runs with."""
DEADLINE: Final = 30.0
"""Seconds the demo waits at most for the server to start or stop, for one answer, and
for a polled task to reach its end."""
BODY_WIDTH: Final = 160
"""Characters of a request or response body printed at most (longer ones are cut)."""

_CONTROL: Final = "/_taskcore/worker"
_TASKS: Final = "/api/v1/tasks"
_JSON: Final = {"Content-Type": "application/json"}


class DemoError(RuntimeError):
    """The walkthrough could not go on: the server did not start or stop cleanly, or an
    answer was not the one expected.  The server has been stopped."""


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= BODY_WIDTH else text[: BODY_WIDTH - 3] + "..."


class Walkthrough:
    """Calls one server and prints each exchange on ``out``.

    Args:
        url: the server's base URL, ``http://127.0.0.1:PORT``.
        out: where the exchanges are printed.
    """

    def __init__(self, url: str, out: TextIO) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise DemoError(f"the server printed no usable URL: {url!r}")
        self.host: str = parts.hostname
        self.port: int = parts.port
        self.out = out

    def say(self, text: str) -> None:
        """Print ``text`` as a line of narration."""
        self.out.write(text + "\n")

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        quiet: bool = False,
        show: Callable[[Any], str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request on a fresh connection; print it and its answer (unless
        ``quiet``; a successful JSON answer through ``show`` when given, else cut to
        :data:`BODY_WIDTH` characters).

        Returns:
            The status and the decoded JSON body (``None`` when the body is empty, the
            text when it is not JSON).

        Raises:
            DemoError: the server could not be reached or did not answer in time.
        """
        target = path + ("?" + urlencode(query) if query else "")
        raw = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if raw is not None:
            sent.update(_JSON)
        connection = http.client.HTTPConnection(self.host, self.port, timeout=DEADLINE)
        try:
            connection.request(method, target, body=raw, headers=sent)
            response = connection.getresponse()
            status, data = response.status, response.read()
        except OSError as error:
            raise DemoError(f"{method} {target}: {error}") from None
        finally:
            connection.close()
        try:
            answer: Any = json.loads(data) if data else None
        except ValueError:
            answer = data.decode("utf-8", "replace")
        if not quiet:
            shown = "" if body is None else " " + _short(body)
            self.out.write(f"\n$ {method} {target}{shown}\n")
            if answer is None:
                text = ""
            elif show is not None and status < 300 and not isinstance(answer, str):
                text = show(answer)
            else:
                text = _short(answer)
            self.out.write(f"-> {status} {text}".rstrip() + "\n")
        return status, answer

    def expect(self, wanted: int, answer: tuple[int, Any]) -> Any:
        """The body of ``answer`` when its status is ``wanted``.

        Raises:
            DemoError: another status.
        """
        status, body = answer
        if status != wanted:
            raise DemoError(f"expected {wanted}, got {status}: {_short(body)}")
        return body

    def worker(self, action: str, what: str) -> str:
        """Have the simulated worker take ``action`` (``advance``, ``finish``) on the task
        ``what`` names (``claro/tasks/ID``, ``sendai/teams/T/tasks/ID``...); print and
        return the task's new status."""
        moved = self.expect(200, self.request("POST", f"{_CONTROL}/{what}/{action}", quiet=True))
        self.say(f"  [worker] {action}: {moved['before']} -> {moved['status']}")
        return str(moved["status"])


# -- the four parts ------------------------------------------------------------------------


def _pick(*keys: str) -> Callable[[Any], str]:
    """Show only ``keys`` of a JSON object (``payload.`` keys read Send AI's envelope)."""

    def show(body: Any) -> str:
        inner = body.get("payload", body) if isinstance(body, dict) else body
        return _short({k: inner[k] for k in keys if isinstance(inner, dict) and k in inner})

    return show


def _task_list(body: Any) -> str:
    """A Visual Layer list answer: its total and one line per task."""
    tasks = body.get("tasks", []) if isinstance(body, dict) else []
    lines = [f"{body.get('total', len(tasks))} task(s) in all, this page:"]
    for task in tasks:
        lines.append(f"     {task.get('start_time') or '-':<22} {task.get('task_type'):<17} "
                     f"{task.get('status'):<10} {task.get('dataset_name')!r} "
                     f"{task.get('error_message') or ''}".rstrip())  # fmt: skip
    return "\n".join(lines)


_CLARO_TASK: Final = _pick("taskId", "type", "status", "progress", "targetCells")
_SENDAI_TASK: Final = _pick("status", "meta")


def _bar(completed: int, total: int, percentage: int, width: int = 30) -> str:
    filled = width * completed // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {completed:>3}/{total} ({percentage:>3}%)"


def _claro(api: Walkthrough, demo: Mapping[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {demo['keys']['claro']}"}
    base = f"/api/v2/datasets/{demo['claro']['datasetId']}/tasks"
    api.say("\n== Claro: a bulk task over the demo dataset (20 rows x 3 columns)")
    created = api.expect(
        201,
        api.request(
            "POST",
            f"{base}/bulk",
            headers=auth,
            body={"processOnlyEmpty": False},
            show=_CLARO_TASK,
        ),
    )
    task = f"{base}/{created['taskId']}"
    api.say("\nThe task locks its dataset: a second task is refused.")
    api.request("POST", f"{base}/new-rows", headers=auth, body={"rowCount": 5})
    api.say(f"\nThe worker records the cells; the client polls GET {task}:")
    deadline = time.monotonic() + DEADLINE
    status = "queued"
    while status != "completed":
        if time.monotonic() > deadline:
            raise DemoError(f"the Claro task did not complete within {DEADLINE} s")
        api.expect(200, api.request("POST", f"{_CONTROL}/tick", quiet=True))
        shown = api.expect(200, api.request("GET", task, headers=auth, quiet=True))
        status, progress = shown["status"], shown["progress"]
        api.say(f"  {status:<10} " + _bar(
            progress["completed"], progress["total"], progress["percentage"]))  # fmt: skip
    api.request("GET", task, headers=auth, show=_CLARO_TASK)
    api.say("\nA completed task cannot be cancelled:")
    api.request("DELETE", task, headers=auth)
    api.say("\nThe lock is released: a second task is accepted, and cancelled while queued.")
    second = api.expect(
        201,
        api.request(
            "POST", f"{base}/new-rows", headers=auth, body={"rowCount": 5}, show=_CLARO_TASK
        ),
    )
    api.request("DELETE", f"{base}/{second['taskId']}", headers=auth)


def _chunkr_summary(task: Any) -> str:
    config = task.get("configuration") or {}
    return (f"status {task.get('status')!r}, message {task.get('message')!r}, "
            f"ocr_strategy {config.get('ocr_strategy')!r}, "
            f"high_resolution {config.get('high_resolution')!r}")  # fmt: skip


def _chunkr(api: Walkthrough, demo: Mapping[str, Any]) -> None:
    auth = {"Authorization": demo["keys"]["chunkr"]}
    api.say("\n== Chunkr: a parse task updated, the update cancelled, then deleted")
    body = {"file": "https://example.com/report.pdf", "file_name": "report.pdf",
            "ocr_strategy": "Auto"}  # fmt: skip
    created = api.expect(
        200,
        api.request("POST", "/api/v1/task/parse", headers=auth, body=body, show=_chunkr_summary),
    )
    url = f"/api/v1/task/{created['task_id']}"
    api.worker("finish", f"chunkr/tasks/{created['task_id']}")
    api.request("GET", url, headers=auth, show=_chunkr_summary)
    api.say("\nAn update queues the task again with a new configuration:")
    update = {"ocr_strategy": "All", "high_resolution": True}
    api.request("PATCH", f"{url}/parse", headers=auth, body=update, show=_chunkr_summary)
    api.say("\nA task being updated cannot be deleted:")
    api.request("DELETE", url, headers=auth)
    api.say("\nCancelling the update reverts the task to its previous result and configuration:")
    api.expect(200, api.request("GET", f"{url}/cancel", headers=auth))
    reverted = api.expect(200, api.request("GET", url, headers=auth, show=_chunkr_summary))
    if reverted.get("status") != "Succeeded":
        raise DemoError(f"the Chunkr update was not reverted: {_chunkr_summary(reverted)}")
    api.say("  the update is reverted: Succeeded again, with ocr_strategy 'Auto'")
    api.request("DELETE", url, headers=auth)
    api.request("GET", url, headers=auth)


_VL_TASK: Final = _pick("task_id", "task_type", "status", "status_message", "progress_percentage")


def _visual_layer(api: Walkthrough, demo: Mapping[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {demo['keys']['visual_layer']}"}
    creation = demo["visual_layer"]["failedTaskIds"][0]
    worker = f"visual_layer/tasks/{creation}"
    api.say("\n== Visual Layer: a failed dataset creation retried; tasks listed")
    api.request("POST", f"/api/v1/tasks/{creation}/retry", headers=auth, show=_VL_TASK)
    api.say("\nThe worker runs the retried creation; the client polls the task list:")
    progress, deadline = 0, time.monotonic() + DEADLINE
    while progress < COMMIT_AT:
        if time.monotonic() > deadline:
            raise DemoError(f"the Visual Layer task did not progress within {DEADLINE} s")
        if api.worker("advance", worker) != "RUNNING":
            raise DemoError("the retried Visual Layer task ended early")
        query = {"task_type": "DATASET_CREATION", "task_status": "RUNNING"}
        listed = api.expect(200, api.request("GET", _TASKS, headers=auth, query=query, quiet=True))
        (shown,) = [t for t in listed["tasks"] if t["task_id"] == creation]
        progress = shown.get("progress_percentage") or 0
        api.say(f"  {shown['status']:<10} " + _bar(progress, 100, progress))
    api.worker("advance", worker)  # into the commit phase
    api.say("\nIn its commit phase the task can no longer be aborted:")
    api.request("POST", f"{_TASKS}/{creation}/abort", headers=auth)
    api.worker("advance", worker)
    api.say("\nFailed tasks, newest first, five to a page:")
    query = {"task_status": "FAILED", "sort_by": "start_time", "sort_order": "desc",
             "page_size": "5"}  # fmt: skip
    api.request("GET", _TASKS, headers=auth, query=query, show=_task_list)
    api.say("\nDataset creations that completed:")
    query = {"task_status": "COMPLETED", "task_type": "DATASET_CREATION"}
    api.request("GET", _TASKS, headers=auth, query=query, show=_task_list)


def _sendai(api: Walkthrough, demo: Mapping[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {demo['keys']['sendai']}"}
    path = demo["sendai"]["path"]
    team, task_id = path.split("/")[2], path.rsplit("/", 1)[1]
    worker = f"sendai/teams/{team}/tasks/{task_id}"
    api.say("\n== Send AI: a document in review, completed, then corrected")
    api.request("GET", path, headers=auth, show=_SENDAI_TASK)
    api.say("\nCompleting it without the field its review step requires is refused:")
    api.request("POST", f"{path}/complete", headers=auth, body={})
    read = {"meta": [{"name": "invoice_total", "value": "118.00"}]}
    api.request("POST", f"{path}/complete", headers=auth, body=read, show=_SENDAI_TASK)
    api.worker("finish", worker)
    api.say("\nOnly a document in review can be discarded:")
    api.request("PUT", f"{path}/discard", headers=auth)
    api.say("\nThe total was misread: unlock the completed document and correct it.")
    api.request("PUT", f"{path}/unlock", headers=auth, show=_SENDAI_TASK)
    fixed = {"meta": [{"name": "invoice_total", "value": "181.00"}]}
    api.request("POST", f"{path}/complete", headers=auth, body=fixed, show=_SENDAI_TASK)
    api.worker("finish", worker)
    final = api.expect(200, api.request("GET", path, headers=auth, show=_SENDAI_TASK))
    if final["payload"]["meta"] != fixed["meta"] or final["payload"]["status"] != "COMPLETED":
        raise DemoError("the Send AI correction did not stick")
    api.say("  corrected: COMPLETED with invoice_total 181.00")
    api.say("\nThe misread is reported to the team's issue tracker:")
    report = {"issues": [{"label": "ocr", "value": "digits swapped in invoice_total"}]}
    api.request("POST", f"{path}/report", headers=auth, body=report, show=_pick("id", "status"))


PARTS: Final[Sequence[Callable[[Walkthrough, Mapping[str, Any]], None]]] = (
    _claro,
    _chunkr,
    _visual_layer,
    _sendai,
)


# -- the server ---------------------------------------------------------------------------


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@contextlib.contextmanager
def running_server(
    command: Sequence[str] | None = None, *, err: IO[str] | None = None
) -> Iterator[tuple[str, dict[str, Any], int]]:
    """Run the demo server as a child process while inside; yield its URL, the demo
    keys and ids it printed, and its process id.

    The child runs in a session of its own (a Ctrl-C in the terminal reaches only the
    demo, which then stops it).  On leaving, by any path, it gets SIGTERM and is waited
    for (SIGKILL after :data:`DEADLINE` seconds).

    Args:
        command: the server command; ``python -m taskcore`` with :data:`SERVER_ARGS`
            when ``None``.
        err: where the server's standard error goes (access lines); discarded when
            ``None``.

    Raises:
        DemoError: the server did not print its demo data and URL within
            :data:`DEADLINE` seconds, or exited with a status other than 0.
    """
    argv = [sys.executable, "-m", "taskcore", *SERVER_ARGS] if command is None else command
    child = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if err is None else err,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert child.stdout is not None
    reader = threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    clean = False
    try:
        demo: dict[str, Any] = {}
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise DemoError(f"the server printed no URL within {DEADLINE} s") from None
            if line is None:
                raise DemoError(f"the server exited ({child.wait()}) before listening")
            if line.startswith("{"):
                try:
                    demo = json.loads(line)
                except ValueError:
                    raise DemoError(f"the server printed bad demo data: {_short(line)}") from None
            elif line.startswith("http://"):
                break
        if not demo:
            raise DemoError("the server printed no demo data (it needs --demo)")
        yield line.strip(), demo, child.pid
        clean = True
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        reader.join(DEADLINE)
        child.stdout.close()
    if clean and code != 0:
        raise DemoError(f"the server exited with status {code}")


class _Stopped(BaseException):
    """SIGTERM or SIGHUP reached the demo (a BaseException, as KeyboardInterrupt is, so
    that no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`_Stopped` while inside, so that the server
    is stopped on the way out (main thread only; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def run(out: TextIO, *, command: Sequence[str] | None = None) -> int:
    """Run the whole walkthrough against a fresh demo server; print it on ``out``.

    Args:
        out: where the exchanges and the narration are printed.
        command: the server command (:func:`running_server`).

    Returns:
        0 when every step went as scripted and the server stopped cleanly; 1 otherwise
        (a line on ``out`` says why, then the server's own error output); 130 on
        Ctrl-C (KeyboardInterrupt); 128 + the signal's number when SIGTERM or SIGHUP
        stops the demo (in the main thread).  No server process is left running in
        any case.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err, _stopped_by_signals():
        try:
            with running_server(command, err=err) as (url, demo, pid):
                out.write(f"taskcore serve (process {pid}) is listening on {url}\n")
                api = Walkthrough(url, out)
                for part in PARTS:
                    part(api, demo)
                out.write("\nStopping the server (SIGTERM).\n")
        except DemoError as error:
            err.seek(0)
            errors = [line for line in err if not line.startswith("{")]
            out.write(f"\ntaskcore demo: {error}\n" + "".join(errors[-20:]))
            return 1
        except KeyboardInterrupt:
            out.write("\ntaskcore demo: interrupted; the server is stopped.\n")
            return 130
        except _Stopped as stopped:
            name = signal.Signals(stopped.signum).name
            out.write(f"\ntaskcore demo: stopped by {name}; the server is stopped.\n")
            return 128 + stopped.signum
    out.write("The server stopped cleanly.\n")
    return 0
