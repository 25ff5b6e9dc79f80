# Infoview — every target a README command. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# One pytest process per core; every process gets its own databases.
PYTEST_WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help install dev run test lint fmt typecheck contract pytest openapi baseline lock migrate fuzz bench job-ask-model clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# Installs are pinned by requirements.lock (made by `make lock`), so a fresh machine gets what
# was tested.
# The contract check's npm packages (the breaking-change diff and the two linters), from their lock file.
CONTRACT_DIR  := openapi/diff
CONTRACT_TOOL := $(CONTRACT_DIR)/node_modules/.package-lock.json

$(CONTRACT_TOOL): $(CONTRACT_DIR)/package.json $(CONTRACT_DIR)/package-lock.json
	npm ci --prefix $(CONTRACT_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# The TypeScript client generators, tsc and the fetch client the walks in tests/test_ts_clients.py
# run on, from their lock file.
CLIENTS_DIR  := tests/clients/ts
CLIENTS_TOOL := $(CLIENTS_DIR)/node_modules/.package-lock.json

$(CLIENTS_TOOL): $(CLIENTS_DIR)/package.json $(CLIENTS_DIR)/package-lock.json
	npm ci --prefix $(CLIENTS_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(PIP) install --quiet -c requirements.lock -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml requirements.lock
	$(PIP) install --quiet -c requirements.lock -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## create .venv and install the service

dev: $(VENV)/.installed-dev ## create .venv and install with the dev tools

lock: dev ## re-resolve requirements.lock from pyproject.toml (keeps pins that still fit; UPGRADE=1 for newest)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --no-header --annotation-style line \
	  $(if $(UPGRADE),--upgrade) -o requirements.lock

migrate: install ## apply the database migrations
	$(BIN)/infoview migrate

run: install ## serve the API on http://127.0.0.1:8000 (SQLite in var/)
	$(BIN)/infoview migrate
	$(BIN)/infoview serve --host $(HOST) --port $(PORT)

lint: dev ## ruff lint and format check
	$(BIN)/ruff check app tests migrations
	$(BIN)/ruff format --check app tests migrations

fmt: dev ## format the code
	$(BIN)/ruff check --fix app tests migrations
	$(BIN)/ruff format app tests migrations

typecheck: dev ## mypy --strict on app/
	$(BIN)/mypy app

contract: dev $(CONTRACT_TOOL) ## the document is the app's, breaks nothing in v1, and both linters pass
	$(BIN)/infoview openapi --check
	node $(CONTRACT_DIR)/breaking.mjs openapi/baseline.json openapi/openapi.json
	node $(CONTRACT_DIR)/lint.mjs openapi/openapi.json
	$(CONTRACT_DIR)/node_modules/.bin/spectral lint --ruleset $(CONTRACT_DIR)/spectral.yaml \
	  --fail-severity hint openapi/openapi.json

# The browser the OAuth consent page is tested in: Debian's chromium and its driver.
BROWSER := /usr/bin/chromedriver

$(BROWSER):
	@command -v apt-get >/dev/null || { echo "chromium and chromium-driver are needed for the consent-page test"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium chromium-driver >/dev/null || \
	  { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q >/dev/null && \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium chromium-driver >/dev/null; }

pytest: dev $(CONTRACT_TOOL) $(CLIENTS_TOOL) $(BROWSER) ## the test suite (SQLite, and PostgreSQL when INFOVIEW_TEST_POSTGRES_URL is set)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck contract pytest ## everything CI runs

openapi: dev ## regenerate openapi/openapi.json
	$(BIN)/infoview openapi

baseline: openapi $(CONTRACT_TOOL) ## make the current document the v1 baseline (a break needs a CHANGELOG entry)
	node $(CONTRACT_DIR)/breaking.mjs --accept CHANGELOG.md openapi/baseline.json openapi/openapi.json

# The job-ask classifier's weights are committed (the image installs without make); the suite
# fails when they no longer match a rebuild from the corpus and the phrasebook.
job-ask-model: dev ## retrain the job-ask classifier from app/letters/data/ (deterministic)
	$(BIN)/python -m app.letters.job_ask_model build

fuzz: dev ## long schemathesis runs, and a long run of the workflow state machine
	INFOVIEW_FUZZ_EXAMPLES=$${INFOVIEW_FUZZ_EXAMPLES:-500} $(BIN)/pytest -m fuzz -p no:cacheprovider tests
	INFOVIEW_STATEFUL_EXAMPLES=$${INFOVIEW_STATEFUL_EXAMPLES:-300} $(BIN)/pytest -p no:cacheprovider tests/interviews/test_workflow_stateful.py

bench: dev ## the benchmark (see bench/README.md): SQLite and PostgreSQL 1 ms away against a peer app; figures and search
	$(BIN)/python -m bench
	$(BIN)/python -m bench.remote
	$(BIN)/python -m bench.insights
	$(BIN)/python -m bench.search

clean: ## remove the virtualenv and caches (keeps var/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(CONTRACT_DIR)/node_modules \
	  $(CLIENTS_DIR)/node_modules
