# Two entry points: `make demo` runs the main job, `make test` runs lint, type check and tests.
# Both create .venv on first use with the project and its dev extras installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all test test-postgres lint typecheck pytest demo bench fuzz clean

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

# Coverage-guided fuzzing of every target in tests/fuzz (atheris), FUZZ_SECONDS per target;
# new inputs accumulate in .fuzz/ so runs build on each other. `make test` runs a few seconds.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS) --work .fuzz $(FUZZ_TARGETS)

bench: $(STAMP)
	$(BIN)/python bench/readers.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/hunt.py
	$(BIN)/python bench/network.py
	$(BIN)/python bench/probes.py
	$(BIN)/python bench/inputs.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .fuzz build src/sentinelle/readers/*.so
