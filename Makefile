# chmd: `make run` starts the daemon on the example config, `make test` runs the whole suite
# against real servers on 127.0.0.1 (installing them first when missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= etc/chmd.yaml
PYTEST_ARGS ?= --durations=15

.PHONY: run test lint fmt check bench test-deps

# .venv with a Python >= 3.11 (kept if it exists)
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "chmd needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) -V 2>&1)." \
	         "Use: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# chmd installed editable; redone when pyproject.toml changes
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/chmd run -c $(CONFIG)

test-deps:
	scripts/install-test-deps.sh

test: $(VENV)/.installed-test test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: $(VENV)/.installed-run
	$(BIN)/chmd check -c $(CONFIG)

bench: $(VENV)/.installed-test
	scripts/install-test-deps.sh --bench
	@set -e; found=0; \
	for b in bench/bench_*.py; do \
	  [ -e "$$b" ] || continue; found=1; \
	  echo "== $$b"; $(BIN)/python "$$b"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks yet"
