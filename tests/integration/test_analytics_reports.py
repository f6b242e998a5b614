"""Today's and a window's figures and the newest events, on the real stack: a few orders of
this test's own (one completes, one runs out of stock, one is declined) show up in
GET /analytics/today and /analytics/range, with their cancellations by reason and the completed
order's total in the revenue, and the completed order's OrderCompleted among the newest events.

The stack is shared with every other test of the session, so the figures are checked as "at
least ours" over a window as narrow as our orders' own creation times, never as totals."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from orderflow import config
from tests.factories import await_order, order_body, stock

pytestmark = pytest.mark.stack

PRICE = "12.34"
TERMINAL = {"COMPLETED", "CANCELLED"}


def _place(api: httpx.Client, body: dict[str, Any]) -> str:
    answer = api.post("/orders", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["order_id"])


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _poll(
    api: httpx.Client,
    path: str,
    params: dict[str, Any],
    done: Callable[[dict[str, Any]], bool],
    timeout_s: float = 30,
) -> dict[str, Any]:
    """GET `path` until its answer satisfies `done` (the read model refreshes every second);
    fail with the last answer after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        body = dict(answer.json())
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{path} {params}: {answer.text[:3000]}"
        time.sleep(0.5)


def _shows_ours(figures: dict[str, Any], revenue_cents: int) -> bool:
    """At least our three orders: two cancelled (one per reason), the completed one's total
    in the euro revenue."""
    reasons = figures["cancellations"]["by_reason"]
    euros = figures["by_currency"].get("EUR", {})
    return (
        figures["orders"] >= 3
        and figures["cancellations"]["total"] >= 2
        and reasons.get("OUT_OF_STOCK", 0) >= 1
        and reasons.get("PAYMENT_DECLINED", 0) >= 1
        and figures["by_status"].get("COMPLETED", 0) >= 1
        and euros.get("revenue_orders", 0) >= 1
        and euros.get("revenue_cents", 0) >= revenue_cents
    )


def _newest_first(events: list[dict[str, Any]]) -> bool:
    order = [(_instant(e["occurred_at"]), e["event_id"]) for e in events]
    return order == sorted(order, reverse=True)


def test_figures_and_newest_events_show_our_orders(
    stack: config.Settings, api: httpx.Client, unique: str
) -> None:
    sku, scarce = f"AR-{unique}", f"ARX-{unique}"
    customer = f"ar-{unique}"
    assert stock(api, sku, 10, price=PRICE).status_code == 200
    assert stock(api, scarce, 1, price=PRICE).status_code == 200

    completed = _place(api, order_body(sku, customer, PRICE, quantity=2))  # 24.68
    out_of_stock = _place(api, order_body(scarce, customer, PRICE, quantity=3))
    declined = _place(
        api,
        {**order_body(sku, customer, PRICE), "payment": {"method": "card", "scenario": "decline"}},
    )
    docs = {
        order_id: await_order(api, order_id, lambda doc: doc["status"] in TERMINAL, "ended")
        for order_id in (completed, out_of_stock, declined)
    }
    assert docs[completed]["status"] == "COMPLETED", docs[completed]
    assert docs[out_of_stock]["cancel_reason"] == "OUT_OF_STOCK", docs[out_of_stock]
    assert docs[declined]["cancel_reason"] == "PAYMENT_DECLINED", docs[declined]
    total_cents = docs[completed]["total_cents"]
    assert total_cents == 2468

    # a window from our first order's creation to just after our last's
    created = sorted(_instant(doc["created_at"]) for doc in docs.values())
    window = {
        "from": created[0].isoformat(timespec="milliseconds"),
        "to": (created[-1] + timedelta(milliseconds=1)).isoformat(timespec="milliseconds"),
    }
    figures = _poll(api, "/analytics/range", window, lambda body: _shows_ours(body, total_cents))
    assert _instant(figures["from"]) == created[0]
    euros = figures["by_currency"]["EUR"]
    assert euros["revenue"] == f"{euros['revenue_cents'] // 100}.{euros['revenue_cents'] % 100:02d}"
    assert euros["average_order_value"] is not None
    skus = {entry["sku"]: entry["orders"] for entry in figures["top_skus"]}
    if len(skus) < 10:  # only a busy stack could push our SKUs out of the ten
        assert skus.get(sku, 0) >= 2 and skus.get(scarce, 0) >= 1, figures["top_skus"]

    # today: the same report from UTC midnight, unless midnight fell in between
    today = _poll(
        api,
        "/analytics/today",
        {},
        lambda body: _instant(body["from"]) > created[0] or _shows_ours(body, total_cents),
    )
    if _instant(today["from"]) <= created[0]:
        assert today["from"].startswith(created[0].astimezone(UTC).date().isoformat())
        assert today["orders"] >= figures["orders"]  # the narrow window lies within today

    # the completed order's OrderCompleted among the newest events of its type
    (completion,) = [e for e in docs[completed]["timeline"] if e["event_type"] == "OrderCompleted"]
    newest = _poll(
        api,
        "/events/recent",
        {"type": "OrderCompleted", "limit": 100},
        lambda body: completion["event_id"] in {e["event_id"] for e in body["events"]},
    )
    assert newest["type"] == "OrderCompleted" and newest["limit"] == 100
    assert {e["event_type"] for e in newest["events"]} == {"OrderCompleted"}
    assert _newest_first(newest["events"])
    (ours,) = [e for e in newest["events"] if e["event_id"] == completion["event_id"]]
    assert ours["order_id"] == completed and ours["topic"] == "orders.events.v1"
    assert ours["correlation_id"] == completion["correlation_id"]
    assert ours["details"] == completion["details"]

    three = api.get("/events/recent", params={"limit": 3})
    assert three.status_code == 200, three.text
    assert len(three.json()["events"]) == 3 and _newest_first(three.json()["events"])
    assert three.json()["type"] is None


def test_a_window_backwards_and_an_unknown_event_type_are_422s(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    backwards = {"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    answer = api.get("/analytics/range", params=backwards)
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["errors"]] == [["query", "from"], ["query", "to"]]
    unknown = api.get("/events/recent", params={"type": "OrderTeleported"})
    assert unknown.status_code == 422, unknown.text
    assert [e["loc"] for e in unknown.json()["errors"]] == [["query", "type"]]
