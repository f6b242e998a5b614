"""One order from POST to its Elasticsearch timeline, on the real stack: API -> Kafka (Avro)
-> Faust agents (RocksDB tables) -> indexer -> Elasticsearch."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
from elasticsearch import Elasticsearch

from orderflow import config
from tests.factories import stock

pytestmark = pytest.mark.stack

HAPPY_PATH = [
    "OrderPlaced",
    "StockReserved",
    "PaymentAuthorized",
    "OrderConfirmed",
    "FulfillmentScheduled",
    "OrderShipped",
    "StockShipped",
    "OrderDelivered",
    "OrderCompleted",
]
TERMINAL = {"COMPLETED", "CANCELLED"}
PRICED = {"unit_price": "12.34", "currency": "EUR"}  # what _stock sets and _order pays
NOTIFIED = [
    "OrderPlaced",
    "OrderConfirmed",
    "FulfillmentScheduled",
    "OrderShipped",
    "OrderDelivered",
    "OrderCompleted",
]


def lifecycle(doc: dict) -> list[str]:
    """The timeline's event types without the notifications (checked on their own)."""
    return [e["event_type"] for e in doc["timeline"] if e["event_type"] != "NotificationSent"]


def notified(doc: dict) -> list[str]:
    return sorted(
        e["details"]["template"] for e in doc["timeline"] if e["event_type"] == "NotificationSent"
    )


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
    answer = stock(api, sku, on_hand, price="12.34")
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
            assert doc["status"] not in TERMINAL - {status}, f"order {order_id} is {doc['status']}"
        assert time.monotonic() < deadline, f"order {order_id}: {answer.status_code} {answer.text}"
        time.sleep(0.2)


def test_in_stock_order_completes_with_its_timeline(
    api: httpx.Client, stack: config.Settings, unique: str
):
    sku = f"E2E-{unique}"
    assert api.get(f"/inventory/{sku}").status_code == 404
    assert _stock(api, sku, 5) == {
        "sku": sku,
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        **PRICED,
    }
    accepted = _place(api, _order(sku, 2))

    doc = _await(api, accepted["order_id"], "COMPLETED", len(HAPPY_PATH) + len(NOTIFIED))
    assert set(lifecycle(doc)) == set(HAPPY_PATH) and len(lifecycle(doc)) == len(HAPPY_PATH)
    assert lifecycle(doc)[:5] == HAPPY_PATH[:5]  # causal order up to the carrier
    assert notified(doc) == sorted(NOTIFIED)
    assert {e["correlation_id"] for e in doc["timeline"]} == {accepted["correlation_id"]}
    assert len({e["event_id"] for e in doc["timeline"]}) == len(doc["timeline"])
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
    assert source["status"] == "COMPLETED" and len(source["timeline"]) == len(by_id)
    (index,) = es.indices.get_alias(name="orders").body  # orders-v1 (or a rebuild of it)
    assert index == stack.orders_index or index.startswith(f"{stack.orders_index}-")

    # shipping took the units out of the warehouse
    stock = api.get(f"/inventory/{sku}").json()
    assert stock == {"sku": sku, "on_hand": 3, "reserved": 0, "available": 3, **PRICED}
    timeline = api.get(f"/orders/{accepted['order_id']}/timeline").json()
    assert [e["event_id"] for e in timeline["timeline"]] == [e["event_id"] for e in doc["timeline"]]
    assert timeline["timeline"] == doc["timeline"]


def test_out_of_stock_order_is_cancelled_and_holds_nothing(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 1)
    accepted = _place(api, _order(sku, 3))
    doc = _await(api, accepted["order_id"], "CANCELLED", 5)
    assert doc["cancel_reason"] == "OUT_OF_STOCK"
    assert lifecycle(doc) == ["OrderPlaced", "StockRejected", "OrderCancelled"]
    assert notified(doc) == ["OrderCancelled", "OrderPlaced"]
    assert api.get(f"/inventory/{sku}").json()["reserved"] == 0


def test_unknown_sku_is_cancelled_as_unknown(api: httpx.Client, unique: str):
    accepted = _place(api, _order(f"NEVER-STOCKED-{unique}", 1))
    doc = _await(api, accepted["order_id"], "CANCELLED", 5)
    assert doc["cancel_reason"] == "UNKNOWN_SKU"


def test_declined_payment_releases_the_stock(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 4)
    accepted = _place(api, _order(sku, 4, scenario="decline"))
    doc = _await(api, accepted["order_id"], "CANCELLED", 7)
    assert doc["cancel_reason"] == "PAYMENT_DECLINED"
    assert lifecycle(doc) == [
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
    accepted = _place(api, _order(sku, 3, scenario="error"))  # retried: holds the stock a while
    deadline = time.monotonic() + 10
    while api.get(f"/inventory/{sku}").json()["reserved"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    refused = stock(api, sku, 2, price="12.34")
    assert refused.status_code == 409 and "reserved" in refused.text
    assert api.get(f"/inventory/{sku}").json()["on_hand"] == 3
    doc = _await(api, accepted["order_id"], "CANCELLED", 5)
    assert doc["cancel_reason"] == "PAYMENT_DECLINED"
    payment = next(e for e in doc["timeline"] if e["event_type"] == "PaymentDeclined")
    assert payment["details"]["code"] == "GATEWAY_ERROR" and payment["details"]["attempts"] == 4


def test_unknown_order_is_404(api: httpx.Client):
    assert api.get("/orders/00000000-0000-0000-0000-000000000000").status_code == 404


def test_customer_cancel_before_shipment_releases_and_refunds(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 2)
    accepted = _place(api, _order(sku, 2))
    order_id = accepted["order_id"]
    _await(api, order_id, "FULFILLMENT_SCHEDULED", 5)  # the test carrier ships 3 s later
    answer = api.post(f"/orders/{order_id}/cancel")
    assert answer.status_code in (200, 202), answer.text
    doc = _await(api, order_id, "CANCELLED", 6)
    assert doc["cancel_reason"] == "CUSTOMER_REQUEST"
    assert "PaymentRefunded" in lifecycle(doc) and "StockReleased" in lifecycle(doc)
    assert api.post(f"/orders/{order_id}/cancel").status_code == 409
    assert api.get(f"/inventory/{sku}").json() == {
        "sku": sku,
        "on_hand": 2,
        "reserved": 0,
        "available": 2,
        **PRICED,
    }


def test_cancel_after_delivery_is_refused(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 1)
    accepted = _place(api, _order(sku, 1))
    _await(api, accepted["order_id"], "COMPLETED", len(HAPPY_PATH))
    answer = api.post(f"/orders/{accepted['order_id']}/cancel")
    assert answer.status_code == 409 and "too late" in answer.text


def test_adjustments_add_to_stock(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 5)
    answer = api.post(f"/inventory/{sku}/adjustments", json={"delta": -2})
    assert answer.status_code == 200 and answer.json()["on_hand"] == 3
    assert api.post(f"/inventory/{sku}/adjustments", json={"delta": -4}).status_code == 409


def _live(api: httpx.Client) -> dict[str, tuple[int, Decimal]]:
    """Orders and revenue per minute of the last three (a minute may turn during the test).
    Revenue stays exact: as floats, 4657.1 + 12.34 > 4669.44."""
    minutes = api.get("/analytics/live", params={"minutes": 3}).json()["minutes"]
    return {m["minute"]: (int(m["orders"]), Decimal(m["revenue"])) for m in minutes}


def test_live_analytics_count_this_minute(api: httpx.Client, unique: str):
    sku = f"E2E-{unique}"
    _stock(api, sku, 1)
    before = _live(api)
    accepted = _place(api, _order(sku, 1))
    _await(api, accepted["order_id"], "COMPLETED", len(HAPPY_PATH))
    deadline = time.monotonic() + 10
    while True:
        after = _live(api)
        nothing = (0, Decimal(0))
        grew = [m for m, (n, _) in after.items() if n > before.get(m, nothing)[0]]
        earned = [
            m for m, (_, r) in after.items() if r >= before.get(m, nothing)[1] + Decimal("12.34")
        ]
        if (grew and earned) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert grew and earned, (before, after)
