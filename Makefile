# One command for everything CI checks: `make check`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install check fmt lint type test bench demo constraints

install:
	python3 -m venv $(VENV)
	$(BIN)/pip install -e ".[test]"

fmt:
	$(BIN)/ruff format .

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

type:
	$(BIN)/mypy

test:
	$(BIN)/pytest

check: lint type test

bench:
	$(BIN)/python -m bench.incidents
	$(BIN)/python -m bench.contacts
	$(BIN)/python -m bench.gridcheck
	$(BIN)/python -m bench.mobilize
	$(BIN)/python -m bench.uplink
	$(BIN)/python -m bench.sitreps
	$(BIN)/python -m bench.warnings
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.console

demo:
	$(BIN)/dutydesk --demo

# constraints.txt: the exact versions CI installs (.ci/run: pip install -c constraints.txt).
# Refresh it on purpose (a new Textual, say), then run the tests and review the snapshots:
# a fresh virtual environment in a temporary directory, the test install, its freeze.
constraints:
	@tmp="$$(mktemp -d)" && trap 'rm -rf "$$tmp"' EXIT && \
	python3 -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip && \
	"$$tmp/venv/bin/pip" install --quiet -e ".[test]" && \
	{ echo "# Exact versions of what 'pip install -e \".[test]\"' installs; CI installs with -c."; \
	  echo "# Written by 'make constraints' (do not edit by hand); pyproject keeps lower bounds."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable; } > constraints.txt.new && \
	mv constraints.txt.new constraints.txt && echo "constraints.txt: $$(grep -vc '^#' constraints.txt) packages"
