# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench deploy-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,gnn,onnx]"
	touch $(STAMP)

## Create .venv, install molops and run the built-in demo (offline; the first run installs ~3 GB
## of packages quietly for several minutes, then the demo takes a few minutes).
demo: $(STAMP)
	$(BIN)/molops demo

## Create .venv, install molops with test and gnn extras and run ruff, mypy and the whole suite.
## Two workers take a test module at a time, in collection order (--dist loadscope): a module's
## fixtures (a Ray cluster, a live service, a trained workspace) are built once, not on each worker,
## and the slowest modules start first (SLOW_FIRST in tests/conftest.py orders the collection).
## (loadgroup no longer groups anything under pytest 9.2: pytest-xdist issue 1386, so the suite
## needs no xdist_group marks.) The 25 slowest tests close the log.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=25

## ruff, its formatting check and the type check (mypy; its settings are in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## Benchmarks print JSON; see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

## Lint and validate every deploy artifact (deploy/check.sh); its tools, pinned in
## deploy/requirements.txt, live in their own .venv-deploy so their pins never touch .venv.
DEPLOY_VENV := .venv-deploy
$(DEPLOY_VENV)/.installed: deploy/requirements.txt
	$(PYTHON) -m venv $(DEPLOY_VENV) || python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r deploy/requirements.txt
	touch $@

## Airflow for the loop's DAG (deploy/airflow), pinned in deploy/airflow/requirements.txt, in its
## own .venv-airflow: its tasks run molops's executable, so Airflow's pins never touch .venv either.
AIRFLOW_VENV := .venv-airflow
$(AIRFLOW_VENV)/.installed: deploy/airflow/requirements.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV) || python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r deploy/airflow/requirements.txt
	$(AIRFLOW_VENV)/bin/python -m pip check
	touch $@

deploy-check: $(DEPLOY_VENV)/.installed $(AIRFLOW_VENV)/.installed
	DEPLOY_VENV=$(DEPLOY_VENV) AIRFLOW_VENV=$(AIRFLOW_VENV) bash deploy/check.sh

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) $(AIRFLOW_VENV) molops-demo .pytest_cache .mypy_cache
