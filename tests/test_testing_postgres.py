"""taskcore.testing.postgres: the throw-away server the suite and the benchmarks share
fails with a clear error, naming the package, and leaves nothing behind."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from taskcore.testing.postgres import (
    INSTALL_HINT,
    PostgresUnavailable,
    server_binaries,
    start_postgres,
    wipe,
)


def left_in(parent: Path) -> list[str]:
    return [path.name for path in parent.iterdir() if path.name.startswith("taskcore-pg-")]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Path]:
    """A directory ``<it>/15/bin`` for fake server binaries, usable by the ``postgres``
    user too (the suite may run as root); ``<it>/calls`` logs their calls."""
    root = Path(tempfile.mkdtemp(prefix="fake-pg-"))
    try:
        (root / "15" / "bin").mkdir(parents=True)
        for path in (root, root / "15", root / "15" / "bin"):
            path.chmod(0o777)
        (root / "calls").touch()
        (root / "calls").chmod(0o666)
        yield root
    finally:
        shutil.rmtree(root)


def script(path: Path, body: str) -> None:
    path.write_text(
        f'#!/bin/sh\necho "$(basename $0) $*" >> {path.parent.parent.parent}/calls\n{body}\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_missing_binaries_name_the_package_to_install(tmp_path: Path) -> None:
    with (
        pytest.raises(PostgresUnavailable, match="apt-get install -y postgresql"),
        start_postgres(pattern=str(tmp_path / "*" / "bin"), parent=tmp_path),
    ):
        pass  # pragma: no cover - never entered
    assert [] == left_in(tmp_path)
    assert "postgresql" in INSTALL_HINT


def test_the_newest_version_is_chosen(fake: Path) -> None:
    for version in ("9", "15", "16"):
        (fake / version / "bin").mkdir(parents=True, exist_ok=True)
        (fake / version / "bin" / "pg_ctl").touch()
    assert fake / "16" / "bin" == server_binaries(str(fake / "*" / "bin"))


def test_a_failing_initdb_is_a_clear_error_and_leaves_nothing(fake: Path) -> None:
    script(fake / "15" / "bin" / "initdb", 'echo "initdb: no space left" >&2; exit 1')
    script(fake / "15" / "bin" / "pg_ctl", "exit 0")
    with (
        pytest.raises(PostgresUnavailable, match="initdb failed: initdb: no space left"),
        start_postgres(pattern=str(fake / "*" / "bin"), parent=fake),
    ):
        pass  # pragma: no cover - never entered
    assert [] == left_in(fake)
    assert ["initdb"] == [line.split()[0] for line in (fake / "calls").read_text().splitlines()]


def test_a_server_that_never_starts_is_tried_on_three_ports_then_stopped(fake: Path) -> None:
    script(fake / "15" / "bin" / "initdb", 'mkdir -p "$2"')
    script(fake / "15" / "bin" / "pg_ctl", 'echo "could not bind" >&2; exit 1')
    with (
        pytest.raises(PostgresUnavailable, match="pg_ctl failed: could not bind"),
        start_postgres(pattern=str(fake / "*" / "bin"), parent=fake),
    ):
        pass  # pragma: no cover - never entered
    assert [] == left_in(fake)
    calls = (fake / "calls").read_text().splitlines()
    assert ["initdb", "start", "start", "start", "stop"] == [
        line.split()[0] if line.startswith("initdb") else line.split()[-1] for line in calls
    ]


def test_a_real_server_starts_empty_and_is_gone_after_its_block(
    postgres_dsn: str, fake: Path
) -> None:
    # (The binaries are there: the session's own server runs.)
    with start_postgres(parent=fake) as dsn:
        assert dsn != postgres_dsn
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("CREATE TABLE t (x int)")
        wipe(dsn)
        with psycopg.connect(dsn, autocommit=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
        assert (0,) == row
        assert 1 == len(left_in(fake))
    assert [] == left_in(fake)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5).close()
