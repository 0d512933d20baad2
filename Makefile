# The two commands for a fresh machine: `make demo` and `make test`.
# Both install what they need (Debian's Dovecot when missing, a virtualenv in .venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint deps clean

deps:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/bootstrap.sh

demo: deps
	$(BIN)/python scripts/demo.py

test: deps lint
	$(BIN)/python -m pytest

lint: deps
	$(BIN)/ruff check src tests scripts migrations bench
	$(BIN)/ruff format --check src tests scripts migrations bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist demo-run
