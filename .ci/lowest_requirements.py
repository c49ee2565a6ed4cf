#!/usr/bin/env python3
"""Print every dependency of pyproject.toml pinned at its lower bound, one a line.

`make test-lowest` installs these, so the bounds users get stay ones the suite passes
with.  Every requirement must read `name>=X.Y` (or name this project's own extras); any
other form is an error here, so a new dependency cannot slip in without a tested bound.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
requirements = [*project["dependencies"]]
for extra in project["optional-dependencies"].values():
    requirements.extend(extra)
pins: dict[str, str] = {}
for requirement in requirements:
    if requirement.startswith(f"{project['name']}["):
        continue
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", requirement)
    if match is None:
        sys.exit(f"error: {requirement!r} in pyproject.toml has no `>=X.Y` lower bound")
    pins[match[1]] = match[2]
print("\n".join(f"{name}=={version}" for name, version in pins.items()))
