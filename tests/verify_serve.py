"""``taskcore serve --fixtures F --worker-control --verify-control`` as a subprocess, one
per test module, for the ``taskcore verify`` tests of Send AI, Visual Layer and traces."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from verify_servers import START_TIMEOUT, write_fixture


def served_process(name: str) -> Any:
    """A module-scoped fixture: the server's URL and the fixture file it loaded.  Its
    access log goes to a file: a pipe nobody reads would fill and stop the server."""

    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
        folder = tmp_path_factory.mktemp(name)
        fixture_file = write_fixture(folder)
        with (folder / "serve.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "taskcore", "serve", "--port", "0", "--fixtures",
                 str(fixture_file), "--worker-control", "--verify-control", "--no-webhooks"],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )  # fmt: skip
            assert process.stdout is not None
            line = process.stdout.readline()
            try:
                assert line.startswith("http://127.0.0.1:"), line
                yield line.strip(), fixture_file
            finally:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=START_TIMEOUT)
                assert 0 == process.returncode

    made: Callable[..., Iterator[tuple[str, Path]]] = fixture
    return pytest.fixture(scope="module", name="served")(made)
