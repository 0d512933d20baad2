# The two commands for a fresh machine: `make demo` and `make test`.
# Both install what they need (Debian's Dovecot when missing, a virtualenv in .venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint deps clean bench

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

# Printed figures, not tests: the issue's sizes plus smaller ones for the growth tables.
# About 10-13 minutes on 2 cores; docs/BENCHMARKS.md holds the latest figures.
bench: deps
	$(BIN)/python bench/backlog.py --sizes 1000,3000,10000
	$(BIN)/python bench/idle_cost.py --sizes 5000,20000,50000
	$(BIN)/python bench/idle_latency.py --sizes 100
	$(BIN)/python bench/organiser.py --sizes 10000,30000,100000
	$(BIN)/python bench/workers.py --sizes 3000 --workers 1,2,4

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist demo-run
