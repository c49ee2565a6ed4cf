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
settings.load_profile("ci")

pytest_plugins = ["postgres_server"]
