# One command to run the pipeline, one to test it; both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := $(BIN)/uv --no-config
EMULATOR_PORT ?= 8900
export EMULATOR_PORT

.PHONY: install run cluster test unit lint emulator lock ddl bench clean

# uv installs the lock's exact versions as pip would, in a third of the time (compiling every module, as pip does:
# the cluster's processes start at once and would each compile what they import first).
$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.txt -c requirements.lock
	$(UV) pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install  ## emulator + Airflow (standalone) with the DAGs, on embedded defaults
	include/scripts/run_local.sh

cluster: install  ## the production shape without Docker: CeleryExecutor, two workers, PostgreSQL + Redis of this machine
	include/scripts/run_cluster.sh

# Three workers on two cores: the suite's tests often wait (rate limits, database servers, subprocesses), and a third
# worker fills those gaps (suite 510 s against 551-616 s with two, on this 2-core machine the same day).
test: install  ## every test: unit, emulator over HTTP, Airflow dag.test() in three workers, then the Celery cluster test alone
	$(BIN)/python -m pytest -m "not cluster" -n 3 --dist worksteal --durations=15
	$(BIN)/python -m pytest -m cluster

unit: install
	$(BIN)/python -m pytest -m unit

lint: install  ## ruff, including Airflow 3 (AIR3) rules
	$(BIN)/ruff check .

emulator: install  ## the SP-API emulator alone, in the foreground
	$(BIN)/python -m amazon_channel.emulator --port $(EMULATOR_PORT)

bench: install  ## benchmarks (not part of test): writes tests/benchmarks/results.md and results.png
	$(BIN)/python -m tests.benchmarks

lock: install  ## re-pin requirements.lock to what is installed (after a tested upgrade)
	$(BIN)/pip freeze --exclude-editable | grep -v '^amazon-channel' > requirements.lock

ddl: install  ## regenerate the reviewed DDL under sql/ from the schema definition
	$(BIN)/python -m amazon_channel.commerce.ddl sql

clean:
	rm -rf $(VENV) .airflow .cluster .pytest_cache
