# The two quick-start commands, `make demo` and `make test`, work on a bare machine with
# only python3: the first target that needs it creates .venv and installs taskcore with
# its dev extra.  `make test-matrix`, `make test-lowest` (both run by CI), `make bench`
# and `make docs` are for maintainers.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HYPOTHESIS_PROFILE ?= ci
# pytest-xdist workers: the suite runs on every core (`make test PYTEST_WORKERS=0` for one
# process, say to debug).
PYTEST_WORKERS ?= auto
PIP_INSTALL := python -m pip install --quiet --disable-pip-version-check
INSTALL_SPEC := -e '.[dev]'
# The other supported Pythons: `make test-matrix` runs the suite on each, in .venv-X.Y.
PYTHONS ?= 3.12 3.13
# __init__.py holds the version: a reinstall keeps the installed metadata in step with it.
INSTALL_INPUTS := pyproject.toml src/taskcore/__init__.py

.PHONY: demo serve test test-matrix test-lowest lint typecheck pytest postgresql bench docs docs-check verifytypes clean

$(STAMP): $(INSTALL_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL) $(INSTALL_SPEC)
	touch $(STAMP)

# The walkthrough of the four APIs over real HTTP: starts `taskcore serve --demo` on a free
# port of 127.0.0.1, prints each request and answer, stops it (docs/server.md, "Demo").
demo: $(STAMP)
	$(BIN)/python -m taskcore demo

# The four APIs over HTTP on 127.0.0.1:8000 with the demo data and keys, until Ctrl-C.
serve: $(STAMP)
	$(BIN)/python -m taskcore serve --host 127.0.0.1 --port 8000 --demo

test: lint typecheck pytest docs-check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests bench tools

pytest: $(STAMP) postgresql
	$(BIN)/python -m pytest --hypothesis-profile=$(HYPOTHESIS_PROFILE) -n $(PYTEST_WORKERS) \
		--cov=taskcore --cov-branch --cov-report=term --cov-fail-under=95

# PostgreSQL's server binaries, for the suite's throw-away servers
# (taskcore.testing.postgres): when they are missing and we are root with apt-get, install
# them (`apt-get install -y postgresql`, quietly; once there, this does nothing).
# Otherwise the suite fails, naming that command.  `make bench` needs them too.
PG_CTL_GLOB := /usr/lib/postgresql/*/bin/pg_ctl
postgresql:
	@if ! ls $(PG_CTL_GLOB) >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
			&& command -v apt-get >/dev/null 2>&1; then \
		echo "PostgreSQL's server is missing: apt-get install -y postgresql"; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null 2>&1 \
			|| echo "apt-get could not install postgresql (the suite will fail, naming it)"; \
	fi

# The suite alone (no lint, types or coverage: `make test` does those once) on each of
# $(PYTHONS); .ci/find-python finds the interpreter or fails naming where it looked.
test-matrix: $(addprefix pytest-,$(PYTHONS))

.PRECIOUS: .venv-%/.installed
.venv-%/.installed: $(INSTALL_INPUTS)
	test -x .venv-$*/bin/python || { python=$$(.ci/find-python $*) && $$python -m venv .venv-$*; }
	.venv-$*/bin/$(PIP_INSTALL) -e '.[test]'
	touch $@

pytest-%: .venv-%/.installed postgresql
	.venv-$*/bin/python -m pytest --hypothesis-profile=$(HYPOTHESIS_PROFILE) -n $(PYTEST_WORKERS)

# `make test` in .venv-lowest, every dependency at the lower bound pyproject.toml gives it
# (.ci/lowest_requirements.py), so those bounds stay true; its own mypy cache, as mypy
# versions do not share one.
# LOWEST_TARGETS: what runs there (`make test` by default; CI runs `lint typecheck` to
# stay within its 10 minutes, see .ci/run).
LOWEST_TARGETS ?= test
test-lowest:
	MYPY_CACHE_DIR=.venv-lowest/.mypy_cache $(MAKE) $(LOWEST_TARGETS) VENV=.venv-lowest \
		INSTALL_SPEC="-e '.[dev]' $$($(PYTHON) .ci/lowest_requirements.py | tr '\n' ' ')"

bench: $(STAMP) postgresql
	$(BIN)/python bench/run.py

# The documentation site: regenerate the generated pages (lifecycles, errors, OpenAPI,
# decisions), then build the site strictly into site/ (open site/index.html).
docs: $(STAMP)
	$(BIN)/python -m taskcore docs docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# What `make test` runs: the generated pages are current and the site builds strictly (a
# broken link or anchor, a page missing from the nav, a bad reference fails), into a
# temporary folder that is removed afterwards.
docs-check: $(STAMP)
	$(BIN)/python -m taskcore docs docs --check
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$tmp"

# The public API's type completeness as pyright judges it (100% when last checked).  Not
# part of `make test`: pyright needs node and is no dependency of taskcore.  It installs
# taskcore (not editable: pyright reads installed packages) and pyright into a
# temporary venv.
verifytypes:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(PYTHON) -m venv "$$tmp/venv" && \
		"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
			'.[testing,postgres,server]' pyright && \
		cd "$$tmp" && VIRTUAL_ENV="$$tmp/venv" PATH="$$tmp/venv/bin:$$PATH" \
		pyright --verifytypes taskcore --ignoreexternal

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage site
