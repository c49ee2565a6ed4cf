"""The ``taskcore verify`` subcommand: its arguments and how a run becomes an exit status.

Exit status 0: every checked property held and no scenario failed; 1: a divergence
(a counterexample was written under ``--out``), or a ``--trace`` holding no exchange; 2: a
run that checked nothing (zero checks), bad arguments, a bad fixtures or
scenario file, a system that cannot be reached or reset, or Hypothesis missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path
from typing import TextIO

from taskcore.errors import TaskcoreError

__all__ = ["add_parser", "run"]

APIS = ("claro", "sendai", "chunkr", "visual-layer")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify`` and its options to the command line's subcommands."""
    verify = commands.add_parser(
        "verify",
        help="check a server's implementation of an API against the documents",
        description="Check the API at --base-url against the documented behaviour: named "
        "scenarios, then random sequences of calls (Hypothesis) judged step by step by a "
        "model of the lifecycle. A divergence is shrunk, re-run, and written under --out "
        "as repro.sh and test_repro.py. Exit status 0 all checked properties held, 1 a "
        "divergence, 2 usage or connection errors (docs/verify.md).",
    )
    verify.add_argument("api", choices=APIS, help="which API")
    verify.add_argument(
        "--base-url", help="the server, http://host:port (needed unless --trace is given)"
    )
    verify.add_argument("--key", required=True, help="the caller's API key (in --fixtures)")
    verify.add_argument("--examples", type=int, default=100, help="random sequences to draw")
    verify.add_argument("--seed", type=int, default=0, help="Hypothesis' seed")
    verify.add_argument(
        "--max-time",
        type=float,
        metavar="SECONDS",
        help="stop the random sequences after this (checked between steps)",
    )
    verify.add_argument(
        "--max-steps", type=int, default=12, help="the longest random sequence, in steps"
    )
    reset = verify.add_mutually_exclusive_group()
    reset.add_argument(
        "--reset-url", help="POST here before each sequence (default BASE/_taskcore/reset)"
    )
    reset.add_argument("--reset-command", help="run this shell command before each sequence")
    verify.add_argument(
        "--fixtures",
        type=Path,
        metavar="FILE",
        help="the fixtures the server starts from (default: the shipped demo fixture)",
    )
    verify.add_argument(
        "--scenario", type=Path, action="append", default=[], metavar="FILE", help="a scenario"
    )
    verify.add_argument(
        "--no-shipped-scenarios", action="store_true", help="skip the shipped scenarios"
    )
    verify.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    verify.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report here")
    verify.add_argument(
        "--out", type=Path, default=Path(".taskcore-verify"), help="counterexamples folder"
    )
    verify.add_argument(
        "--replays", type=int, default=3, help="re-runs of a counterexample (default 3)"
    )
    verify.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request, the whole answer included"
    )
    verify.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="check this recorded trace (JSON lines or HAR) instead of a server",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``taskcore verify`` with parsed ``args``; the exit status (module docstring)."""
    if importlib.util.find_spec("hypothesis") is None:
        err.write("taskcore verify: needs Hypothesis: pip install 'taskcore[testing]'\n")
        return 2
    from taskcore.fixtures import demo_fixture, parse
    from taskcore.verify.run import Options, summary, verify, write_reports
    from taskcore.verify.scenario import load_scenario

    if args.trace is not None:
        return _trace(args, out, err)
    if args.base_url is None:
        err.write("taskcore verify: --base-url is needed (or --trace FILE)\n")
        return 2
    try:
        for name, value, low, high in (
            ("--examples", args.examples, 0, 1_000_000),
            ("--max-steps", args.max_steps, 1, 1000),
            ("--replays", args.replays, 1, 100),
        ):
            if not low <= value <= high:
                raise ValueError(f"{name} must be {low} to {high}")
        if not math.isfinite(args.timeout) or args.timeout <= 0:
            raise ValueError("--timeout must be positive (a finite number of seconds)")
        if args.max_time is not None and (not math.isfinite(args.max_time) or args.max_time < 0):
            raise ValueError("--max-time must be a finite number of seconds, not negative")
        if args.examples == 0 and args.no_shipped_scenarios and not args.scenario:
            raise ValueError(
                "nothing to check: --examples 0 with --no-shipped-scenarios and no --scenario"
            )
        fixture = demo_fixture() if args.fixtures is None else parse(args.fixtures)
        scenarios = tuple(load_scenario(path) for path in args.scenario)
        options = Options(
            api=args.api,
            base_url=args.base_url,
            key=args.key,
            fixture=fixture,
            examples=args.examples,
            seed=args.seed,
            max_time=args.max_time,
            max_steps=args.max_steps,
            reset_url=args.reset_url,
            reset_command=args.reset_command,
            scenarios=scenarios,
            out=args.out,
            replays=args.replays,
            shipped=not args.no_shipped_scenarios,
            timeout=args.timeout,
        )
        report = verify(options, err)
        write_reports(report, junit=args.junit, json_path=args.json)
    except (TaskcoreError, OSError, ValueError) as error:
        err.write(f"taskcore verify: {error}\n")
        return 2
    for line in summary(report):
        out.write(line + "\n")
    if report.exit_status == 0 and not any(p.checks for p in report.properties):
        err.write("taskcore verify: nothing was checked (zero checks): not a pass\n")
        return 2
    return report.exit_status


def _trace(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``taskcore verify API --trace FILE``: judge a recorded trace (docs/verify.md,
    "Checking a recorded trace"); exit 0 held, 1 a divergence or a trace not consumed
    whole, 2 a bad key, fixtures or file."""
    import json

    from taskcore.fixtures import demo_fixture, parse
    from taskcore.verify.run import _checkers
    from taskcore.verify.trace import check_trace

    try:
        fixture = demo_fixture() if args.fixtures is None else parse(args.fixtures)
        checker = _checkers().get(args.api)
        if checker is None:
            raise ValueError(f"no checker for {args.api!r}")
        model = checker(fixture, args.key, control=True)
        result = check_trace(args.trace, args.api, model)
        if args.json is not None:
            args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    except (TaskcoreError, OSError, ValueError) as error:
        err.write(f"taskcore verify: {error}\n")
        return 2
    for line in result.summary():
        out.write(line + "\n")
    if result.exit_status == 0 and result.exchanges == 0:
        err.write(f"taskcore verify: {args.trace} holds no exchange: nothing was checked\n")
        return 1
    return result.exit_status
