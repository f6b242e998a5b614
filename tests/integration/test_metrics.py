"""Operability on the real stack: one order moves the Prometheus series of the API, of the
order worker and of the indexer (compared before and after, not only present), and every
process says it is ready."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orderflow import config
from orderflow.roles import BY_NAME
from tests.factories import post_order, stock

pytestmark = pytest.mark.stack

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(answer: httpx.Response) -> Scrape:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def sample(scraped: Scrape, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_an_order_moves_the_counters_of_the_api_and_the_order_worker(
    api: httpx.Client, stack: config.Settings, unique: str
):
    worker = f"{stack.worker_url('order')}/metrics/"
    indexer = f"http://{stack.worker_web_host}:{stack.indexer_metrics_port}/metrics"
    placed = {"agent": "order_saga", "event_type": "PlaceOrder"}
    post = {"method": "POST", "route": "/orders", "status": "202"}
    api_before, worker_before = scrape(api.get("/metrics")), scrape(httpx.get(worker, timeout=5))
    indexer_before = scrape(httpx.get(indexer, timeout=5))

    sku = f"METRICS-{unique}"
    assert stock(api, sku, 3).status_code == 200
    order_id = post_order(api, sku, f"metrics-{unique}")
    answer = api.get(f"/orders/{order_id}", params={"wait_for": "COMPLETED", "timeout": 30})
    assert answer.json()["status"] == "COMPLETED", answer.text

    # OrderCompleted is counted once Kafka acknowledged it: the read model may show it first
    deadline = time.monotonic() + 10
    while True:
        worker_after = scrape(httpx.get(worker, timeout=5))
        outcome = sample(worker_after, "orderflow_saga_outcomes_total", outcome="COMPLETED")
        if outcome > sample(worker_before, "orderflow_saga_outcomes_total", outcome="COMPLETED"):
            break
        assert time.monotonic() < deadline, "no COMPLETED outcome counted"
        time.sleep(0.2)
    api_after = scrape(api.get("/metrics"))

    processed = "orderflow_events_processed_total"
    assert (
        sample(worker_after, processed, **placed) >= sample(worker_before, processed, **placed) + 1
    )
    timed = "orderflow_processing_seconds_count"
    assert sample(worker_after, timed, agent="order_saga") > sample(
        worker_before, timed, agent="order_saga"
    )
    # one lag series per partition of every topic the saga reads, none negative
    lag = {
        (dict(labels)["topic"], dict(labels)["partition"]): value
        for (name, labels), value in worker_after.items()
        if name == "orderflow_consumer_lag"
    }
    assert {topic for topic, _ in lag} == set(BY_NAME["order"].inputs), lag
    assert len(lag) == len(BY_NAME["order"].inputs) * stack.partitions
    assert all(value >= 0 for value in lag.values())

    requests = "orderflow_http_requests_total"
    assert sample(api_after, requests, **post) >= sample(api_before, requests, **post) + 1
    accepted = "orderflow_orders_accepted_total"
    assert sample(api_after, accepted) >= sample(api_before, accepted) + 1
    # the order's own path never becomes a label: its template does
    assert all(f"/orders/{order_id}" not in dict(labels).values() for _, labels in api_after)
    by_id = {"method": "GET", "route": "/orders/{order_id}", "status": "200"}
    assert sample(api_after, requests, **by_id) >= sample(api_before, requests, **by_id) + 1

    # the indexer counts what it wrote to Elasticsearch (the read model showed COMPLETED)
    # (counted just after Elasticsearch acknowledged the write, so it may lag the read)
    indexed = {"agent": "indexer", "event_type": "OrderCompleted"}
    deadline = time.monotonic() + 10
    while sample(scrape(httpx.get(indexer, timeout=5)), processed, **indexed) < 1 + sample(
        indexer_before, processed, **indexed
    ):
        assert time.monotonic() < deadline, "the indexer counted no OrderCompleted"
        time.sleep(0.2)


def test_the_api_and_a_worker_are_alive_and_ready(api: httpx.Client, stack: config.Settings):
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["dependencies"] == {
        "kafka": "up",
        "schema_registry": "up",
        "elasticsearch": "up",
    }
    assert api.get("/healthz").status_code == 200

    worker = stack.worker_url("order")
    ready = httpx.get(f"{worker}/readyz/", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["tables"] == "recovered"
    assert ready.json()["dependencies"] == {"kafka": "up", "schema_registry": "up"}
    assert httpx.get(f"{worker}/healthz/", timeout=5).status_code == 200
