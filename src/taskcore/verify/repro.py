"""Counterexamples written out: ``sequence.json``, ``repro.sh`` and ``test_repro.py``.

A counterexample is a shrunk sequence of steps whose last answer diverged.  Three files
hold it, in a folder of its own under ``--out``:

- ``sequence.json``: the API, the steps (templates, :meth:`Step.to_json`), the
  divergence, the checks on the last answer, and the expected and actual exchanges.
  ``taskcore verify`` replays every saved sequence of the API first on its next run.
- ``repro.sh``: a standalone POSIX shell script (``curl`` and ``python3``): it runs the
  reset hook, makes each request, captures server-made ids from the answers into shell
  variables as it goes, and checks the last answer.  Exit status 1 when the divergence
  shows, 0 when it does not (2 when a request cannot be made at all).  ``BASE_URL``
  in the environment points it at another server.
- ``test_repro.py``: the same as a pytest test on the standard library's
  ``http.client``; it fails while the divergence shows.

Keys are written into both scripts as given to ``taskcore verify``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from taskcore.verify.exchange import Exchange, Step
from taskcore.verify.model import Divergence

__all__ = ["counterexample_id", "load_sequence", "write_counterexample"]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def counterexample_id(api: str, steps: Sequence[Step], divergence: Divergence) -> str:
    """A stable folder name: ``<api>-<property>-<8 hex digits of the steps>``."""
    digest = hashlib.sha256(
        json.dumps([s.to_json() for s in steps], sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{api}-{divergence.property}-{digest}"


def _shell_word(template: str, *, in_path: bool = False) -> str:
    """``template`` as one shell word: literal parts single-quoted, ``${name}`` as
    double-quoted variable references (in a path, to the value percent-encoded as one
    segment, ``${name__path}``, as verify sends it)."""
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > last:
            parts.append(shlex.quote(template[last : match.start()]))
        suffix = "__path" if in_path else ""
        parts.append(f'"${{{match.group(1)}{suffix}:-}}"')
        last = match.end()
    if last < len(template) or not parts:
        parts.append(shlex.quote(template[last:]))
    return "".join(parts)


_CAPTURE = (
    "import json,sys\n"
    "node=json.load(open(sys.argv[1]))\n"
    "for part in sys.argv[2].split('.'):\n"
    "    node=node[int(part)] if isinstance(node,list) else node[part]\n"
    "print(node)"
)

_SEGMENT = "import sys,urllib.parse\nprint(urllib.parse.quote(sys.argv[1],safe=''))"
"""Prints its argument percent-encoded as one path segment (as :func:`fill` does)."""

_CHECK = r"""import json, sys
OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
       ">=": lambda a, b: a is not None and a >= b, "<=": lambda a, b: a is not None and a <= b,
       "in": lambda a, b: a in b, "not in": lambda a, b: a not in b}
import os, re
status, path, checks = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
def bound(value):
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get(m.group(1), ""), value)
    return value
text = open(path, encoding="utf-8", errors="replace").read()
try:
    document = json.loads(text)
except ValueError:
    document = None
def actual(target):
    if target == "status":
        return status
    if target == "text":
        return text
    if target == "body":
        return document
    if target.startswith("has."):
        return isinstance(document, dict) and target[4:] in document
    node = document
    for part in target[5:].split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif not isinstance(node, dict) or part not in node:
            return None
        else:
            node = node[part]
    return node
bad = 0
for check in checks:
    value, wanted = actual(check["target"]), bound(check["value"])
    try:
        ok = OPS[check["op"]](value, wanted)
    except TypeError:
        ok = False
    if not ok:
        bad += 1
        want = f"{check['op']} {wanted!r}"
        print(f"DIVERGES: {check['target']} is {value!r}; expected {want}")
print("the divergence shows" if bad else "no divergence: every check holds")
sys.exit(1 if bad else 0)
"""


def _comment(text: str) -> str:
    """``text`` fit for one shell comment line (no line breaks or control characters)."""
    return "".join(c if c.isprintable() else " " for c in text)


def _repro_sh(
    base_url: str,
    reset: str,
    steps: Sequence[Step],
    auth: Sequence[Mapping[str, str]],
    divergence: Divergence,
) -> str:
    checks = json.dumps([c.to_json() for c in divergence.checks])
    lines = [
        "#!/bin/sh",
        f"# taskcore verify counterexample: {_comment(divergence.property)}",
        f"# {_comment(divergence.message)}",
        "# Exit status: 1 the divergence shows, 0 it does not, 2 a request failed.",
        "set -u",
        f'BASE_URL="${{BASE_URL:-{base_url}}}"',
        "tmp=$(mktemp -d) || exit 2",
        "trap 'rm -rf \"$tmp\"' EXIT",
        f"{reset} || {{ echo 'the reset hook failed' >&2; exit 2; }}",
    ]
    for index, (step, headers) in enumerate(zip(steps, auth, strict=True), start=1):
        lines.append(f"# step {index}: {_comment(step.label or step.method + ' ' + step.path)}")
        command = ["curl", "-sS", "-o", f'"$tmp/{index}"', "-w", "'%{http_code}'"]
        command += ["-X", shlex.quote(step.method)]
        for name, value in {**headers, **step.headers}.items():
            command += ["-H", shlex.quote(f"{name}: {value}")]
        if step.body is not None:
            command += ["-H", shlex.quote("content-type: application/json")]
            command += ["--data-binary", _shell_word(step.body)]
        command.append('"$BASE_URL"' + _shell_word(step.path, in_path=True))
        lines.append(f"status=$({' '.join(command)}) || exit 2")
        lines.append(f'echo "step {index}: "{shlex.quote(step.method)}" -> $status" >&2')
        for name, path in step.capture.items():
            lines.append(
                f'{name}=$(python3 -c {shlex.quote(_CAPTURE)} "$tmp/{index}" '
                f"{shlex.quote(path)} 2>/dev/null || true)"
            )
            lines.append(f'{name}__path=$(python3 -c {shlex.quote(_SEGMENT)} "${name}")')
    last = len(steps)
    captured = sorted({name for step in steps for name in step.capture})
    if captured:
        lines.append("export " + " ".join(captured))
    lines.append(f'python3 -c {shlex.quote(_CHECK)} "$status" "$tmp/{last}" {shlex.quote(checks)}')
    lines.append("exit $?")
    return "\n".join(lines) + "\n"


_TEST = '''"""A taskcore verify counterexample (its divergence is ``MESSAGE``).

Run with ``pytest test_repro.py``; ``BASE_URL`` in the environment points it at another
server.  The test fails while the divergence shows.
"""

import http.client
import json
import os
import subprocess
import urllib.parse

PROPERTY = {prop!r}
MESSAGE = {message!r}
BASE_URL = os.environ.get("BASE_URL", {base_url!r})
RESET = {reset!r}
STEPS = json.loads({steps!r})
CHECKS = json.loads({checks!r})
OPS = {{
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a is not None and a >= b,
    "<=": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}}


def fill(template, bound, in_path):
    for name, value in bound.items():
        text = urllib.parse.quote(value, safe="") if in_path else json.dumps(value)[1:-1]
        template = template.replace("${{" + name + "}}", text)
    return template


def send(method, path, headers, body):
    url = urllib.parse.urlsplit(BASE_URL)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    try:
        connection.request(method, url.path.rstrip("/") + path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def field(document, path):
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif not isinstance(node, dict) or part not in node:
            return None
        else:
            node = node[part]
    return node


def actual(target, status, body):
    if target == "status":
        return status
    text = body.decode("utf-8", "replace")
    if target == "text":
        return text
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if target == "body":
        return document
    if target.startswith("has."):
        return isinstance(document, dict) and target[4:] in document
    return field(document, target[5:])


def test_the_divergence_does_not_show():
    subprocess.run(RESET, shell=True, check=True, env={{**os.environ, "BASE_URL": BASE_URL}})
    bound = {{}}
    status, body = 0, b""
    for step in STEPS:
        headers = dict(step["headers"])
        data = None
        if step["body"] is not None:
            data = fill(step["body"], bound, False).encode()
            headers["content-type"] = "application/json"
        status, body = send(step["method"], fill(step["path"], bound, True), headers, data)
        for name, path in step["capture"].items():
            try:
                value = field(json.loads(body), path)
            except ValueError:
                value = None
            if value is not None:
                bound[name] = str(value)
    def wanted(value):
        return fill(value, bound, False) if isinstance(value, str) else value

    failed = [
        f"{{c['target']}} is {{actual(c['target'], status, body)!r}}; "
        f"expected {{c['op']}} {{wanted(c['value'])!r}}"
        for c in CHECKS
        if not OPS[c["op"]](actual(c["target"], status, body), wanted(c["value"]))
    ]
    assert not failed, failed
'''


def _test_repro(
    base_url: str,
    reset: str,
    steps: Sequence[Step],
    auth: Sequence[Mapping[str, str]],
    divergence: Divergence,
) -> str:
    plain = [
        {
            "method": s.method,
            "path": s.path,
            "headers": {**a, **s.headers},
            "body": s.body,
            "capture": dict(s.capture),
        }
        for s, a in zip(steps, auth, strict=True)
    ]
    return _TEST.format(
        prop=divergence.property,
        message=divergence.message,
        base_url=base_url,
        reset=reset,
        steps=json.dumps(plain),
        checks=json.dumps([c.to_json() for c in divergence.checks]),
    )


def write_counterexample(
    folder: Path,
    *,
    api: str,
    base_url: str,
    reset: str,
    steps: Sequence[Step],
    auth: Sequence[Mapping[str, str]],
    divergence: Divergence,
    exchanges: Sequence[Exchange],
    label: str,
    reproduced: int,
    runs: int,
) -> None:
    """Write ``sequence.json``, ``repro.sh`` (executable) and ``test_repro.py`` into
    ``folder`` (made if missing; files there are replaced).

    Args:
        folder: where.
        api: the API's name.
        base_url: the default ``BASE_URL`` of the scripts.
        reset: the reset hook as a shell command line.
        steps: the shrunk sequence.
        auth: the headers of each step's caller (one mapping per step).
        divergence: what the last answer broke; its checks are re-made.
        exchanges: the exchanges of the run that diverged (for the record).
        label: ``"reproducible"`` or ``"nondeterministic"``.
        reproduced: how many of the re-runs diverged.
        runs: how many re-runs were made.

    Raises:
        OSError: the folder cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "api": api,
        "label": label,
        "reproduced": f"{reproduced}/{runs}",
        "divergence": divergence.to_json(),
        "steps": [s.to_json() for s in steps],
        "exchanges": [e.to_json() for e in exchanges],
    }
    (folder / "sequence.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    script = folder / "repro.sh"
    script.write_text(_repro_sh(base_url, reset, steps, auth, divergence), encoding="utf-8")
    script.chmod(0o755)
    (folder / "test_repro.py").write_text(
        _test_repro(base_url, reset, steps, auth, divergence), encoding="utf-8"
    )


def load_sequence(path: Path) -> tuple[str, list[Step]]:
    """The API and steps of a saved ``sequence.json``.

    Raises:
        ValidationError: the file is not a saved sequence.
        OSError: it cannot be read.
    """
    from taskcore.errors import ValidationError

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ValidationError(f"{path}: not JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("steps"), list):
        raise ValidationError(f"{path}: not a saved sequence")
    api = record.get("api")
    if not isinstance(api, str):
        raise ValidationError(f"{path}: no api")
    steps = [Step.from_json(s, f"$.steps[{i}]") for i, s in enumerate(record["steps"])]
    return api, steps
