"""``taskcore verify`` catches deliberate faults (tests/verify_servers.py, ``MUTANTS``):
each with a shrunk counterexample of a few requests, labelled reproducible, whose
``repro.sh`` and ``test_repro.py`` fail against the mutant and pass against the real
server; and the saved counterexample is replayed first on the next run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import verify_mutants_more  # noqa: F401  (adds the Send AI and Visual Layer mutants)
from taskcore.fixtures import parse
from taskcore.server import Services
from taskcore.verify.run import Options, verify
from verify_servers import KEY, MUTANTS, ClaroTenantLeakSometimes, serving, write_fixture

MAX_STEPS = 8
"""The longest shrunk counterexample accepted ("a handful of requests")."""


@pytest.fixture(scope="module")
def fixture_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("mutants"))


@pytest.fixture(scope="module")
def real(fixture_file: Path) -> Iterator[str]:
    with serving(fixture_file) as url:
        yield url


def _repro_sh(folder: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(folder / "repro.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "BASE_URL": url},
        timeout=60,
        check=False,
    )


def _test_repro(folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("BASE_URL", url)
    spec = importlib.util.spec_from_file_location(f"repro_{folder.name}", folder / "test_repro.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_verify_catches_the_mutant_with_a_repro_that_replays(
    name: str, real: str, fixture_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutant = MUTANTS[name]
    out = tmp_path / "out"
    options = Options(
        mutant.api, "", KEY, parse(fixture_file), examples=150, out=out, shipped=False
    )
    with serving(fixture_file, mutant.mutate) as url:
        report = verify(attrs.evolve(options, base_url=url))
        example = report.counterexample
        assert example is not None, [p.to_json() for p in report.properties]
        assert 1 == report.exit_status
        assert mutant.property == example.divergence.property, example.divergence.message
        assert example.steps <= MAX_STEPS
        assert ("reproducible", 3) == (example.label, example.reproduced)
        assert example.divergence.checks
        verdicts = {p.name: p.verdict for p in report.properties}
        assert "diverged" == verdicts[mutant.property]

        against_mutant = _repro_sh(example.folder, url)
        assert 1 == against_mutant.returncode, against_mutant.stdout + against_mutant.stderr
        assert "the divergence shows" in against_mutant.stdout
        with pytest.raises(AssertionError):
            _test_repro(example.folder, url, monkeypatch).test_the_divergence_does_not_show()

        again = verify(attrs.evolve(options, base_url=url, examples=0))
        assert again.counterexample is not None
        assert again.counterexample.saved
        assert example.folder == again.counterexample.folder

    against_real = _repro_sh(example.folder, real)
    assert 0 == against_real.returncode, against_real.stdout + against_real.stderr
    _test_repro(example.folder, real, monkeypatch).test_the_divergence_does_not_show()

    record = json.loads((example.folder / "sequence.json").read_text())
    assert mutant.api == record["api"]
    assert example.steps == len(record["steps"])

    fixed = verify(attrs.evolve(options, base_url=real, examples=0))
    assert [example.folder.name] == fixed.fixed
    assert 0 == fixed.exit_status


def test_a_divergence_that_does_not_always_show_is_labelled_nondeterministic(
    fixture_file: Path, tmp_path: Path
) -> None:
    def mutate(services: Services) -> None:
        services.claro = ClaroTenantLeakSometimes(services.store)

    with serving(fixture_file, mutate) as url:
        options = Options(
            "claro", url, KEY, parse(fixture_file), examples=100, out=tmp_path, shipped=False
        )
        report = verify(options)
    example = report.counterexample
    assert example is not None
    assert ("tenancy", "nondeterministic") == (example.divergence.property, example.label)
    assert 0 < example.reproduced < example.runs
    record = json.loads((example.folder / "sequence.json").read_text())
    assert "nondeterministic" == record["label"]
