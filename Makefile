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
	@# PyICU orders drive node ids exactly as JavaScript's localeCompare; it builds from
	@# source against the machine's ICU (libicu-dev). Without it a pure-Python key stands in,
	@# exact for ASCII ids (docs/document-models.md).
	$(PY) -m pip install -q 'PyICU==2.17' >/dev/null 2>&1 || \
		echo "note: PyICU could not be built (no ICU headers?); drive node ids beyond ASCII sort approximately"
	touch $(STAMP)

check: lint typecheck

lint: venv
	$(VENV)/bin/ruff check reactor_es projections tests bench
	$(VENV)/bin/ruff format --check reactor_es projections tests bench

typecheck: venv
	$(VENV)/bin/mypy

test: venv
	$(PY) -m pytest

# The main job end to end on a real broker (started and stopped here if none is configured).
# EXPORTS="a.phd b.zip" imports those instead of ../shared/fixtures/phd/dev.
demo: venv
	$(PY) -m reactor_es.demo $(EXPORTS)

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

# Chaos stress: bigger streams, many more SIGKILLs and broker restarts than the default
# run (the tests marked slow). REACTOR_ES_CHAOS_SEED=N replays or varies the chaos.
.PHONY: stress

stress: venv
	$(PY) -m pytest -m slow -rA tests/chaos

# Benchmarks, not part of `make test`: (a) raw aiokafka, (b) reducer loop, (c) the pipeline, on
# one broker in one run; writes bench/results/latest.json and docs/benchmarks.md.
# BENCH_SCALE=small (default, a few minutes) or full; other knobs in bench/run.py.
bench: venv
	$(PY) -m bench.run
