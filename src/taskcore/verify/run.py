"""``taskcore verify``: one run from options to a report (docs/verify.md).

:func:`verify` does, in order, against one API of one system:

1. probes the control interface (:meth:`SystemUnderTest.probe_control`);
2. replays the counterexamples saved under ``--out`` for this API (first, so a fix is
   confirmed at once); one that still diverges is the run's counterexample and no
   random sequence is drawn;
3. runs the shipped scenarios of the API and every ``--scenario`` file;
4. draws random sequences (:func:`taskcore.verify.driver.explore`), unless a
   counterexample was found already;
5. re-runs a counterexample ``--replays`` times, labels it reproducible or
   nondeterministic, and writes it out (:mod:`taskcore.verify.repro`);
6. builds the :class:`Report`: per property *held*, *diverged* or *not checked* (no
   check made, or the system lacks what it needs), per scenario, transition coverage,
   and the model's last state; :func:`junit_xml` and :meth:`Report.to_json` render it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol, TextIO
from xml.etree import ElementTree

import attrs

from taskcore.errors import ValidationError
from taskcore.fixtures import Fixture
from taskcore.verify.driver import Exploration, Outcome, explore, replay, run_steps
from taskcore.verify.exchange import HttpClient
from taskcore.verify.model import ApiModel, Divergence
from taskcore.verify.repro import counterexample_id, load_sequence, write_counterexample
from taskcore.verify.scenario import Scenario, ScenarioResult, run_scenario, shipped_scenarios
from taskcore.verify.sut import DEFAULT_RESET_PATH, SystemUnderTest

__all__ = [
    "CHECKERS",
    "CONTROL_NAMES",
    "Checker",
    "Counterexample",
    "Options",
    "PropertyResult",
    "Report",
    "junit_xml",
    "verify",
]

DEFAULT_OUT: Final = Path(".taskcore-verify")
"""Where counterexamples are written and read back by default."""


class Checker(Protocol):
    """Makes an API's checking model: ``(fixture, key, control=...) -> ApiModel``."""

    def __call__(self, fixture: Fixture, key: str, *, control: bool) -> ApiModel: ...


def _checkers() -> dict[str, Checker]:
    from taskcore.verify.chunkr import ChunkrChecker
    from taskcore.verify.claro import ClaroChecker
    from taskcore.verify.sendai import SendAIChecker
    from taskcore.verify.visual_layer import VisualLayerChecker

    return {
        "claro": ClaroChecker,
        "chunkr": ChunkrChecker,
        "sendai": SendAIChecker,
        "visual-layer": VisualLayerChecker,
    }


CHECKERS: Final = ("claro", "chunkr", "sendai", "visual-layer")
"""The APIs with a checker (command-line names)."""
CONTROL_NAMES: Final = {
    "claro": "claro",
    "sendai": "sendai",
    "chunkr": "chunkr",
    "visual-layer": "visual_layer",
}
"""Command-line API name -> the control interface's name for it."""


@attrs.frozen
class Options:
    """What to check and how (the command line's options).

    Attributes:
        api: ``claro``, ``chunkr``, ``sendai`` or ``visual-layer`` (:data:`CHECKERS`).
        base_url: the system under test (``http://host:port``).
        key: the caller's API key.
        fixture: the fixtures the system starts from.
        examples: random sequences Hypothesis draws.
        seed: Hypothesis' seed.
        max_time: seconds after which no new random sequence starts.
        max_steps: the longest random sequence.
        reset_url, reset_command: the reset hook (default: ``POST`` to
            ``<base_url>/_taskcore/reset``).
        scenarios: scenario files to run besides the shipped ones.
        out: where counterexamples are written and replayed from.
        replays: how many times a counterexample is re-run.
        shipped: whether to run the shipped scenarios.
        timeout: seconds per request.
    """

    api: str
    base_url: str
    key: str
    fixture: Fixture
    examples: int = 100
    seed: int = 0
    max_time: float | None = None
    max_steps: int = 12
    reset_url: str | None = None
    reset_command: str | None = None
    scenarios: tuple[Scenario, ...] = ()
    out: Path = DEFAULT_OUT
    replays: int = 3
    shipped: bool = True
    timeout: float = 10.0


@attrs.frozen
class PropertyResult:
    """A property's verdict: ``held``, ``diverged`` or ``not checked``."""

    name: str
    description: str
    verdict: str
    checks: int
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """For the JSON report."""
        return {
            "description": self.description,
            "verdict": self.verdict,
            "checks": self.checks,
            "reason": self.reason,
        }


@attrs.frozen
class Counterexample:
    """A shrunk sequence that diverged, and where it was written."""

    divergence: Divergence
    steps: int
    label: str
    reproduced: int
    runs: int
    folder: Path
    saved: bool

    def to_json(self) -> dict[str, Any]:
        """For the JSON report."""
        return {
            **self.divergence.to_json(),
            "steps": self.steps,
            "label": self.label,
            "reproduced": f"{self.reproduced}/{self.runs}",
            "folder": str(self.folder),
            "replayed_from_saved": self.saved,
        }


@attrs.define
class Report:
    """The whole run's result (see the module docstring)."""

    api: str
    base_url: str
    seed: int
    control: bool
    properties: list[PropertyResult]
    scenarios: list[ScenarioResult]
    counterexample: Counterexample | None
    coverage: dict[str, int]
    uncovered: list[str]
    state: dict[str, Any]
    sequences: int
    steps: int
    seconds: float
    fixed: list[str] = attrs.field(factory=list)

    @property
    def exit_status(self) -> int:
        """0 when every checked property held and no scenario failed, else 1."""
        failed = any(p.verdict == "diverged" for p in self.properties)
        failed = failed or any(s.outcome == "failed" for s in self.scenarios)
        return 1 if failed or self.counterexample is not None else 0

    def to_json(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "api": self.api,
            "base_url": self.base_url,
            "seed": self.seed,
            "control_interface": self.control,
            "result": "diverged" if self.exit_status else "held",
            "properties": {p.name: p.to_json() for p in self.properties},
            "scenarios": [s.to_json() for s in self.scenarios],
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_json(),
            "saved_counterexamples_fixed": self.fixed,
            "coverage": {"transitions": self.coverage, "not_exercised": self.uncovered},
            "model_state": self.state,
            "sequences": self.sequences,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
        }


def junit_xml(report: Report) -> str:
    """JUnit XML: one test case per property (skipped when not checked) and per
    scenario."""
    suite = ElementTree.Element(
        "testsuite",
        name=f"taskcore verify {report.api}",
        tests=str(len(report.properties) + len(report.scenarios)),
        failures=str(
            sum(p.verdict == "diverged" for p in report.properties)
            + sum(s.outcome == "failed" for s in report.scenarios)
        ),
        skipped=str(
            sum(p.verdict == "not checked" for p in report.properties)
            + sum(s.outcome == "skipped" for s in report.scenarios)
        ),
        time=f"{report.seconds:.3f}",
    )
    for prop in report.properties:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"verify.{report.api}.property", name=prop.name
        )
        if prop.verdict == "not checked":
            ElementTree.SubElement(case, "skipped", message=prop.reason or "not checked")
        elif prop.verdict == "diverged":
            example = report.counterexample
            message = prop.description
            text = ""
            if example is not None and example.divergence.property == prop.name:
                message = example.divergence.message
                text = f"{example.label}; repro: {example.folder / 'repro.sh'}"
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = text
    for scenario in report.scenarios:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"verify.{report.api}.scenario", name=scenario.name
        )
        if scenario.outcome == "skipped":
            ElementTree.SubElement(case, "skipped", message="; ".join(scenario.messages))
        elif scenario.outcome == "failed":
            failure = ElementTree.SubElement(case, "failure", message=scenario.messages[0])
            failure.text = "\n".join(scenario.messages)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _saved(out: Path, api: str) -> list[Path]:
    if not out.is_dir():
        return []
    return sorted(p for p in out.glob(f"{api}-*/sequence.json") if p.is_file())


def verify(options: Options, progress: TextIO | None = None) -> Report:
    """Check ``options.api`` of the system at ``options.base_url`` (see the module
    docstring).

    Args:
        options: what to check.
        progress: where to write progress lines (standard error), or ``None``.

    Returns:
        The report; counterexamples are written under ``options.out``.

    Raises:
        ValidationError: the API has no checker, or the key is not in the fixtures.
        Unreachable, ResetFailed: the system cannot be reached or reset.
        OSError: ``options.out`` cannot be written.
    """
    started = time.monotonic()
    checkers = _checkers()
    if options.api not in checkers:
        raise ValidationError(
            f"no checker for {options.api!r} yet (checkers: {', '.join(sorted(checkers))})",
            field="api",
        )
    checker = checkers[options.api]

    def say(line: str) -> None:
        if progress is not None:
            progress.write(f"taskcore verify {options.api}: {line}\n")
            progress.flush()

    client = HttpClient(options.base_url, timeout=options.timeout)
    reset_url = options.reset_url
    if reset_url is None and options.reset_command is None:
        reset_url = client.base_url + DEFAULT_RESET_PATH
    sut = SystemUnderTest(client, reset_url=reset_url, reset_command=options.reset_command)
    control = sut.probe_control(CONTROL_NAMES[options.api])
    say(f"{options.base_url}; control interface {'found' if control else 'not found'}")

    def make_model() -> ApiModel:
        return checker(options.fixture, options.key, control=control)

    tally: Counter[str] = Counter()
    coverage: Counter[str] = Counter()
    failure: Outcome | None = None
    from_saved = False
    fixed: list[str] = []
    for path in _saved(options.out, options.api):
        _, steps = load_sequence(path)
        outcome = run_steps(sut, make_model, steps)
        tally.update(outcome.model.tally)
        coverage.update(outcome.model.coverage)
        if outcome.diverged and failure is None:
            failure, from_saved = outcome, True
            say(f"saved counterexample {path.parent.name} still diverges")
        elif not outcome.diverged:
            fixed.append(path.parent.name)
            say(f"saved counterexample {path.parent.name} no longer diverges")

    scenarios = [*(shipped_scenarios(options.api) if options.shipped else []), *options.scenarios]
    results: list[ScenarioResult] = []
    state: dict[str, Any] = {}
    for scenario in scenarios:
        if scenario.api != options.api:
            results.append(
                ScenarioResult(scenario.name, "skipped", (f"a scenario of {scenario.api}",))
            )
            continue
        model = make_model()
        result = run_scenario(sut, model, scenario)
        tally.update(model.tally)
        coverage.update(model.coverage)
        state = model.state()
        results.append(result)
        say(f"scenario {scenario.name!r}: {result.outcome}")

    exploration = Exploration()
    if failure is None and options.examples > 0:

        def show(done: Exploration) -> None:
            if done.sequences % 10 == 0:
                say(f"{done.sequences} sequences, {done.steps} steps")

        exploration = explore(
            sut,
            make_model,
            examples=options.examples,
            seed=options.seed,
            max_time=options.max_time,
            max_steps=options.max_steps,
            progress=show,
        )
        tally.update(exploration.tally)
        coverage.update(exploration.coverage)
        state = exploration.state or state
        failure = exploration.failure
        say(
            f"{exploration.sequences} sequences, {exploration.steps} steps"
            + (" (stopped at --max-time)" if exploration.timed_out else "")
        )

    example: Counterexample | None = None
    if failure is not None:
        example = _write(options, sut, make_model, failure, from_saved, say)
        state = failure.model.state()

    sample = make_model()
    diverged = set() if example is None else {example.divergence.property}
    diverged |= {d.property for r in results for d in r.divergences}
    properties = []
    for prop in sample.properties:
        reason = sample.unavailable(prop)
        checks = tally[prop.name]
        if prop.name in diverged:
            verdict = "diverged"
        elif reason is not None or checks == 0:
            verdict, reason = "not checked", reason or "no sequence made a check of it"
        else:
            verdict = "held"
        properties.append(PropertyResult(prop.name, prop.description, verdict, checks, reason))
    return Report(
        api=options.api,
        base_url=options.base_url,
        seed=options.seed,
        control=control,
        properties=properties,
        scenarios=results,
        counterexample=example,
        coverage=dict(sorted(coverage.items())),
        uncovered=[t for t in sample.transitions if t not in coverage],
        state=state,
        sequences=exploration.sequences,
        steps=exploration.steps,
        seconds=time.monotonic() - started,
        fixed=fixed,
    )


def _write(
    options: Options,
    sut: SystemUnderTest,
    make_model: Callable[[], ApiModel],
    failure: Outcome,
    from_saved: bool,
    say: Callable[[str], None],
) -> Counterexample:
    divergence = failure.divergences[0]
    names = failure.model.names
    # A check on a server-made id names it by variable: the replay compares against
    # the id that run's own answers gave.
    divergence = attrs.evolve(
        divergence,
        checks=tuple(
            attrs.evolve(c, value="${" + names[c.value] + "}")
            if isinstance(c.value, str) and c.value in names
            else c
            for c in divergence.checks
        ),
    )
    steps = failure.steps
    reproduced, _ = replay(sut, make_model, steps, options.replays)
    label = "reproducible" if reproduced == options.replays else "nondeterministic"
    folder = options.out / counterexample_id(options.api, steps, divergence)
    model = make_model()
    write_counterexample(
        folder,
        api=options.api,
        base_url=options.base_url,
        reset=sut.reset_shell(),
        steps=steps,
        auth=[model.auth_headers(s.tenant) for s in steps],
        divergence=divergence,
        exchanges=failure.exchanges,
        label=label,
        reproduced=reproduced,
        runs=options.replays,
    )
    say(
        f"DIVERGED ({divergence.property}): {divergence.message} -- {len(steps)} step(s), "
        f"{label} ({reproduced}/{options.replays}); repro: {folder / 'repro.sh'}"
    )
    return Counterexample(
        divergence, len(steps), label, reproduced, options.replays, folder, from_saved
    )


def write_reports(report: Report, *, junit: Path | None, json_path: Path | None) -> None:
    """Write the JUnit XML and JSON reports where asked.

    Raises:
        OSError: a file cannot be written.
    """
    if junit is not None:
        junit.write_text(junit_xml(report), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def summary(report: Report) -> list[str]:
    """The lines printed at the end of a run."""
    lines = [
        f"{p.name:<10} {p.verdict:<12} {p.checks:>6} checks"
        + (f"  ({p.reason})" if p.reason else "")
        for p in report.properties
    ]
    lines += [f"scenario {s.name!r}: {s.outcome}" for s in report.scenarios]
    if report.uncovered:
        lines.append("transitions not exercised: " + ", ".join(report.uncovered))
    example = report.counterexample
    if example is not None:
        lines.append(
            f"counterexample ({example.label}): {example.divergence.message}; "
            f"{example.folder / 'repro.sh'}"
        )
    lines.append("result: " + ("DIVERGED" if report.exit_status else "every checked property held"))
    return lines
