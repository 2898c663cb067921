# Gatehouse: `make run` tries it, `make test` checks it. docs/development.md explains every target.
SHELL := bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
GATEHOUSE := $(BIN)/gatehouse
# Stamps: installs rerun only when the lock files (or pyproject.toml) change, so a second `make run` is quick.
PY_STAMP := $(VENV)/.gatehouse-installed
NODE_STAMP := node_modules/.gatehouse-installed

.PHONY: help install run demo test lint format lock clean

help:
	@echo "make run     install what is missing, migrate, load the demo on the first run, and serve"
	@echo "             http://$(HOST):$(PORT)/ with the background worker (PORT=8765 for another port)"
	@echo "make test    ruff, then pytest on SQLite (with browser tests), then on PostgreSQL (when reachable)"
	@echo "make lint    ruff check and ruff format --check;  make format  fixes what ruff can"
	@echo "make demo    load the demo company into the database (safe to repeat)"
	@echo "make lock    regenerate constraints.txt from a fresh virtual environment"
	@echo "make clean   remove .venv and node_modules (your data in var/ stays)"

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): constraints.txt pyproject.toml
	@scripts/check-tools.sh python "$(PYTHON)" "$(VENV)"
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv $(VENV) \
		|| scripts/check-tools.sh venv-failed "$(PYTHON)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

$(NODE_STAMP): package-lock.json package.json
	@scripts/check-tools.sh node
	npm ci --no-audit --no-fund
	@touch $@

run: install
	$(GATEHOUSE) migrate --no-input
	$(GATEHOUSE) serve --host $(HOST) --port $(PORT) --demo-if-empty

demo: install
	$(GATEHOUSE) migrate --no-input
	$(GATEHOUSE) demo

test: install
	@VENV="$(VENV)" scripts/test.sh

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(PY_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock:
	@scripts/lock.sh "$(PYTHON)"

clean:
	rm -rf $(VENV) node_modules
