"""``make postgresql`` (a prerequisite of ``make pytest``): installs PostgreSQL's server
with apt-get when its binaries are missing and we are root, quietly; does nothing when
they are there; leaves the suite's clear failure when apt-get cannot install it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROOT_USER = os.geteuid() == 0  # only root installs; others get the suite's message


def make_postgresql(tmp_path: Path, pg_ctl_glob: str, apt_status: int) -> tuple[str, list[str]]:
    """Run the target with a fake ``apt-get`` that logs its arguments; return what
    make printed and the logged calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "apt-get"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho noise\nexit {apt_status}\n')
    fake.chmod(0o755)
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "postgresql",
            f"PG_CTL_GLOB={pg_ctl_glob}",
        ],
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    logged = calls.read_text().splitlines() if calls.exists() else []
    return done.stdout, logged


def test_missing_binaries_are_installed_quietly_with_apt_get(tmp_path: Path) -> None:
    out, calls = make_postgresql(tmp_path, str(tmp_path / "none" / "*" / "pg_ctl"), 0)
    if not ROOT_USER:
        assert ([], "") == (calls, out)
        return
    assert ["update -qq", "install -y -qq postgresql"] == calls
    assert "PostgreSQL's server is missing: apt-get install -y postgresql\n" == out


def test_present_binaries_install_nothing(tmp_path: Path) -> None:
    present = tmp_path / "15" / "bin" / "pg_ctl"
    present.parent.mkdir(parents=True)
    present.touch()
    out, calls = make_postgresql(tmp_path, str(tmp_path / "*" / "bin" / "pg_ctl"), 0)
    assert ([], "") == (calls, out)


def test_a_failed_install_says_so_and_leaves_the_suite_to_fail(tmp_path: Path) -> None:
    out, calls = make_postgresql(tmp_path, str(tmp_path / "none" / "*" / "pg_ctl"), 100)
    if not ROOT_USER:
        assert ([], "") == (calls, out)
        return
    assert ["update -qq"] == calls
    assert "apt-get could not install postgresql (the suite will fail, naming it)" in out
