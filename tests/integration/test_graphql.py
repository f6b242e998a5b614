"""GraphQL at /graphql against the real stack: it reads what REST reads (issue 15, item 5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import accept_order, await_order, stock

pytestmark = pytest.mark.stack

ORDER = """query($id: ID!) {
  order(id: $id) { orderId status totalAmount timeline { eventType topic correlationId } }
}"""
CUSTOMER = """query($id: ID!) {
  customer(id: $id) { name status orders(size: 5) { total orders { orderId status } } }
}"""
INVENTORY = """query($sku: ID!) { inventory(sku: $sku) { sku onHand available unitPrice } }"""


def _ask(api: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    answer = api.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    body = dict(answer.json())
    assert "errors" not in body, body
    return dict(body["data"])


def test_graphql_answers_an_orders_timeline_a_customer_and_stock(api: httpx.Client, unique: str):
    customer_id = f"gql-{unique}"
    registered = api.post(
        "/customers", json={"customer_id": customer_id, "name": "Gail", "email": "g@example.com"}
    )
    assert registered.status_code == 202, registered.text
    sku = f"GQL-{unique}"
    assert stock(api, sku, 3).status_code == 200
    accepted = accept_order(api, sku, customer_id)
    await_order(api, accepted["order_id"], lambda d: d["status"] == "COMPLETED", "completed")

    order = _ask(api, ORDER, id=accepted["order_id"])["order"]
    assert order["status"] == "COMPLETED" and order["totalAmount"] == "4.20"
    types = [entry["eventType"] for entry in order["timeline"]]
    assert types[0] == "OrderPlaced" and "OrderCompleted" in types
    assert {entry["correlationId"] for entry in order["timeline"]} == {accepted["correlation_id"]}
    rest = api.get(f"/orders/{accepted['order_id']}/timeline").json()["timeline"]
    assert types == [entry["event_type"] for entry in rest]

    customer = _ask(api, CUSTOMER, id=customer_id)["customer"]
    assert customer["name"] == "Gail" and customer["status"] == "ACTIVE"
    # a page of orders is a search, which sees the read model about a second late (refresh)
    (listed,) = customer["orders"]["orders"]
    assert listed["orderId"] == accepted["order_id"]

    level = _ask(api, INVENTORY, sku=sku)["inventory"]
    assert level == {"sku": sku, "onHand": 2, "available": 2, "unitPrice": "4.20"}
    assert _ask(api, ORDER, id=f"none-{unique}")["order"] is None

    with httpx.Client(base_url=str(api.base_url)) as anonymous:
        refused = anonymous.post("/graphql", json={"query": INVENTORY, "variables": {"sku": sku}})
        assert refused.status_code == 401
