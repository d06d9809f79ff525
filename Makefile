PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test lint typecheck clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/kdtax list --knowledge=mutual-information
	$(BIN)/kdtax train ahn2019-vid

lint: install
	$(BIN)/ruff check kdtaxonomy tests benchmarks tools
	$(BIN)/ruff format --check kdtaxonomy tests benchmarks tools

typecheck: install
	$(BIN)/mypy kdtaxonomy

test: install lint typecheck
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/cli_latency.py
	$(BIN)/python benchmarks/losses.py 2>/dev/null
	$(BIN)/python benchmarks/training_step.py 2>/dev/null
	$(BIN)/python benchmarks/site_build.py

clean:
	rm -rf $(VENV) build dist site .pytest_cache .mypy_cache .ruff_cache
