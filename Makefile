# OrderFlow: `make run` and `make test` are all a newcomer needs (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run up down wipe test bench crash cluster unit integration lint deps tools helm status clean

# BROKERS=3: Kafka as a cluster of three nodes, three copies of every topic (docs/scaling.md)
BROKERS_FLAG = $(if $(BROKERS),--brokers $(BROKERS))

run: deps  ## set up and run everything in the foreground (Ctrl-C stops it)
	$(PY) -m ops.cli up --foreground $(BROKERS_FLAG)

up: deps  ## the same, in the background
	$(PY) -m ops.cli up $(BROKERS_FLAG)

down:  ## stop OrderFlow's processes and the servers (data is kept)
	@if [ -x $(PY) ]; then $(PY) -m ops.cli down; else bash infra/stack.sh down; fi

wipe: down  ## delete all data (topics, schemas, indices, tables); downloads stay cached
	bash infra/stack.sh wipe
	rm -rf .stack/data/orderflow

status:
	bash infra/stack.sh status

test: deps lint  ## every test: unit, then integration and end-to-end on the real stack
	$(PY) -m pytest
	ORDERFLOW_BROKERS=3 $(PY) -m pytest -s tests/cluster

cluster: deps  ## the tests on a local Kafka cluster of three nodes (a broker killed under load)
	ORDERFLOW_BROKERS=3 $(PY) -m pytest -s tests/cluster

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

tools: helm  ## Java artifacts (Maven cache), Debian tools (compose, chromium) and Helm
	bash infra/stack.sh fetch
	@missing=""; \
	  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || \
	    missing="$$missing docker-compose"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; fi

# Helm, for the chart's tests (tests/unit/test_helm_chart.py renders deploy/orderflow): built
# from the Go module proxy into a cache outside the repository, once per version (cold: 2-5
# minutes on a 2-core machine; then this is a version check). Without Go it is skipped here and
# the chart's tests skip, or fail under CI=true.
HELM_VERSION := v3.22.0
TOOLS_BIN := $(HOME)/.cache/orderflow/bin
GO ?= $(firstword $(shell command -v go) /usr/local/go/bin/go)
# What Helm's own release build stamps in: its version, and the Kubernetes version of the
# client-go it is built with (v0.37 for v3.22: Kubernetes 1.37), which `helm template` and
# `helm lint` assume. Unstamped, they would say v3.22 and assume Kubernetes 1.20.
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
  $(foreach pkg,pkg/chartutil pkg/lint/rules,\
    -X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/$(pkg).k8sVersionMinor=37)

helm:  ## Helm $(HELM_VERSION) into ~/.cache/orderflow/bin (from the Go module proxy)
	@if [ "$$($(TOOLS_BIN)/helm version --template '{{.Version}}' 2>/dev/null)" = "$(HELM_VERSION)" ]; then \
	  :; \
	elif [ ! -x "$(GO)" ]; then \
	  echo "no Go toolchain ($(GO)): helm not built; the chart's tests will skip (fail under CI=true)" >&2; \
	else \
	  echo "building helm $(HELM_VERSION) into $(TOOLS_BIN) (once)"; \
	  GOBIN=$(TOOLS_BIN) GOFLAGS=-buildvcs=false $(GO) install -ldflags '$(HELM_LDFLAGS)' \
	    helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
