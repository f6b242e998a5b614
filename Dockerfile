# OrderFlow: one image for every process (api, worker, indexer, init, seed, watch).
#
#   docker build -t orderflow .
#   docker run --rm orderflow                  # `orderflow api` (the default command)
#   docker run --rm orderflow orderflow worker
#
# docker-compose.yml runs the whole system from this image; see it for the settings.
#
# Two stages: the first builds a virtualenv in /opt/orderflow, the second copies only that
# virtualenv onto a clean python:3.11-slim, so no pip cache, build tree or compiler ends up in
# the image. Every binary dependency (rocksdict, confluent-kafka, fastavro, aiokafka,
# faust-streaming) has a manylinux wheel for CPython 3.11 on x86_64, so nothing is compiled
# there. On arm64 faust-streaming has no wheel: it installs from its sdist and, with no C
# compiler here, falls back to its pure-Python code paths (slower, same behaviour).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a self-contained virtualenv ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/orderflow
ENV PATH=/opt/orderflow/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml alone: this (slow) layer is rebuilt only when
# pyproject.toml changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (a regular, non-editable install; its dependencies are already in).
COPY README.md ./
COPY orderflow ./orderflow
COPY ops ./ops
COPY schemas ./schemas
COPY streams ./streams
COPY api ./api
COPY indexer ./indexer
RUN pip install --no-deps . \
    && pip check \
    && orderflow --help > /dev/null \
    && python -c "from schemas.catalog import load_catalog; assert load_catalog()"

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="orderflow" \
      org.opencontainers.image.description="OrderFlow: FastAPI ingress, Avro over Kafka, Faust agents, Elasticsearch read model"

# An unprivileged user that owns the state directory. A named volume mounted on
# /var/lib/orderflow starts out with this ownership, so the worker's RocksDB tables and the
# API's idempotency store are writable without running as root.
RUN groupadd --system --gid 10001 orderflow \
    && useradd --system --uid 10001 --gid orderflow --home-dir /var/lib/orderflow \
        --no-create-home --shell /usr/sbin/nologin orderflow \
    && install -d -o orderflow -g orderflow -m 0750 /var/lib/orderflow

COPY --from=build /opt/orderflow /opt/orderflow

# In a container, loopback-only binding would make the API unreachable: listen on all
# interfaces (docker-compose.yml publishes it on the host's 127.0.0.1 only).
# ORDERFLOW_WORKER_WEB_HOST is deliberately not set here: it is both the worker's bind address
# and the host the API calls, so it is set per service in docker-compose.yml.
ENV PATH=/opt/orderflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORDERFLOW_STATE_DIR=/var/lib/orderflow \
    ORDERFLOW_API_HOST=0.0.0.0

USER orderflow
WORKDIR /var/lib/orderflow

# 8000: the HTTP API; 6066: the worker's web server (GET /inventory/{sku}/ for the API).
EXPOSE 8000 6066

CMD ["orderflow", "api"]
