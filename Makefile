# One command for everything CI checks: `make check`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install check fmt lint type test bench demo

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

demo:
	$(BIN)/dutydesk --demo
