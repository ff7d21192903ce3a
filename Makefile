# Two commands matter on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test check lint typecheck bench clean system-deps mutate schemas

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,sandbox]'
	touch $(STAMP)

# Debian packages for the real-directory tests (Samba AD DC, OpenLDAP). Needs root.
system-deps:
	bash .ci/install-system-deps

demo: setup
	bash scripts/demo.sh

# Four pytest workers even on two cores: the end-to-end tests mostly wait on their servers
# (Samba, slapd, moto, the Okta emulator, each worker's own), so more workers than cores
# overlap the waits (measured on 2 cores: 17.4 min with 2 workers, 9.4 min with 4).
# worksteal: idle workers take queued tests from busy ones, as durations differ 1000-fold.
# The slowest tests are listed at the end, so CI time is measured, not guessed.
TEST_WORKERS ?= 4
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations 15

lint: setup
	$(BIN)/ruff check engine tests
	$(BIN)/ruff format --check engine tests

typecheck: setup
	$(BIN)/mypy --strict

check: lint typecheck test

# The JSON Schemas are generated from engine/spec_settings.py, engine/spec.py and
# model.OktaAppSettings: edit those, then run this (tests fail on a stale schema file).
schemas: setup
	$(BIN)/python -m engine.spec_schema

bench: setup
	$(BIN)/python -m pytest -q tests/bench -m bench -s

# Mutation testing of the core rules (cosmic-ray), on demand only: not part of test/check/CI.
# MODULES="engine/order.py" limits it; figures in tests/README.md.
mutate: setup
	bash scripts/mutate.sh

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache
