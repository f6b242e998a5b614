"""One order from POST to its Elasticsearch timeline, on the real stack: API -> Kafka (Avro)
-> Faust agents (RocksDB tables) -> indexer -> Elasticsearch."""

from __future__ import annotations

import time

import httpx
import pytest
from elasticsearch import Elasticsearch

from orderflow import config

pytestmark = pytest.mark.stack

HAPPY_PATH = [
    "OrderPlaced",
    "StockReserved",
    "PaymentAuthorized",
    "OrderConfirmed",
    "FulfillmentScheduled",
]


def _order(sku: str, quantity: int, scenario: str = "approve", customer: str = "e2e") -> dict:
    return {
        "customer_id": customer,
        "customer_email": "e2e@example.com",
        "currency": "EUR",
        "items": [{"sku": sku, "quantity": quantity, "unit_price": "12.34"}],
        "shipping_address": {"country": "DE", "city": "Berlin"},
        "payment": {"method": "card", "scenario": scenario},
    }


def _stock(api: httpx.Client, sku: str, on_hand: int) -> dict:
    answer = api.put(f"/inventory/{sku}", json={"on_hand": on_hand})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _place(api: httpx.Client, body: dict) -> dict:
    answer = api.post("/orders", json=body)
    assert answer.status_code == 202, answer.text
    accepted = dict(answer.json())
    assert answer.headers["Location"] == f"/orders/{accepted['order_id']}"
    assert answer.headers["X-Correlation-ID"] == accepted["correlation_id"]
    return accepted


def _await(api: httpx.Client, order_id: str, status: str, event_count: int) -> dict:
    """Wait until the read model shows the status and the whole timeline (the indexer may
    write the status before the last notification-type events)."""
    deadline = time.monotonic() + 60
    while True:
        answer = api.get(f"/orders/{order_id}", params={"wait_for": status, "timeout": 10})
        if answer.status_code == 200:
            doc = dict(answer.json())
            if doc["status"] == status and len(doc["timeline"]) >= event_count:
                return doc
        assert time.monotonic() < deadline, f"order {order_id}: {answer.status_code} {answer.text}"
        time.sleep(0.2)


def test_in_stock_order_reaches_fulfillment_with_its_timeline(
    api: httpx.Client, stack: config.Settings, unique: str
):
    sku = f"E2E-{unique}"
    assert api.get(f"/inventory/{sku}").status_code == 404
    assert _stock(api, sku, 5) == {"sku": sku, "on_hand": 5, "reserved": 0, "available": 5}
    accepted = _place(api, _order(sku, 2))

    doc = _await(api, accepted["order_id"], "FULFILLMENT_SCHEDULED", len(HAPPY_PATH))
    assert [e["event_type"] for e in doc["timeline"]] == HAPPY_PATH
    assert {e["correlation_id"] for e in doc["timeline"]} == {accepted["correlation_id"]}
    assert len({e["event_id"] for e in doc["timeline"]}) == len(HAPPY_PATH)
    assert doc["total_amount"] == "24.68" and doc["customer_id"] == "e2e"
    assert doc["items"] == [{"sku": sku, "quantity": 2, "unit_price": "12.34"}]
    occurred = [e["occurred_at"] for e in doc["timeline"]]
    assert occurred == sorted(occurred)
    # each event was caused by the one before it in the saga
    by_id = {e["event_id"]: e for e in doc["timeline"]}
    for entry in doc["timeline"][1:]:
        assert entry["causation_id"] is not None

    # the same document, straight from Elasticsearch through the alias
    es = Elasticsearch(stack.elasticsearch_url)
    source = es.get(index="orders", id=accepted["order_id"])["_source"]
    assert source["status"] == "FULFILLMENT_SCHEDULED" and len(source["timeline"]) == len(by_id)
    assert es.indices.get_alias(name="orders").body.keys() == {"orders-v1"}

    # the stock stays held for the order
    stock = api.get(f"/inventory/{sku}").json()
    assert stock == {"sku": sku, "on_hand": 5, "reserved": 2, "available": 3}
    timeline = api.get(f"/orders/{accepted['order_id']}/timeline").json()
    assert [e["event_type"] for e in timeline["timeline"]] == HAPPY_PATH


def test_out_of_stock_order_is_cancelled_and_holds_nothing(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 1)
    accepted = _place(api, _order(sku, 3))
    doc = _await(api, accepted["order_id"], "CANCELLED", 3)
    assert doc["cancel_reason"] == "OUT_OF_STOCK"
    assert [e["event_type"] for e in doc["timeline"]] == [
        "OrderPlaced",
        "StockRejected",
        "OrderCancelled",
    ]
    assert api.get(f"/inventory/{sku}").json()["reserved"] == 0


def test_unknown_sku_is_cancelled_as_unknown(api: httpx.Client, unique: str):
    accepted = _place(api, _order(f"NEVER-STOCKED-{unique}", 1))
    doc = _await(api, accepted["order_id"], "CANCELLED", 3)
    assert doc["cancel_reason"] == "UNKNOWN_SKU"


def test_declined_payment_releases_the_stock(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 4)
    accepted = _place(api, _order(sku, 4, scenario="decline"))
    doc = _await(api, accepted["order_id"], "CANCELLED", 5)
    assert doc["cancel_reason"] == "PAYMENT_DECLINED"
    assert [e["event_type"] for e in doc["timeline"]] == [
        "OrderPlaced",
        "StockReserved",
        "PaymentDeclined",
        "OrderCancelled",
        "StockReleased",
    ]
    deadline = time.monotonic() + 10
    while api.get(f"/inventory/{sku}").json()["reserved"] != 0:
        assert time.monotonic() < deadline, "the declined order's units were never released"
        time.sleep(0.1)


def test_stock_cannot_be_set_below_what_is_reserved(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 3)
    accepted = _place(api, _order(sku, 3))
    _await(api, accepted["order_id"], "FULFILLMENT_SCHEDULED", len(HAPPY_PATH))
    refused = api.put(f"/inventory/{sku}", json={"on_hand": 2})
    assert refused.status_code == 409 and "reserved" in refused.text
    assert api.get(f"/inventory/{sku}").json()["on_hand"] == 3


def test_unknown_order_is_404(api: httpx.Client):
    assert api.get("/orders/00000000-0000-0000-0000-000000000000").status_code == 404
