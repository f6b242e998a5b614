# OrderFlow: `make run` and `make test` are all a newcomer needs (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run up down wipe test bench crash unit integration lint deps tools status clean

run: deps  ## set up and run everything in the foreground (Ctrl-C stops it)
	$(PY) -m ops.cli up --foreground

up: deps  ## the same, in the background
	$(PY) -m ops.cli up

down:  ## stop OrderFlow's processes and the servers (data is kept)
	@if [ -x $(PY) ]; then $(PY) -m ops.cli down; else bash infra/stack.sh down; fi

wipe: down  ## delete all data (topics, schemas, indices, tables); downloads stay cached
	bash infra/stack.sh wipe
	rm -rf .stack/data/orderflow

status:
	bash infra/stack.sh status

test: deps lint  ## every test: unit, then integration and end-to-end on the real stack
	$(PY) -m pytest

bench: deps  ## benchmark: broker baseline, highest sustainable orders/s, latency (BENCHMARKS.md)
	$(PY) -m ops.cli bench

crash: deps  ## the crash test alone: 2000 orders while every worker is SIGKILLed (docs/saga.md)
	$(PY) -m pytest -m crash -s tests/integration/test_crash.py

unit: deps
	$(PY) -m pytest tests/unit

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

deps: $(STAMP) tools

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

tools:  ## Java artifacts (Maven cache) and Debian tools the stack and tests use (compose, chromium)
	bash infra/stack.sh fetch
	@missing=""; \
	  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || \
	    missing="$$missing docker-compose"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
