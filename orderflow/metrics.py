"""The Prometheus series of every OrderFlow process, in one place. The names are a contract
(dashboards and alerts use them): keep them. Each process (the API, each worker) exposes the
default registry on its web server: the API at `/metrics`, a worker at `/metrics/`.

Series a process never touches are not exported (a labelled series appears with its first
sample), so the API shows no agent series and a worker no HTTP series."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas import statuses

# no `<name>_created` twin of every series: it doubles a scrape and nobody reads it
disable_created_metrics()

# --- agents (streams/runtime.py) -------------------------------------------------------------
EVENTS_PROCESSED = Counter(
    "orderflow_events_processed",
    "Records an agent finished (effects sent, state stored), by the record's event type",
    ["agent", "event_type"],
)
PROCESSING_SECONDS = Histogram(
    "orderflow_processing_seconds",
    "Time from an agent taking a record to finishing it",
    ["agent"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DEAD_LETTERS = Counter(
    "orderflow_dead_letters",
    "Records parked on <topic>.dlq, by consumer, source topic and reason",
    ["consumer", "topic", "reason"],
)
RETIRED = Counter(
    "orderflow_retired",
    "Finished orders' keys deleted from an agent's table after the window (streams/retirement.py)",
    ["table"],
)
SAGA_OUTCOMES = Counter(
    "orderflow_saga_outcomes",
    "Terminal events the order saga sent: COMPLETED or CANCELLED:<reason>",
    ["outcome"],
)
LAG_NAME = "orderflow_consumer_lag"
LAG_HELP = "Records of an assigned partition the worker has not finished (highwater - frontier)"

# --- the API (api/app.py) --------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "orderflow_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "orderflow_http_request_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    # reads may wait (wait_for) up to 60 s
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
ORDERS_ACCEPTED = Counter(
    "orderflow_orders_accepted", "New orders the API produced (202), idempotent repeats aside"
)
UNMATCHED_ROUTE = "unmatched"  # a path no route serves: one label value, not one per path

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """Every series of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)


def saga_outcome(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The outcome label of a terminal order event; None for any other event."""
    if event_type == "OrderCompleted":
        return statuses.COMPLETED
    if event_type == "OrderCancelled":
        return f"{statuses.CANCELLED}:{data.get('reason') or 'UNKNOWN'}"
    return None


def header(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None, name: str) -> str:
    """A Kafka header as text ("" when absent): records carry their event_type in one."""
    if not headers:
        return ""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name:
            return value.decode(errors="replace") if value is not None else ""
    return ""


class AgentMeter:
    """The labelled children of one agent, made once: per record only a dict lookup by event
    type, an increment and an observation."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self._seconds = PROCESSING_SECONDS.labels(agent)
        self._processed: dict[str, Any] = {}

    def finished(self, event_type: str, seconds: float) -> None:
        counter = self._processed.get(event_type)
        if counter is None:
            counter = self._processed[event_type] = EVENTS_PROCESSED.labels(
                self.agent, event_type or "unknown"
            )
        counter.inc()
        self._seconds.observe(seconds)


LagReading = tuple[str, int, int]  # topic, partition, lag


class LagCollector(Collector):
    """`orderflow_consumer_lag{topic, partition}`, computed when scraped from `read`, so
    nothing is paid per record."""

    def __init__(self, read: Callable[[], Iterable[LagReading]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(LAG_NAME, LAG_HELP, labels=["topic", "partition"])
        for topic, partition, lag in self.read():
            family.add_metric([topic, str(partition)], lag)
        yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # no call to `read` at registration (the consumer does not exist yet)
        yield GaugeMetricFamily(LAG_NAME, LAG_HELP, labels=["topic", "partition"])


def register_lag(read: Callable[[], Iterable[LagReading]]) -> LagCollector:
    collector = LagCollector(read)
    REGISTRY.register(collector)
    return collector
