# Delaydesk. `make run` starts the whole product on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DEMO_SEED ?= 42

.PHONY: help install run test test-postgres fuzz bench lint format migrate seed check-deploy clean

help:
	@echo "make run            start web, worker and beat with demo data on http://127.0.0.1:$(PORT)/"
	@echo "make test           run the whole test suite (SQLite; set DATABASE_URL for PostgreSQL)"
	@echo "make test-postgres  run the suite on the local PostgreSQL"
	@echo "make fuzz           schemathesis over every API operation (FUZZ_MAX_EXAMPLES per operation)"
	@echo "make bench          run the benchmarks in bench/ on the local PostgreSQL (see docs/PERFORMANCE.md)"
	@echo "make lint           ruff check, format check and the import layers (lint-imports)"

# The virtualenv is rebuilt when the pinned dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[dev]" -c constraints.txt
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --seed $(DEMO_SEED) --if-empty

run: seed
	@echo ""
	@echo "  Delaydesk is starting on http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins (password: delaydesk-demo): agent, agent2, supervisor, operator, admin"
	@echo "  Carrier webhook: carrier DEMO, secret demo-secret. Ctrl-C stops web, worker and beat."
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONUNBUFFERED=1 honcho start --procfile Procfile --port $(PORT)

# One pytest-xdist worker per core (TEST_WORKERS=0 runs in one process).
TEST_WORKERS ?= auto
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# schemathesis over /api/schema/ (tests/test_schema_fuzz.py, deselected from `make test`).
FUZZ_MAX_EXAMPLES ?= 50
fuzz: install
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) $(PY) -m pytest -m fuzz -p no:cacheprovider tests/test_schema_fuzz.py $(PYTEST_ARGS)

# Benchmarks are scripts, not tests: each prints machine, data size, date and timings.
BENCH_ARGS ?=
bench: install
	@set -e; for script in bench/bench_*.py bench/eta_accuracy.py; do \
	  [ -f "$$script" ] || continue; \
	  echo "== $$script"; $(PY) "$$script" $(BENCH_ARGS); \
	done

# ruff, then the layer contracts of pyproject.toml (docs/ARCHITECTURE.md): apps import downward.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: install
	DELAYDESK_ENV=production SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(60))') \
	ALLOWED_HOSTS=delaydesk.example.com $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf var/broker var/staticfiles .pytest_cache
