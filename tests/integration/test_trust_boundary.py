"""Issue 14's findings against the real stack (each failed on the code before it): an anonymous
caller, a client-set price, stock past its bound, a cancel right after the 202, and the
decider's refusals as the API reports them. The in-process edges (path parameters, NaN,
body size, error shape) are tests/unit/test_api_trust.py; the whole document is fuzzed by
tests/integration/test_api_schema.py."""

from __future__ import annotations

import httpx
import pytest

from orderflow import config
from tests.factories import accept_order, await_order, order_body, stock

pytestmark = pytest.mark.stack


def test_an_anonymous_caller_can_change_nothing(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"ANON-{unique}"
    assert stock(api, sku, 5).status_code == 200
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.api_port}", timeout=30) as anonymous:
        put = anonymous.put(f"/inventory/{sku}", json={"on_hand": 500})
        assert put.status_code == 401, put.text
        assert put.headers["WWW-Authenticate"].startswith("Bearer")
        placed = anonymous.post("/orders", json=order_body(sku, f"anon-{unique}"))
        assert placed.status_code == 401
        wrong = anonymous.get(f"/inventory/{sku}", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
    assert api.get(f"/inventory/{sku}").json()["on_hand"] == 5


def test_the_catalogue_sets_the_price_not_the_client(api: httpx.Client, unique: str):
    sku = f"PRICE-{unique}"
    stocked = stock(api, sku, 5, price="19.99", currency="EUR")
    assert stocked.status_code == 200
    assert stocked.json()["unit_price"] == "19.99" and stocked.json()["currency"] == "EUR"
    cheap = accept_order(api, sku, f"cheap-{unique}", price="0.01")["order_id"]
    doc = await_order(api, cheap, lambda d: d["status"] == "CANCELLED", "cancelled")
    assert doc["cancel_reason"] == "PRICE_MISMATCH"
    fair = accept_order(api, sku, f"fair-{unique}", price="19.99")["order_id"]
    doc = await_order(api, fair, lambda d: d["status"] == "COMPLETED", "completed")
    assert doc["total_amount"] == "19.99"
    unpriced = f"UNPRICED-{unique}"
    assert api.put(f"/inventory/{unpriced}", json={"on_hand": 5}).status_code == 200
    assert api.get(f"/inventory/{unpriced}").json()["unit_price"] is None
    order = accept_order(api, unpriced, f"unpriced-{unique}", price="4.20")["order_id"]
    doc = await_order(api, order, lambda d: d["status"] == "CANCELLED", "cancelled")
    assert doc["cancel_reason"] == "UNKNOWN_SKU"
    assert api.get(f"/inventory/{sku}").json()["on_hand"] == 4  # the fair one shipped


def test_stock_stays_within_its_bound_and_the_inventory_says_why(api: httpx.Client, unique: str):
    sku = f"BOUND-{unique}"
    assert stock(api, sku, 999_999_990).status_code == 200
    over = api.post(f"/inventory/{sku}/adjustments", json={"delta": 20})
    assert over.status_code == 409, over.text
    assert "above the limit of 1000000000" in over.json()["detail"]
    assert api.post(f"/inventory/{sku}/adjustments", json={"delta": 10}).status_code == 200
    assert api.get(f"/inventory/{sku}").json()["on_hand"] == 1_000_000_000
    below = api.post(f"/inventory/NEVER-{unique}/adjustments", json={"delta": -1})
    assert below.status_code == 409 and "below zero" in below.json()["detail"], below.text


def test_a_cancel_right_after_the_202_is_honoured(api: httpx.Client, unique: str):
    sku = f"QUICK-{unique}"
    assert stock(api, sku, 5).status_code == 200
    order_id = accept_order(api, sku, f"quick-{unique}")["order_id"]
    cancelled = api.post(f"/orders/{order_id}/cancel")  # no wait: the read model lags
    assert cancelled.status_code in (200, 202), cancelled.text
    doc = await_order(api, order_id, lambda d: d["status"] == "CANCELLED", "cancelled")
    assert doc["cancel_reason"] == "CUSTOMER_REQUEST"
    again = api.post(f"/orders/{order_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert api.post(f"/orders/no-such-{unique}/cancel").status_code == 404
    at_once = api.get(f"/orders/{order_id}", params={"wait_for": "PENDING", "timeout": 30})
    assert at_once.status_code == 200 and at_once.elapsed.total_seconds() < 5
