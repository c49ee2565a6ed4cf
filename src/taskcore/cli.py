"""The ``taskcore`` command line; the only module that prints.

``taskcore demo`` starts ``taskcore serve --demo`` as a child process and walks the
four APIs through over real HTTP (:mod:`taskcore.walkthrough`); ``taskcore docs DIR``
regenerates the docs from code; ``taskcore docs DIR --check`` exits 1 when the committed
docs drift; ``taskcore --version`` prints the version.  The text ``--help`` shows is in
:func:`_parser`, not in this docstring.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from taskcore import __version__
from taskcore.docs import rendered_docs, write_docs
from taskcore.fixtures import FixtureError
from taskcore.fixtures import parse as parse_fixture

__all__ = ["main"]


def _demo(out: TextIO) -> int:
    from taskcore import walkthrough  # imported here: only `demo` runs the walkthrough

    return walkthrough.run(out)


def _docs(root: Path, check: bool, out: TextIO) -> int:
    if check:
        stale = [
            relative
            for relative, text in rendered_docs().items()
            if not (root / relative).exists()
            or (root / relative).read_text(encoding="utf-8") != text
        ]
        for relative in stale:
            out.write(f"stale: {root / relative} (run `make docs`)\n")
        return 1 if stale else 0
    for path in write_docs(root):
        out.write(f"wrote {path}\n")
    return 0


def _fixtures_check(path: Path, out: TextIO) -> int:
    """Validate a fixture file: print what it holds (0) or the error (2)."""
    try:
        fixture = parse_fixture(path)
    except FixtureError as error:
        out.write(f"{path}: invalid fixture: {error}\n")
        return 2
    out.write(f"{path}: valid fixture\n")
    for line in fixture.summary():
        out.write(f"  {line}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The argument parser; its texts are what ``taskcore --help`` shows a user."""
    parser = argparse.ArgumentParser(
        prog="taskcore",
        description="taskcore, the reference implementation of task API lifecycles. "
        "Implemented: Claro dataset tasks (cell selections, dataset locks, webhooks), Send "
        "AI document tasks (review pipeline, unlock, complete, discard, report), Chunkr "
        "parse tasks (updates that re-run and revert) and the Visual Layer task manager "
        "(indexed listings, abort, retry), each as a service, a sans-IO HTTP router and an "
        "OpenAPI document, served together by `taskcore serve`.",
        epilog="Documentation: https://taskcore.github.io/taskcore/",
    )
    parser.add_argument("--version", action="version", version=f"taskcore {__version__}")
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="{demo,docs,fixtures,serve,verify}"
    )
    commands.add_parser(
        "demo",
        help="walk through the four APIs over real HTTP (needs taskcore[server])",
        description="Start the demo server on a free port of 127.0.0.1, walk through the "
        "four APIs over HTTP, printing each request and answer (a Claro bulk task to "
        "completion, the dataset lock, a refused cancel; a Chunkr update reverted by "
        "cancel; a Visual Layer retry and task lists; a Send AI correction), then stop "
        "the server. Exit status 0, or 1 when a step or the server failed, 130 on Ctrl-C.",
    )
    docs = commands.add_parser(
        "docs",
        help="regenerate the lifecycle and error pages from the code",
        description="Write the generated lifecycle and error pages under ROOT.",
    )
    docs.add_argument("root", type=Path, metavar="ROOT", help="the docs folder, e.g. docs")
    docs.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a page is stale"
    )
    fixtures = commands.add_parser(
        "fixtures",
        help="work with fixture files (docs/server.md, Fixtures)",
        description="Work with fixture files: JSON that fills the four services.",
    )
    fixture_commands = fixtures.add_subparsers(
        title="fixture commands", dest="fixtures_command", required=True, metavar="{check}"
    )
    check = fixture_commands.add_parser(
        "check",
        help="validate a fixture file and print what it holds",
        description="Validate FILE; print what it holds, or the first error with its place "
        "in the file (a JSONPath) and exit 2.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the fixture file")
    _serve_parser(commands)
    _verify_parser(commands)
    return parser


def _verify_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from taskcore.verify.cli import add_parser

    add_parser(commands)


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the four APIs over HTTP (needs taskcore[server])",
        description="Serve the Claro, Send AI, Chunkr and Visual Layer APIs over HTTP on "
        "uvicorn until SIGTERM or Ctrl-C; print the URL once listening; one JSON access "
        "line per request on standard error (docs/server.md).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    serve.add_argument(
        "--store",
        default="memory",
        metavar="memory|sqlite:PATH|postgres:DSN",
        help="where tasks are kept",
    )
    serve.add_argument(
        "--keys", metavar="FILE", help="JSON file of API keys per API (else $TASKCORE_KEYS)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="seed demo data and accept the demo keys"
    )
    serve.add_argument("--fixtures", metavar="FILE", help="load a fixtures file first")
    serve.add_argument(
        "--worker",
        type=float,
        metavar="SECONDS",
        help="run the simulated worker, one step of every active task each SECONDS",
    )
    serve.add_argument("--worker-seed", type=int, default=0, help="the worker's random seed")
    serve.add_argument(
        "--worker-failure-rate",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0..1) of Claro cells and of other tasks the worker fails",
    )
    serve.add_argument(
        "--worker-control",
        action="store_true",
        help="mount the worker's control routes under /_taskcore/worker (for tests)",
    )
    serve.add_argument(
        "--no-webhooks", action="store_true", help="do not deliver Claro webhook notifications"
    )
    serve.add_argument(
        "--verify-control",
        action="store_true",
        help="mount POST /_taskcore/reset, which puts the starting state back "
        "(for taskcore verify; needs --store memory)",
    )


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from taskcore import server  # imported here: only `serve` needs the server modules

    return server.main(
        host=args.host,
        port=args.port,
        store=args.store,
        keys=args.keys,
        demo=args.demo,
        fixtures=args.fixtures,
        out=out,
        err=sys.stderr,
        worker=args.worker,
        worker_seed=args.worker_seed,
        worker_failure_rate=args.worker_failure_rate,
        worker_control=args.worker_control,
        webhooks=not args.no_webhooks,
        verify_control=args.verify_control,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when None.
        out: where to print; standard output when None.

    Returns:
        The exit status: 0, or 1 when ``docs --check`` finds stale pages or a ``demo``
        step or its server failed, or 2 when ``fixtures check`` finds the file invalid,
        or 130 when ``demo`` is interrupted (Ctrl-C).

    Raises:
        SystemExit: for ``--help`` and ``--version`` (status 0) and for bad arguments
            (status 2), as argparse does; nothing is written then.
    """
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args, out)
        if args.command == "verify":
            from taskcore.verify.cli import run  # imported here: only `verify` needs it

            return run(args, out, sys.stderr)
        if args.command == "fixtures":
            status = _fixtures_check(args.file, out)
        else:
            status = _demo(out) if args.command == "demo" else _docs(args.root, args.check, out)
        out.flush()  # inside the try: a reader that left makes this fail too
        return status
    except BrokenPipeError:
        # The reader went away (``taskcore demo | head``): not an error.  Point standard
        # output at /dev/null so the interpreter's final flush does not fail again.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
