# leadscore developer targets. `make help` lists them.
# The interpreter that creates .venv: python3.11 when present, else python3 (checked to be >= 3.11).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark

.DEFAULT_GOAL := help
.PHONY: help install demo test test-all lint bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "Python 3.11 or newer is needed: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# pip (25 and later) shows a build backend's warnings even with --quiet, and setuptools warns "Editable
# installation." on every editable install of a package-dir layout like ours: information, nothing to act on.
# The filter matches that one message (in pip and in the backend it runs), so any other warning still shows.
PIP_INSTALL := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet

$(STAMP): $(BIN)/python pyproject.toml
	@$(PIP_INSTALL) --upgrade pip
	@$(PIP_INSTALL) -e '.[test]'
	@touch $(STAMP)

# The spark extra (pyspark, about 520 MB) only for the full run: `make test` stays light for newcomers.
$(SPARK_STAMP): $(STAMP)
	@$(PIP_INSTALL) -e '.[test,spark]'
	@touch $(SPARK_STAMP)

install: $(STAMP) ## Create .venv (if missing) and install leadscore with its dependencies

demo: $(STAMP) ## Run the demo end to end: generate -> validate -> train -> score -> report
	$(BIN)/leadscore demo

# CI=true (set by CI) also runs the checks marked slow.
test: $(STAMP) ## Run the test suite (slow checks too when CI=true)
	$(BIN)/python -m pytest -q $(if $(CI),-m '',)

test-all: $(SPARK_STAMP) ## Run every test, the slow and Spark ones too (what CI runs; installs the spark extra)
	$(BIN)/python -m pytest -q -m ''

lint: $(STAMP) ## Lint with ruff
	$(BIN)/ruff check .

bench: $(STAMP) ## Run the benchmarks under bench/ (minutes; prints figures)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

# What the commands leave in the working directory: the demo's folder, the local MLflow store (database, its lock,
# artifacts), the score store (`leadscore score`'s history) and the outputs the README's examples write
# (tests/docs/test_readme.py runs them and checks that this removes everything they left).
EXAMPLE_OUTPUTS := contacts-export contacts-scores.csv scores.csv report.html features.parquet backtest.parquet \
	sqo.parquet rules.csv
clean: ## Remove what the demo and the README's commands leave (outputs, MLflow store, score store)
	rm -rf demo-workspace mlruns mlartifacts mlflow.db mlflow.db.lock leadscore-scores.duckdb \
		leadscore-scores.duckdb.wal $(EXAMPLE_OUTPUTS)
