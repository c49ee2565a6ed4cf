"""The ``taskcore`` command line (an edge: it prints, the core does not).

``taskcore demo`` runs the main job; ``taskcore docs DIR`` regenerates the docs from
code; ``taskcore docs DIR --check`` exits 1 when the committed docs drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from taskcore.claro.lifecycle import CLARO_TASK, ClaroEvent, ClaroStatus
from taskcore.docs import rendered_docs, write_docs
from taskcore.errors import TaskcoreError

__all__ = ["main"]


def _demo(out: TextIO) -> int:
    """Walk one Claro task through its lifecycle, then show a refused cancel."""

    class Progress:
        completed = 0
        total = 3

    progress = Progress()
    state = CLARO_TASK.initial
    out.write(f"Claro task lifecycle ({CLARO_TASK.name}): a task starts {state.value}\n")
    steps = [ClaroEvent.START, ClaroEvent.RECORD, ClaroEvent.RECORD, ClaroEvent.RECORD]
    for event in steps:
        if event is ClaroEvent.RECORD:
            progress.completed += 1
        state = CLARO_TASK.fire(state, event, progress)
        out.write(f"  {event.value:<9} -> {state.value}  ({progress.completed}/{progress.total})\n")
    state = CLARO_TASK.fire(state, ClaroEvent.COMPLETE, progress)
    out.write(f"  {'complete':<9} -> {state.value}\n")
    try:
        CLARO_TASK.fire(state, ClaroEvent.CANCEL)
    except TaskcoreError as error:
        out.write(f"cancel refused ({error.status}): {error}\n")
        out.write(json.dumps(error.to_wire(), indent=2) + "\n")
    assert state is ClaroStatus.COMPLETED
    return 0


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


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="taskcore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="walk a Claro task from creation to completion")
    docs = commands.add_parser("docs", help="regenerate the docs from the code")
    docs.add_argument("root", type=Path, help="the docs folder")
    docs.add_argument("--check", action="store_true", help="exit 1 when the docs drift")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(out)
    return _docs(args.root, args.check, out)
