# The two quick-start commands, `make demo` and `make test`, work on a bare machine with
# only python3: the first target that needs it creates .venv and installs taskcore with
# its dev extra.  `make bench` and `make docs` are for maintainers.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test lint typecheck pytest bench docs clean

# __init__.py holds the version: a reinstall keeps the installed metadata in step with it.
$(STAMP): pyproject.toml src/taskcore/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m taskcore demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests bench

pytest: $(STAMP)
	$(BIN)/python -m pytest --hypothesis-profile=$(HYPOTHESIS_PROFILE) \
		--cov=taskcore --cov-branch --cov-report=term --cov-fail-under=95

bench: $(STAMP)
	$(BIN)/python bench/run.py

docs: $(STAMP)
	$(BIN)/python -m taskcore docs docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
