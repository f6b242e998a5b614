"""The customers read model on the real stack (`customers-v1` behind the alias `customers`,
indexer/customers.py): a registered customer's profile from customers.events.v1, its
order count and lifetime value aggregated from the orders index (a cancelled order counts
as an order, not as value; no entry per order in the document); a deactivation; a
customer_id seen only on an order (GUEST); the customer's events in `order-events-v1`.
Elasticsearch refreshes every second, so each expectation is polled for with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch, NotFoundError

from orderflow import config
from tests.factories import accept_order, await_order, order_body, stock

pytestmark = pytest.mark.stack


def await_customer(
    es: Elasticsearch,
    alias: str,
    customer_id: str,
    done: Callable[[dict[str, Any]], bool],
    what: str,
    timeout_s: float = 60,
) -> dict[str, Any]:
    """Poll the customer's document through `alias` until `done(document)`; fail with `what`
    and the last document after timeout_s."""
    deadline = time.monotonic() + timeout_s
    doc: dict[str, Any] | None = None
    while True:
        try:
            doc = dict(es.get(index=alias, id=customer_id)["_source"])
        except NotFoundError:
            doc = None
        if doc is not None and done(doc):
            return doc
        assert time.monotonic() < deadline, f"customer {customer_id} {what}: {doc}"
        time.sleep(0.3)


def _completed(api: httpx.Client, order_id: str) -> dict[str, Any]:
    return await_order(api, order_id, lambda d: d["status"] == "COMPLETED", "never completed")


def test_a_registered_customer_with_a_completed_order_then_deactivated(
    stack: config.Settings, api: httpx.Client, unique: str
):
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    customer_id = f"cix-{unique}"
    registered = api.post(
        "/customers",
        json={
            "customer_id": customer_id,
            "name": "Erin Index",
            "email": f"erin-{unique}@example.com",
            "phone": "+31201234567",
        },
    )
    assert registered.status_code in (200, 202), registered.text
    sku = f"CIX-{unique}"
    assert stock(api, sku, 5, price="3.35").status_code == 200
    order_id = accept_order(api, sku, customer_id, price="3.35", quantity=2)["order_id"]
    order = _completed(api, order_id)
    assert order["total_cents"] == 670

    doc = await_customer(
        es,
        stack.customers_alias,
        customer_id,
        lambda d: (
            d["status"] == "ACTIVE"
            and d["order_count"] == 1
            and d["lifetime_value_cents"] == order["total_cents"]
        ),
        "never showed the profile with one completed order",
    )
    assert doc["name"] == "Erin Index" and doc["email"] == f"erin-{unique}@example.com"
    assert doc["phone"] == "+31201234567" and doc["registered_at"] is not None
    assert doc["lifetime_value"] == "6.70"
    assert doc["lifetime_value_by_currency"] == [
        {"currency": "EUR", "value_cents": 670, "value": "6.70"}
    ]
    assert doc["last_order_at"] == order["created_at"]
    assert "orders" not in doc  # its orders are in the orders index, not in the document
    declined = api.post(
        "/orders",
        json={**order_body(sku, customer_id, "3.35"), "payment": {"scenario": "decline"}},
    )
    assert declined.status_code == 202, declined.text
    await_order(
        api, declined.json()["order_id"], lambda d: d["status"] == "CANCELLED", "not cancelled"
    )
    doc = await_customer(
        es,
        stack.customers_alias,
        customer_id,
        lambda d: d["order_count"] == 2,
        "never counted its cancelled order",
    )
    assert doc["lifetime_value_cents"] == 670  # a cancelled order is no value
    assert [e["event_type"] for e in doc["timeline"]] == ["CustomerRegistered"]
    entry = doc["timeline"][0]
    assert entry["topic"] == "customers.events.v1" and entry["details"]["name"] == "Erin Index"

    off = api.post(f"/customers/{customer_id}/deactivate", json={"reason": "asked to"})
    assert off.status_code in (200, 202), off.text
    doc = await_customer(
        es,
        stack.customers_alias,
        customer_id,
        lambda d: d["status"] == "INACTIVE",
        "never showed INACTIVE after the deactivation",
    )
    assert [e["event_type"] for e in doc["timeline"]] == [
        "CustomerRegistered",
        "CustomerDeactivated",
    ]
    assert doc["timeline"][1]["details"]["reason"] == "asked to"
    assert doc["order_count"] == 2 and doc["lifetime_value_cents"] == 670  # unchanged

    # the customer's own events are in the per-event index too, with its customer_id
    es.indices.refresh(index=stack.events_alias)
    events = es.search(
        index=stack.events_alias, query={"term": {"customer_id": customer_id}}, size=50
    )["hits"]["hits"]
    types = {hit["_source"]["event_type"] for hit in events}
    assert {"CustomerRegistered", "CustomerDeactivated", "OrderPlaced"} <= types, types


def test_a_customer_id_seen_only_on_an_order_is_a_guest(
    stack: config.Settings, api: httpx.Client, unique: str
):
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    guest = f"guest-{unique}"
    sku = f"CIXG-{unique}"
    assert stock(api, sku, 5).status_code == 200
    order_id = accept_order(api, sku, guest)["order_id"]
    order = _completed(api, order_id)
    doc = await_customer(
        es,
        stack.customers_alias,
        guest,
        lambda d: d["lifetime_value_cents"] == order["total_cents"],
        "never showed its completed order",
    )
    assert doc["status"] == "GUEST" and doc["name"] is None and doc["email"] is None
    assert doc["registered_at"] is None and doc["timeline"] == []
    assert doc["order_count"] == 1 and doc["last_order_at"] == order["created_at"]
    assert doc["lifetime_value_cents"] == order["total_cents"] == 420
