"""The system under test: its API over HTTP, its control interface, its reset hook.

The **control interface** (docs/verify.md, "The control interface") is how ``taskcore
verify`` drives the worker side of a system: three ``POST`` routes per task, answering
JSON, on the same base URL as the API:

- ``/_taskcore/worker/{api}/tasks/{task_id}/advance``: one worker step (Claro: start a
  queued task, record at least one more target of a processing one, or complete one
  with every target recorded; Chunkr: start a ``Starting`` task, or finish a
  ``Processing`` one);
- ``/_taskcore/worker/{api}/tasks/{task_id}/finish``: to the successful end now (every
  remaining Claro target filled);
- ``/_taskcore/worker/{api}/tasks/{task_id}/fail``: failed now (body
  ``{"message": "..."}`` optional);
- Send AI only, ``.../export``: export a ``COMPLETED`` task (``exported_at`` set).

``api`` is ``claro``, ``chunkr`` or ``visual_layer``; Send AI's routes are
``/_taskcore/worker/sendai/teams/{team_id}/tasks/{task_id}/{action}``.  A step answers
200 ``{"api", "task_id", "before", "status"}`` (the task's status before and after,
wire values); a step the task cannot take answers 4xx with ``{"code": ...}``; an
unknown task answers 404 with a code that is not ``NOT_FOUND`` (``NOT_FOUND`` means
the route itself is missing).  ``taskcore serve --worker-control`` implements it.  A
system without it still gets checked; the properties that need the worker side are
reported *not checked*.

The **reset hook** puts the system back to its starting state (the fixtures) before
each sequence: ``POST`` to a URL (``taskcore serve --verify-control`` answers
``POST /_taskcore/reset``) or a shell command that exits 0.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping
from typing import Final

import attrs

from taskcore.errors import TaskcoreError
from taskcore.verify.exchange import Bindings, Exchange, HttpClient, Step, Unreachable, fill

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_RESET_PATH",
    "RESET_TIMEOUT",
    "ResetFailed",
    "SystemUnderTest",
]

CONTROL_PREFIX: Final = "/_taskcore/worker"
"""Where the control interface answers, under the base URL."""
DEFAULT_RESET_PATH: Final = "/_taskcore/reset"
"""The reset URL tried when neither ``--reset-url`` nor ``--reset-command`` is given."""
RESET_TIMEOUT: Final = 60.0
"""Seconds a reset command or request may take."""


class ResetFailed(TaskcoreError):
    """The reset hook failed (the URL answered no 2xx, or the command exited non-zero);
    nothing is judged after it.  ``taskcore verify`` exits 2."""

    status = 502
    title = "Reset failed"


@attrs.define(eq=False)
class SystemUnderTest:
    """An implementation of one API, reached over HTTP.

    Attributes:
        client: the HTTP client on the base URL.
        reset_url: the URL to ``POST`` for a reset (absolute), or ``None``.
        reset_command: a shell command for a reset, or ``None``.
        control: whether the control interface is there (:meth:`probe_control`).
    """

    client: HttpClient
    reset_url: str | None = None
    reset_command: str | None = None
    control: bool = False
    resets: int = 0

    def reset(self) -> None:
        """Run the reset hook (the command, else the URL, else nothing).

        Raises:
            ResetFailed: the hook failed.
            Unreachable: the reset URL could not be reached.
        """
        self.resets += 1
        if self.reset_command is not None:
            try:
                done = subprocess.run(
                    self.reset_command,
                    shell=True,
                    capture_output=True,
                    timeout=RESET_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ResetFailed(f"--reset-command took more than {RESET_TIMEOUT:g}s") from None
            if done.returncode != 0:
                raise ResetFailed(
                    f"--reset-command exited {done.returncode}: "
                    f"{done.stderr.decode('utf-8', 'replace').strip()[:500]}"
                )
            return
        if self.reset_url is None:
            return
        client = HttpClient(self.reset_url, timeout=RESET_TIMEOUT)
        status, _, body = client.send("POST", "", {"content-length": "0"}, b"")
        if not 200 <= status < 300:
            raise ResetFailed(
                f"POST {self.reset_url} answered {status}: {body.decode('utf-8', 'replace')[:500]}"
            )

    def reset_shell(self) -> str:
        """The reset hook as a shell command line (for ``repro.sh``; ``true`` if none).
        A reset URL under the base URL is written relative to ``$BASE_URL``."""
        if self.reset_command is not None:
            return self.reset_command
        if self.reset_url is None:
            return "true"
        base = self.client.base_url
        if self.reset_url.startswith(base + "/"):
            path = shlex.quote(self.reset_url.removeprefix(base))
            return f'curl -fsS -X POST "$BASE_URL"{path} >/dev/null'
        return f"curl -fsS -X POST {shlex.quote(self.reset_url)} >/dev/null"

    def probe_control(self, api: str) -> bool:
        """Whether the control interface answers for ``api`` (an unknown task's step is
        404 with a code other than ``NOT_FOUND``); sets :attr:`control`.

        Raises:
            Unreachable: the system cannot be reached.
        """
        path = f"{CONTROL_PREFIX}/{api}/tasks/taskcore-verify-probe/advance"
        if api == "sendai":  # Send AI's tasks are named by their team too
            path = f"{CONTROL_PREFIX}/sendai/teams/taskcore-verify-probe/tasks/probe/advance"
        status, _, body = self.client.send("POST", path, {"content-length": "0"}, b"")
        code = None
        try:
            document = json.loads(body)
            if isinstance(document, dict):
                code = document.get("code")
        except ValueError:
            code = None
        self.control = status == 404 and isinstance(code, str) and code != "NOT_FOUND"
        return self.control

    def send(self, step: Step, bindings: Bindings, auth: Mapping[str, str]) -> Exchange:
        """Make ``step`` with the variables in ``bindings`` and the headers ``auth``.

        Raises:
            UnboundVariable: the step names a variable nothing captured.
            Unreachable: no answer.
        """
        path = fill(step.path, bindings, in_path=True)
        body = b"" if step.body is None else fill(step.body, bindings, in_path=False).encode()
        headers = {**auth, **{k.lower(): v for k, v in step.headers.items()}}
        if step.body is not None:
            headers.setdefault("content-type", "application/json")
        status, response_headers, response_body = self.client.send(step.method, path, headers, body)
        return Exchange(
            step.method,
            path,
            {k.lower(): v for k, v in headers.items()},
            body,
            status,
            response_headers,
            response_body,
            step.tenant,
        )


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the system could not be reached or reset."""
    return isinstance(error, Unreachable | ResetFailed)
