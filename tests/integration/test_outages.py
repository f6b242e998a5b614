"""Outages of Kafka and of the schema registry are waited out and caught up: nothing accepted
is lost, nothing crashes, and what could not happen meanwhile happens once the server is back.
(Elasticsearch's outage: test_read_model.py.)"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from ops import services
from orderflow import config
from tests.conftest import FAST
from tests.factories import accept_order, await_order, order_body, post_order, stock

pytestmark = pytest.mark.stack

NOTIFIED = 6  # placed, confirmed, scheduled, shipped, delivered, completed


def _completed(doc: dict[str, Any]) -> bool:
    return doc["status"] == "COMPLETED"


def _confirmed(doc: dict[str, Any]) -> bool:
    return doc["status"] == "CONFIRMED"


def _notifications(doc: dict[str, Any]) -> int:
    return sum(1 for e in doc["timeline"] if e["event_type"] == "NotificationSent")


def _post_when_back(api: httpx.Client, sku: str, customer: str, timeout_s: float = 60) -> str:
    """A broker that just came back may not lead its partitions yet: the API answers 503
    (nothing accepted) until it does."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = api.post("/orders", json=order_body(sku, customer, "2.50"))
        if answer.status_code == 202:
            return str(answer.json()["order_id"])
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, f"Kafka did not come back: {answer.text}"
        time.sleep(1)


def test_a_kafka_outage_is_waited_out(stack: config.Settings, api: httpx.Client, unique: str):
    sku = f"KO-{unique}"
    assert stock(api, sku, 100, price="2.50").status_code == 200
    # accepted (in Kafka) and on their way through the saga when the broker goes
    in_flight = [post_order(api, sku, f"ko-{unique}-{n}", price="2.50") for n in range(5)]
    services.stack("down", "kafka")
    try:
        started = time.monotonic()
        refused = api.post("/orders", json=order_body(sku, f"ko-{unique}-refused", "2.50"))
        assert refused.status_code == 503, refused.text  # said at once, not a hang
        assert time.monotonic() - started < 15
        time.sleep(5)  # the workers, the indexer and the API keep trying meanwhile
    finally:
        services.stack("up", "kafka")
    after = [_post_when_back(api, sku, f"ko-{unique}-after-{n}") for n in range(3)]
    for order_id in in_flight + after:
        await_order(api, order_id, _completed, "did not complete after the Kafka outage", 180)
    assert all(services.pid_of(name) for name in services.NAMES), "a process died"
    services.wait_ready(stack)


def test_a_registry_outage_is_waited_out(stack: config.Settings, api: httpx.Client, unique: str):
    sku = f"RO-{unique}"
    assert stock(api, sku, 100, price="2.50").status_code == 200
    warm = post_order(api, sku, f"ro-{unique}-warm", price="2.50")  # every cache holds its ids
    await_order(api, warm, lambda d: _notifications(d) == NOTIFIED, "never notified", 90)
    services.stack("down", "registry")
    try:
        # a worker (re)started during the outage has no schema cached: it cannot decode yet
        services.kill("worker-fulfillment")
        services.start("worker-fulfillment", env=FAST)
        during = accept_order(api, sku, f"ro-{unique}-during", price="2.50")["order_id"]
        # the saga's workers have what they need cached: the order is confirmed meanwhile
        await_order(api, during, _confirmed, "not confirmed during the outage", 90)
        time.sleep(3)
        doc = api.get(f"/orders/{during}").json()
        assert doc["status"] == "CONFIRMED", "scheduled without the registry?"
        assert services.pid_of("worker-fulfillment"), "the fulfillment worker gave up"
    finally:
        services.stack("up", "registry")
    # the fulfillment worker was waiting (backoff capped at 10 s): it catches up, and the
    # order goes on to the end with every notification
    doc = await_order(api, during, _completed, "did not complete after the registry outage", 90)
    doc = await_order(api, during, lambda d: _notifications(d) == NOTIFIED, "never notified", 30)
    assert _notifications(doc) == NOTIFIED
    services.wait_ready(stack)
