"""Customers against the real stack (issue 15): the customer agent decides, the API reports,
the table answers reads, the read model lists a customer's orders, and the saga asks the
customer worker about every order (a deactivated customer's order is cancelled before any
stock is reserved; notifications go to the email of record; a guest's to the order's own).
The test session's cooldown is 3 s (tests/conftest.py FAST)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.factories import accept_order, await_order, stock
from tests.integration.test_end_to_end import NOTIFIED

pytestmark = pytest.mark.stack
COOLDOWN_S = 3


def test_a_customer_registers_changes_email_once_per_cooldown_and_is_deactivated(
    api: httpx.Client, unique: str
):
    registered = api.post(
        "/customers",
        json={"name": " Alice Liddell ", "email": "Alice@EXAMPLE.com", "phone": "+31201234567"},
    )
    assert registered.status_code == 202, registered.text
    customer_id = registered.json()["customer_id"]
    shown = api.get(f"/customers/{customer_id}").json()
    assert shown["name"] == "Alice Liddell" and shown["email"] == "Alice@example.com"
    assert shown["phone"] == "+31201234567" and shown["status"] == "ACTIVE"

    again = api.post(
        "/customers", json={"customer_id": customer_id, "name": "A", "email": "a@example.org"}
    )
    assert again.status_code == 409 and "registered already" in again.json()["detail"]

    first = api.put(f"/customers/{customer_id}/email", json={"email": f"new-{unique}@example.com"})
    assert first.status_code == 200, first.text
    assert first.json()["email"] == f"new-{unique}@example.com"
    too_soon = api.put(f"/customers/{customer_id}/email", json={"email": "other@example.com"})
    assert too_soon.status_code == 409, too_soon.text
    assert "next change is allowed" in too_soon.json()["detail"]
    time.sleep(COOLDOWN_S)
    later = api.put(f"/customers/{customer_id}/email", json={"email": "other@example.com"})
    assert later.status_code == 200, later.text

    off = api.post(f"/customers/{customer_id}/deactivate", json={"reason": "asked to"})
    assert off.status_code == 200 and off.json()["status"] == "INACTIVE", off.text
    on = api.post(f"/customers/{customer_id}/reactivate")
    assert on.status_code == 200 and on.json()["status"] == "ACTIVE", on.text


def test_what_the_customer_agent_refuses_or_does_not_know(api: httpx.Client, unique: str):
    unknown = api.put(f"/customers/nobody-{unique}/email", json={"email": "x@example.com"})
    assert unknown.status_code == 404, unknown.text
    assert api.get(f"/customers/nobody-{unique}").status_code == 404
    bad_phone = api.post("/customers", json={"name": "B", "email": "b@example.com", "phone": "+1"})
    assert bad_phone.status_code == 422 and "phone" in bad_phone.json()["detail"]
    with httpx.Client(base_url=str(api.base_url)) as anonymous:
        body = {"name": "C", "email": "c@example.com"}
        assert anonymous.post("/customers", json=body).status_code == 401


def test_a_customers_orders_come_from_the_read_model(api: httpx.Client, unique: str):
    customer_id = f"cust-{unique}"
    registered = api.post(
        "/customers", json={"customer_id": customer_id, "name": "Dana", "email": "d@example.com"}
    )
    assert registered.status_code == 202, registered.text
    sku = f"CUST-{unique}"
    assert stock(api, sku, 5).status_code == 200
    order_id = accept_order(api, sku, customer_id)["order_id"]
    await_order(api, order_id, lambda d: d["status"] == "COMPLETED", "completed")
    listed = api.get(f"/customers/{customer_id}/orders").json()
    assert listed["total"] == 1 and listed["orders"][0]["order_id"] == order_id


def _notified(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(template, recipient) of every NotificationSent in an order's timeline."""
    return [
        (entry["details"]["template"], entry["details"]["recipient"])
        for entry in doc["timeline"]
        if entry["event_type"] == "NotificationSent"
    ]


def _completed_and_told(api: httpx.Client, order_id: str) -> dict[str, Any]:
    """The order's document once it is COMPLETED and its last notice is in the timeline."""
    return await_order(
        api,
        order_id,
        lambda d: (
            d["status"] == "COMPLETED"
            and "OrderCompleted" in [template for template, _ in _notified(d)]
        ),
        "completed, with its last notice",
    )


def test_the_saga_asks_the_customer_worker_about_every_order(api: httpx.Client, unique: str):
    customer_id, of_record = f"rec-{unique}", f"record-{unique}@example.com"
    registered = api.post(
        "/customers", json={"customer_id": customer_id, "name": "Erin", "email": of_record}
    )
    assert registered.status_code == 202, registered.text
    sku = f"REC-{unique}"
    assert stock(api, sku, 5).status_code == 200

    # registered: every notice goes to the email of record, not the order's own address
    first = accept_order(api, sku, customer_id)["order_id"]
    doc = _completed_and_told(api, first)
    assert doc["customer_email"] == f"{customer_id}@example.com"  # as placed
    assert {recipient for _, recipient in _notified(doc)} == {of_record}
    # one notice per visible transition (two decided together share a millisecond, and
    # then the timeline orders them by event id: compared as a set)
    assert sorted(template for template, _ in _notified(doc)) == sorted(NOTIFIED)

    # the email changes: the next order's notices go to the new address
    changed = f"changed-{unique}@example.com"
    answer = api.put(f"/customers/{customer_id}/email", json={"email": changed})
    assert answer.status_code == 200, answer.text
    second = accept_order(api, sku, customer_id)["order_id"]
    doc = _completed_and_told(api, second)
    assert {recipient for _, recipient in _notified(doc)} == {changed}

    # a guest checkout: an unregistered customer_id goes on with the order's own address
    guest = f"guest-{unique}"
    doc = _completed_and_told(api, accept_order(api, sku, guest)["order_id"])
    assert {recipient for _, recipient in _notified(doc)} == {f"{guest}@example.com"}

    # deactivated: the next order is cancelled before any stock is reserved
    off = api.post(f"/customers/{customer_id}/deactivate")
    assert off.status_code == 200, off.text
    refused = accept_order(api, sku, customer_id)["order_id"]
    doc = await_order(api, refused, lambda d: d["status"] == "CANCELLED", "cancelled")
    assert doc["cancel_reason"] == "CUSTOMER_INACTIVE"
    assert "StockReserved" not in {e["event_type"] for e in doc["timeline"]}
    level = api.get(f"/inventory/{sku}").json()
    assert (level["on_hand"], level["reserved"]) == (2, 0)  # three shipped, nothing held

    # reactivated: orders go through again
    assert api.post(f"/customers/{customer_id}/reactivate").status_code == 200
    doc = _completed_and_told(api, accept_order(api, sku, customer_id)["order_id"])
    assert {recipient for _, recipient in _notified(doc)} == {changed}
