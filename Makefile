# Two entry points: `make demo` runs the main job, `make test` runs lint, type check and tests.
# Both create .venv on first use with the project and its dev extras installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all test test-postgres lint typecheck pytest demo bench clean

all: test

$(STAMP): pyproject.toml hatch_build.py src/sentinelle/readers/_evtxjson.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench hatch_build.py
	$(BIN)/ruff format --check src tests bench hatch_build.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

# The store tests (marked django_db) on a throwaway PostgreSQL server instead of SQLite.
test-postgres: $(STAMP)
	$(BIN)/pytest -q --postgres -m "django_db or postgres" tests/web tests/service $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/sentinelle demo

bench: $(STAMP)
	$(BIN)/python bench/readers.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/hunt.py
	$(BIN)/python bench/network.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build src/sentinelle/readers/*.so
