# reactor-es — every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test demo bench check lint typecheck clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

check: lint typecheck

lint: venv
	$(VENV)/bin/ruff check reactor_es projections tests bench
	$(VENV)/bin/ruff format --check reactor_es projections tests bench

typecheck: venv
	$(VENV)/bin/mypy

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Project-local Kafka broker ($REACTOR_ES_HOME/broker, default .reactor-es/broker).
.PHONY: broker-start broker-stop broker-status

broker-start: venv
	$(VENV)/bin/reactor-es broker start

broker-stop: venv
	$(VENV)/bin/reactor-es broker stop

broker-status: venv
	$(VENV)/bin/reactor-es broker status
