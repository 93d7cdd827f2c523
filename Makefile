# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project from its own files when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export JAX_PLATFORMS ?= cpu
export PYTHONUNBUFFERED := 1

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[pipeline,dev,tensorboard]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/estimators-pipeline run --config pipelines/iris.yaml --allow-reject

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One markdown table of every benchmark (minutes); `make bench QUICK=1` for a short run.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
