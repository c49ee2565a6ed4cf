"""Shared test configuration: Hypothesis profiles.

``ci`` (what ``make test`` uses) is derandomized and has no deadline: CI machines are
shared and noisy, and a run must not flake.  ``deep`` is for a maintainer before closing
an issue: ``make test HYPOTHESIS_PROFILE=deep``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    deadline=None,
    max_examples=2000,
    stateful_step_count=200,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
# The compatibility runs of CI (the suite on the other Pythons and at the dependencies'
# lower bounds): every test, a tenth of the search.  `make test` explores with `ci`; these
# runs only need each test to run on that interpreter and those versions.
settings.register_profile(
    "compat",
    deadline=None,
    derandomize=True,
    max_examples=10,
    stateful_step_count=20,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")

pytest_plugins = ["postgres_server"]
