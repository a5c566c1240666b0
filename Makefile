# chmd: `make run` starts the daemon on the example config, `make test` runs the whole suite
# against real servers on 127.0.0.1 (installing them first when missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= etc/chmd.yaml
PYTEST_ARGS ?= --durations=15

.PHONY: run test lint fmt check bench test-deps native

# .venv with a Python >= 3.11 (kept if it exists)
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "chmd needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) -V 2>&1)." \
	         "Use: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# chmd installed editable (with mypy, which builds the compiled hot path); redone when
# pyproject.toml changes
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[native]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

# the hot path compiled with mypyc (chmd/native.py), rebuilt when one of its sources changed;
# `make run` goes on as pure Python where it cannot build (no gcc or Python headers)
NATIVE := $(BIN)/python -m chmd.nativebuild build --if-stale

native: $(VENV)/.installed-run
	$(NATIVE)

run: $(VENV)/.installed-run
	$(NATIVE) --optional
	$(BIN)/chmd run -c $(CONFIG)

test-deps:
	scripts/install-test-deps.sh

# the suite runs on the compiled build (test-deps installs gcc and the Python headers);
# tests/unit/test_native.py reruns the compiled modules' tests on their sources
test: $(VENV)/.installed-test test-deps
	$(NATIVE)
	CHMD_EXPECT_NATIVE=1 $(BIN)/pytest $(PYTEST_ARGS)

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
	$(NATIVE)
	@set -e; found=0; \
	for b in bench/bench_*.py; do \
	  [ -e "$$b" ] || continue; found=1; \
	  echo "== $$b"; $(BIN)/python "$$b"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks yet"
