# Two commands for a fresh machine:  make run  (the whole system, locally)  and  make test  (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := $(sort $(patsubst services/%/pyproject.toml,%,$(wildcard services/*/pyproject.toml)))

.PHONY: install run test bench

$(BIN)/.installed: requirements.txt requirements-dev.txt $(wildcard services/*/pyproject.toml) libs/loket/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e libs/loket $(addprefix -e services/,$(SERVICES))
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python scripts/run_local.py

test: install
	scripts/ensure_infra.sh
	$(BIN)/pytest

bench: install
	scripts/ensure_infra.sh
	$(BIN)/python bench/outbox_relay.py
