# Delaydesk. `make run` starts the whole product on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DEMO_SEED ?= 42

.PHONY: help install run prod-local prod-manage test test-postgres fuzz bench lint audit format migrate seed check-deploy clean

help:
	@echo "make run            start web, worker and beat with demo data on http://127.0.0.1:$(PORT)/"
	@echo "make prod-local     the production stack (gunicorn, 2 workers, beat) on PostgreSQL and Redis"
	@echo "make test           run the whole test suite (SQLite; set DATABASE_URL for PostgreSQL)"
	@echo "make test-postgres  run the suite on the local PostgreSQL"
	@echo "make fuzz           schemathesis over every API operation (FUZZ_MAX_EXAMPLES per operation)"
	@echo "make bench          run the benchmarks in bench/ on the local PostgreSQL (see docs/PERFORMANCE.md)"
	@echo "make lint           ruff check, format check and the import layers (lint-imports)"
	@echo "make audit          bandit over the code, pip-audit over the installed packages (docs/SECURITY.md)"
	@echo "make screenshots    the README's screenshots (docs/screenshots/) from a throwaway demo database"

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

# The production stack on this machine (README, "Production stack on this machine"): production
# settings (DELAYDESK_ENV=production, DEBUG off) on the local PostgreSQL and Redis, gunicorn with
# several workers, two Celery workers and beat (Procfile.prod). Plain HTTP on loopback: no HTTPS
# redirect and no HSTS (which would pin the browser to https://127.0.0.1 for a year). The
# database is created if missing and migrated first; Ctrl-C stops every process.
# RabbitMQ instead of Redis: make prod-local PROD_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//
PROD_DB ?= delaydesk_prod_local
PROD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/$(PROD_DB)
PROD_BROKER_URL ?= redis://127.0.0.1:6379/0
PROD_CACHE_URL ?= redis://127.0.0.1:6379/1
PROD_EMAIL_BACKEND ?= django.core.mail.backends.console.EmailBackend
PROD_SECRET_FILE ?= var/prod-local.secret
PROD_DEMO ?= 0
define PROD_CREATEDB
import os, dj_database_url, psycopg
from psycopg import sql
db = dj_database_url.parse(os.environ["DATABASE_URL"])
server = dict(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None, password=db["PASSWORD"] or None)
with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        print(f"created database {db['NAME']}")
endef
export PROD_CREATEDB
PROD_ENV = DELAYDESK_ENV=production DEBUG=false SECRET_KEY="$$(cat $(PROD_SECRET_FILE))" \
	ALLOWED_HOSTS=127.0.0.1,localhost SITE_URL=http://localhost:$(PORT) \
	DATABASE_URL=$(PROD_DATABASE_URL) CELERY_BROKER_URL=$(PROD_BROKER_URL) CACHE_URL=$(PROD_CACHE_URL) \
	SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0 EMAIL_BACKEND=$(PROD_EMAIL_BACKEND)

# Made once: sessions and links survive a restart.
$(PROD_SECRET_FILE):
	@mkdir -p $(dir $@) && (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(60))' > $@)

prod-local: install $(PROD_SECRET_FILE)
	$(PROD_ENV) $(PY) -c "$$PROD_CREATEDB"
	$(PROD_ENV) $(PY) manage.py migrate --noinput
	$(PROD_ENV) $(PY) manage.py collectstatic --noinput -v0
	@if [ "$(PROD_DEMO)" = 1 ]; then $(PROD_ENV) $(PY) manage.py seed_demo --seed $(DEMO_SEED) --if-empty; fi
	@echo ""
	@echo "  Delaydesk (production settings) is starting on http://localhost:$(PORT)/"
	@echo "  Database $(PROD_DATABASE_URL), broker $(PROD_BROKER_URL), cache $(PROD_CACHE_URL)."
	@echo "  Logins: make prod-local PROD_DEMO=1 seeds the demo users (password delaydesk-demo), or"
	@echo "  make prod-manage ARGS=createsuperuser. Ctrl-C stops web, both workers and beat."
	@echo ""
	$(PROD_ENV) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONUNBUFFERED=1 \
	  honcho start --procfile Procfile.prod --port $(PORT)

# A manage.py command with the settings of prod-local, e.g. make prod-manage ARGS=createsuperuser
prod-manage: install $(PROD_SECRET_FILE)
	$(PROD_ENV) $(PY) manage.py $(ARGS)

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

# Security scanning (docs/SECURITY.md). bandit: medium and high severity findings fail
# ([tool.bandit] in pyproject.toml says what it reads); a justified one has `# nosec BXXX  # why`.
# pip-audit: every package installed in the virtualenv against PyPI's vulnerability data; --strict
# fails on a package it could not check. It needs PyPI's per-release JSON API
# (https://pypi.org/pypi/NAME/VERSION/json): when that does not answer, the dependencies are not
# audited and the target says so and fails, unless AUDIT_OFFLINE=warn (then it says so and goes on).
AUDIT_OFFLINE ?= fail
define AUDIT_PROBE
import importlib.metadata, sys, urllib.request
url = "https://pypi.org/pypi/django/%s/json" % importlib.metadata.version("django")
try:
    urllib.request.urlopen(url, timeout=20)
except Exception as error:
    sys.exit(f"  {url}: {error}")
endef
export AUDIT_PROBE
audit: install
	@echo "== bandit (severity medium and high)"
	@# bandit warns once per AST node under a justified line ("nosec encountered"): not shown.
	$(VENV)/bin/bandit -c pyproject.toml -r . -ll -q 2> >(grep -v "nosec encountered" >&2)
	@echo "bandit: no medium or high finding"
	@echo "== pip-audit (the packages installed in $(VENV))"
	@if $(PY) -c "$$AUDIT_PROBE"; then \
	  $(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off; \
	else \
	  echo "pip-audit: PyPI's vulnerability data (its per-release JSON API) does not answer from"; \
	  echo "this machine: the installed packages were NOT audited for known vulnerabilities."; \
	  if [ "$(AUDIT_OFFLINE)" = warn ]; then echo "(AUDIT_OFFLINE=warn: going on)"; else exit 1; fi; \
	fi

# The README's screenshots: seeds the demo into var/screenshots/ (a throwaway SQLite database),
# serves it with gunicorn on a free loopback port and photographs the pages with Playwright and
# Debian's chromium into docs/screenshots/ (scripts/screenshots.py).
.PHONY: screenshots
screenshots: install
	$(PY) scripts/screenshots.py --seed $(DEMO_SEED)

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: install
	DELAYDESK_ENV=production SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(60))') \
	ALLOWED_HOSTS=delaydesk.example.com $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf var/broker var/staticfiles .pytest_cache
