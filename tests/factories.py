"""Builders for messages in tests, so each test states only what it is about."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas import topics
from schemas.events import Message, command
from schemas.registry import RegistryError

NOW = 1_700_000_000_000


def place_order(
    order_id: str | None = None,
    lines: dict[str, int] | None = None,
    scenario: str = "approve",
    country: str = "NL",
) -> Message:
    order_id = order_id or str(uuid.uuid4())
    lines = lines or {"SKU-1": 2}
    data: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": "alice",
        "customer_email": "alice@example.com",
        "currency": "EUR",
        "items": [
            {"sku": sku, "quantity": qty, "unit_price": Decimal("10.50")}
            for sku, qty in lines.items()
        ],
        "shipping_address": {
            "country": country,
            "city": "Amsterdam",
            "postal_code": None,
            "line1": None,
        },
        "payment_method": "card",
        "payment_scenario": scenario,
    }
    return command("PlaceOrder", topics.ORDERS_COMMANDS.name, order_id, data, "corr-1", "test")


def reply(cause: Message, event_type: str, topic: str, **data: Any) -> Message:
    """An answer to `cause` as a participant would send it."""
    key = data.get("order_id", cause.key)
    return cause.caused(event_type, topic, key, data, "test", NOW)


def customer_checked(
    check: Message,
    registered: bool = False,
    active: bool = True,
    email: str | None = None,
    email_as_of: int | None = None,
) -> Message:
    """The customer worker's answer to the saga's CheckCustomer (a guest checkout by
    default)."""
    return reply(
        check,
        "CustomerChecked",
        topics.CUSTOMERS_CHECKS.name,
        order_id=check.data["order_id"],
        customer_id=check.data["customer_id"],
        registered=registered,
        active=active,
        email=email,
        email_as_of=email_as_of,
    )


def types(messages: list[Message]) -> list[str]:
    return [m.type for m in messages]


class MemoryRegistry:
    """An in-memory stand-in for the registry, for unit tests of the codec."""

    def __init__(self) -> None:
        self.schemas: dict[int, dict] = {}
        self.calls = 0

    def register(self, subject: str, schema: dict) -> int:
        self.calls += 1
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = schema
        return schema_id

    def schema_by_id(self, schema_id: int) -> dict:
        if schema_id not in self.schemas:
            raise RegistryError("404")
        return self.schemas[schema_id]


def stock(api: Any, sku: str, on_hand: int, price: str = "4.20", currency: str = "EUR") -> Any:
    """PUT /inventory/{sku}: `on_hand` units at a price of record (the price the factories'
    orders pay unless a test says otherwise); the API's answer."""
    return api.put(
        f"/inventory/{sku}", json={"on_hand": on_hand, "unit_price": price, "currency": currency}
    )


def order_body(
    sku: str, customer: str, price: str = "4.20", country: str = "NL", quantity: int = 1
) -> dict[str, Any]:
    """A valid POST /orders body: one line, paid in euros."""
    return {
        "customer_id": customer,
        "customer_email": f"{customer}@example.com",
        "currency": "EUR",
        "items": [{"sku": sku, "quantity": quantity, "unit_price": price}],
        "shipping_address": {"country": country},
    }


def post_order(
    api: Any, sku: str, customer: str, price: str = "4.20", country: str = "NL", quantity: int = 1
) -> str:
    """POST a one-line order to the running API (an httpx.Client); its order_id once the API
    accepted it (202)."""
    return str(accept_order(api, sku, customer, price, country, quantity)["order_id"])


def accept_order(
    api: Any, sku: str, customer: str, price: str = "4.20", country: str = "NL", quantity: int = 1
) -> dict[str, Any]:
    """The same POST; the API's whole 202 answer (order_id, status, correlation_id)."""
    answer = api.post("/orders", json=order_body(sku, customer, price, country, quantity))
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def await_order(
    api: Any,
    order_id: str,
    done: Callable[[dict[str, Any]], bool],
    what: str,
    timeout_s: float = 90,
) -> dict[str, Any]:
    """Poll the order's read-model document (GET /orders/{id}, waiting server-side for
    COMPLETED) until `done(document)`; fail with `what` and the last answer after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = api.get(f"/orders/{order_id}", params={"wait_for": "COMPLETED", "timeout": 5})
        if answer.status_code == 200 and done(doc := dict(answer.json())):
            return doc
        assert time.monotonic() < deadline, (
            f"order {order_id} {what}: {answer.status_code} {answer.text[:2000]}"
        )
        time.sleep(0.2)
