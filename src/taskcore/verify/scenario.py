"""Named scenarios: a documented workflow as JSON steps with expectations (docs/verify.md,
"Scenarios").

A scenario file is one JSON object::

    {
      "name": "claro: create a bulk task, poll it, complete it",
      "api": "claro",
      "needs": ["worker"],
      "variables": {"dataset": "550e8400-e29b-41d4-a716-446655440000"},
      "steps": [
        {"label": "create", "method": "POST",
         "path": "/api/v2/datasets/${dataset}/tasks/bulk", "body": {},
         "capture": {"task": "taskId"},
         "expect": {"status": 201, "fields": {"status": "queued"}}},
        {"method": "GET", "path": "/api/v2/datasets/${dataset}/tasks/${task}",
         "expect": {"status": 200, "fields": {"progress.completed": 0}}}
      ]
    }

- ``steps``: each a request (:meth:`Step.from_json`: ``method``, ``path``, ``body``
  (any JSON, or text), ``as`` (``main``, ``other``, ``none``, ``bad``, ``control``),
  ``headers``, ``capture``, ``label``) and an optional ``expect``: ``status`` and
  ``fields`` (a dotted path in the JSON answer -> the value it must equal; ``"text"``
  -> the whole body as text).
- ``variables``: starting values of ``${name}``; the checker gives defaults too
  (Claro: ``dataset``, the caller's first dataset).
- ``needs``: ``"worker"`` when a step uses the control interface (the scenario is
  skipped without it) or ``"other tenant"``.

Every step is also judged by the API's checking model, so a scenario checks the
invariants as a random sequence does, and its own expectations on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs

from taskcore.errors import ValidationError
from taskcore.verify.exchange import Step, UnboundVariable, field_at
from taskcore.verify.model import NEEDS_OTHER_TENANT, NEEDS_WORKER, ApiModel, Divergence
from taskcore.verify.sut import SystemUnderTest

__all__ = [
    "MAX_SCENARIO_BYTES",
    "Expect",
    "Scenario",
    "ScenarioResult",
    "load_scenario",
    "run_scenario",
    "shipped_scenarios",
]

MAX_SCENARIO_BYTES = 1024 * 1024
"""The largest scenario file read, in bytes."""
MAX_SCENARIO_STEPS = 1000
"""The most steps a scenario may have."""


@attrs.frozen
class Expect:
    """What a scenario step's answer must be: a status and field values."""

    status: int | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Scenario:
    """A parsed scenario (see the module docstring)."""

    name: str
    api: str
    steps: tuple[tuple[Step, Expect], ...]
    variables: Mapping[str, str] = attrs.field(factory=dict)
    needs: frozenset[str] = frozenset()
    source: str = ""


@attrs.frozen
class ScenarioResult:
    """How a scenario went: ``passed``, ``failed`` (with why) or ``skipped`` (why)."""

    name: str
    outcome: str
    messages: tuple[str, ...] = ()
    steps: int = 0
    divergences: tuple[Divergence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """For the JSON report."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "steps": self.steps,
            "messages": list(self.messages),
        }


def _expect(value: Any, where: str) -> Expect:
    if not isinstance(value, dict) or set(value) - {"status", "fields"}:
        raise ValidationError(f"{where} must be {{status?, fields?}}", field=where)
    status = value.get("status")
    if status is not None and (type(status) is not int or not 100 <= status <= 599):
        raise ValidationError(f"{where}.status must be an HTTP status", field=f"{where}.status")
    fields = value.get("fields", {})
    if not isinstance(fields, dict):
        raise ValidationError(f"{where}.fields must be an object", field=f"{where}.fields")
    return Expect(status, dict(fields))


def load_scenario(source: Path | str | bytes, *, name: str = "") -> Scenario:
    """Parse a scenario file (a path) or its bytes.

    Raises:
        ValidationError: the file cannot be read, is too big, is not JSON, or breaks
            the format; ``field`` says where (``$.steps[2].expect.status``).
    """
    if isinstance(source, bytes):
        data, shown = source, name or "scenario"
    else:
        path = Path(source)
        shown = name or str(path)
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_SCENARIO_BYTES + 1)
        except OSError as error:
            raise ValidationError(f"Cannot read scenario {path}: {error}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ValidationError(f"{shown}: larger than {MAX_SCENARIO_BYTES} bytes")
    from taskcore.http import parse_json

    try:
        document = parse_json(data)
    except ValidationError as error:
        raise ValidationError(f"{shown}: {error.message}") from None
    if not isinstance(document, dict):
        raise ValidationError(f"{shown}: a scenario is a JSON object", field="$")
    unknown = sorted(set(document) - {"name", "api", "description", "needs", "variables", "steps"})
    if unknown:
        raise ValidationError(f"{shown}: unknown key {unknown[0]!r}", field=f"$.{unknown[0]}")
    title, api, raw_steps = document.get("name"), document.get("api"), document.get("steps")
    if not isinstance(title, str) or not title:
        raise ValidationError(f"{shown}: $.name must be a non-empty string", field="$.name")
    if not isinstance(api, str):
        raise ValidationError(f"{shown}: $.api must name the API", field="$.api")
    if not isinstance(raw_steps, list) or not 0 < len(raw_steps) <= MAX_SCENARIO_STEPS:
        raise ValidationError(
            f"{shown}: $.steps must be a list of 1 to {MAX_SCENARIO_STEPS} steps", field="$.steps"
        )
    variables = document.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValidationError(
            f"{shown}: $.variables must map names to strings", field="$.variables"
        )
    needs = document.get("needs", [])
    if not isinstance(needs, list) or set(needs) - {NEEDS_WORKER, NEEDS_OTHER_TENANT}:
        raise ValidationError(
            f"{shown}: $.needs lists {NEEDS_WORKER!r} and/or {NEEDS_OTHER_TENANT!r}",
            field="$.needs",
        )
    steps = []
    for index, raw in enumerate(raw_steps):
        where = f"$.steps[{index}]"
        if not isinstance(raw, dict):
            raise ValidationError(f"{shown}: {where} must be an object", field=where)
        request = {k: v for k, v in raw.items() if k != "expect"}
        try:
            step = Step.from_json(request, where)
            expect = _expect(raw.get("expect", {}), f"{where}.expect")
        except ValidationError as error:
            raise ValidationError(f"{shown}: {error.message}", field=error.field) from None
        steps.append((step, expect))
    return Scenario(title, api, tuple(steps), dict(variables), frozenset(needs), shown)


def shipped_scenarios(api: str) -> list[Scenario]:
    """The vendor documents' workflows shipped in the package for ``api``."""
    folder = files("taskcore.verify").joinpath("scenarios")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            scenario = load_scenario(entry.read_bytes(), name=f"taskcore:{entry.name}")
            if scenario.api == api:
                found.append(scenario)
    return found


def run_scenario(sut: SystemUnderTest, model: ApiModel, scenario: Scenario) -> ScenarioResult:
    """Reset, then make the scenario's steps with ``model`` (fresh) judging each.

    A scenario stops at its first failed expectation or divergence.  It is skipped
    when it needs what the system does not have (:attr:`Scenario.needs`).

    Raises:
        Unreachable, ResetFailed: the system cannot be reached or reset.
    """
    for need in sorted(scenario.needs):
        if need == NEEDS_WORKER and not sut.control:
            return ScenarioResult(scenario.name, "skipped", ("needs the control interface",))
        if need == NEEDS_OTHER_TENANT and model.other_key is None:
            return ScenarioResult(scenario.name, "skipped", ("needs a second tenant's key",))
    sut.reset()
    bindings = {**model.variables(), **scenario.variables}
    for index, (step, expect) in enumerate(scenario.steps):
        where = f"step {index + 1} ({step.label or step.method + ' ' + step.path})"
        try:
            exchange = sut.send(step, bindings, model.auth_headers(step.tenant))
        except UnboundVariable as error:
            return ScenarioResult(scenario.name, "failed", (f"{where}: {error}",), index + 1)
        found = model.step(exchange)
        bindings.update(model.captured(step, exchange))
        problems = [f"{where}: {d.property}: {d.message}" for d in found]
        if expect.status is not None and exchange.status != expect.status:
            problems.append(f"{where}: status {exchange.status}, expected {expect.status}")
        document = exchange.json()
        for path, value in expect.fields.items():
            actual = exchange.text if path == "text" else field_at(document, path)
            if actual != value:
                problems.append(f"{where}: {path} is {actual!r}, expected {value!r}")
        if problems:
            return ScenarioResult(scenario.name, "failed", tuple(problems), index + 1, tuple(found))
    return ScenarioResult(scenario.name, "passed", (), len(scenario.steps))


def scenario_json(scenario: Scenario) -> str:
    """The scenario as JSON text (for the report)."""
    return json.dumps({"name": scenario.name, "api": scenario.api, "source": scenario.source})
