"""GraphQL at /graphql in-process (api/graphql.py): the REST API's keys and scopes, the same
helpers and the same validation, Elasticsearch and the workers stubbed as the REST tests stub
them (tests/unit/test_api_trust.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from elasticsearch import NotFoundError

ANONYMOUS = {"Authorization": ""}
READER = {"Authorization": "Bearer orders-reader-key"}  # orders:read, inventory:read
TIMELINE = [
    {
        "event_id": "e-1",
        "event_type": "OrderPlaced",
        "occurred_at": "2026-01-02T03:04:05.000Z",
        "topic": "orders.events.v1",
        "correlation_id": "c-1",
        "causation_id": None,
        "details": {"order_id": "o-1", "total_amount": "39.98"},
    }
]
ORDER = {
    "order_id": "o-1",
    "customer_id": "alice",
    "customer_email": "alice@example.com",
    "status": "PENDING",
    "cancel_reason": None,
    "currency": "EUR",
    "total_amount": "39.98",
    "total_cents": 3998,
    "items": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}],
    "shipping_address": {"country": "NL", "city": "Amsterdam"},
    "created_at": "2026-01-02T03:04:05.000Z",
    "updated_at": "2026-01-02T03:04:05.000Z",
    "timeline": TIMELINE,
}
CUSTOMER = {
    "customer_id": "alice",
    "name": "Alice",
    "email": "alice@example.com",
    "phone": None,
    "status": "ACTIVE",
    "registered_at": "2026-01-01T00:00:00.000Z",
    "email_changed_at": None,
    "next_email_change_at": None,
}
STOCK = {
    "sku": "TSHIRT-M",
    "on_hand": 10,
    "reserved": 2,
    "available": 8,
    "unit_price": "19.99",
    "currency": "EUR",
}


def ask(client, query: str, headers: dict[str, str] | None = None, **variables: Any):
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def answered(client, query: str, **variables: Any) -> dict[str, Any]:
    answer = ask(client, query, **variables)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    return dict(body["data"])


def refusal(client, query: str, headers: dict[str, str] | None = None, **variables: Any):
    answer = ask(client, query, headers, **variables)
    assert answer.status_code == 200, answer.text
    (error,) = answer.json()["errors"]
    return answer.json()["data"], error


class Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self.body = status, body

    def json(self) -> dict[str, Any]:
        return self.body


@pytest.fixture
def es(client, monkeypatch):
    """The read model holds ORDER; every query it is asked is recorded."""
    asked: dict[str, list[dict[str, Any]]] = {"get": [], "search": []}

    async def get(**kwargs):
        asked["get"].append(kwargs)
        if kwargs["id"] != ORDER["order_id"]:
            raise NotFoundError("not found", None, {})  # type: ignore[arg-type]
        return {"_source": ORDER}

    async def search(**kwargs):
        asked["search"].append(kwargs)
        without = {k: v for k, v in ORDER.items() if k != "timeline"}
        return {"hits": {"total": {"value": 1}, "hits": [{"_source": without}]}}

    svc = client.app.state.services
    monkeypatch.setattr(svc.es, "get", get)
    monkeypatch.setattr(svc.es, "search", search)
    return asked


@pytest.fixture
def workers(client, monkeypatch):
    """The customer worker knows alice, the inventory worker TSHIRT-M; paths are recorded."""
    asked: list[tuple[str, dict[str, Any] | None]] = []

    async def customers(path, params=None):
        asked.append((path, params))
        known = params["customer_id"] == "alice"
        return Answer(200, CUSTOMER) if known else Answer(404, {"detail": "unknown"})

    async def inventory(path, params=None):
        asked.append((path, params))
        known = path == "/inventory/TSHIRT-M/"
        return Answer(200, STOCK) if known else Answer(404, {"detail": "never stocked"})

    svc = client.app.state.services
    monkeypatch.setattr(svc.customers, "get", customers)
    monkeypatch.setattr(svc.inventory, "get", inventory)
    return asked


# --- keys and scopes ---------------------------------------------------------------------
def test_without_a_valid_key_graphql_is_the_rest_apis_401(client, es):
    for method in ("POST", "GET"):
        answer = client.request(
            method,
            "/graphql",
            params={"query": '{ order(id: "o-1") { status } }'} if method == "GET" else None,
            json={"query": '{ order(id: "o-1") { status } }'} if method == "POST" else None,
            headers=ANONYMOUS,
        )
        assert answer.status_code == 401, answer.text
        assert set(answer.json()) == {"status", "title", "detail", "errors"}
        assert "Authorization: Bearer" in answer.json()["detail"]
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="orderflow"'
    wrong = ask(client, "{ __typename }", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["WWW-Authenticate"]
    assert es == {"get": [], "search": []}


def test_the_graphiql_page_is_open_like_the_docs_and_graphql_is_not_in_openapi(client):
    page = client.get("/graphql", headers={**ANONYMOUS, "Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert not any(
        path.startswith("/graphql") for path in client.get("/openapi.json").json()["paths"]
    )


def test_a_field_the_key_has_no_scope_for_is_an_error_naming_it_and_the_rest_answers(
    client, es, workers
):
    data, error = refusal(
        client,
        '{ customer(id: "alice") { name } inventory(sku: "TSHIRT-M") { available } }',
        READER,
    )
    assert data == {"customer": None, "inventory": {"available": 8}}
    assert "customers:read" in error["message"] and "'reader'" in error["message"]
    assert error["path"] == ["customer"]
    assert error["extensions"] == {"status": 403, "scope": "customers:read"}
    assert all(path != "/customers/" for path, _ in workers)


# --- orders ------------------------------------------------------------------------------
def test_an_order_with_its_timeline(client, es):
    data = answered(
        client,
        """query ($id: ID!) { order(id: $id) {
            orderId status totalAmount items { sku quantity unitPrice }
            timeline { eventId eventType occurredAt topic correlationId causationId details }
        } }""",
        id="o-1",
    )
    order = data["order"]
    assert order["status"] == "PENDING" and order["totalAmount"] == "39.98"
    assert order["items"] == [{"sku": "TSHIRT-M", "quantity": 2, "unitPrice": "19.99"}]
    (entry,) = order["timeline"]
    assert entry["eventType"] == "OrderPlaced" and entry["causationId"] is None
    assert entry["details"] == TIMELINE[0]["details"]
    assert len(es["get"]) == 1  # the timeline came with the document


def test_an_unknown_order_is_null(client, es):
    assert answered(client, '{ order(id: "never-placed") { status } }') == {"order": None}


def test_orders_filter_builds_the_filter_get_orders_builds(client, es):
    data = answered(
        client,
        """{ orders(filter: {customerId: "alice", status: "PENDING", sku: "TSHIRT-M"},
                    page: 2, size: 10) { total page size orders { orderId } } }""",
    )
    assert data["orders"] == {"total": 1, "page": 2, "size": 10, "orders": [{"orderId": "o-1"}]}
    rest = client.get(
        "/orders", params={"customer_id": "alice", "status": "PENDING", "sku": "TSHIRT-M"}
    )
    assert rest.status_code == 200, rest.text
    graphql, by_rest = es["search"]
    assert (
        graphql["query"]
        == by_rest["query"]
        == {
            "bool": {
                "filter": [
                    {"term": {"customer_id": "alice"}},
                    {"term": {"status": "PENDING"}},
                    {"term": {"items.sku": "TSHIRT-M"}},
                ]
            }
        }
    )
    assert graphql["from_"] == 10 and graphql["size"] == 10
    assert graphql["source_excludes"] == ["timeline"]


def test_a_page_of_orders_reads_a_timeline_only_when_asked(client, es):
    answered(client, "{ orders { orders { orderId } } }")
    assert es["get"] == []
    data = answered(client, "{ orders { orders { timeline { eventId } } } }")
    assert data["orders"]["orders"] == [{"timeline": [{"eventId": "e-1"}]}]
    assert [asked["id"] for asked in es["get"]] == ["o-1"]


# --- customers and inventory ---------------------------------------------------------------
def test_a_customer_with_their_orders(client, es, workers):
    data = answered(
        client,
        '{ customer(id: "alice") { customerId name status orders(size: 5) { total orders '
        "{ orderId } } } }",
    )
    assert data["customer"] == {
        "customerId": "alice",
        "name": "Alice",
        "status": "ACTIVE",
        "orders": {"total": 1, "orders": [{"orderId": "o-1"}]},
    }
    assert workers == [("/customers/", {"customer_id": "alice"})]
    (search,) = es["search"]
    assert search["query"] == {"bool": {"filter": [{"term": {"customer_id": "alice"}}]}}
    assert search["size"] == 5
    assert answered(client, '{ customer(id: "bob") { name } }') == {"customer": None}


def test_inventory(client, workers):
    data = answered(
        client,
        '{ inventory(sku: "TSHIRT-M") { sku onHand reserved available unitPrice currency } }',
    )
    assert data["inventory"] == {
        "sku": "TSHIRT-M",
        "onHand": 10,
        "reserved": 2,
        "available": 8,
        "unitPrice": "19.99",
        "currency": "EUR",
    }
    assert answered(client, '{ inventory(sku: "NEVER") { sku } }') == {"inventory": None}


# --- what cannot be asked, what cannot answer ------------------------------------------------
@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ order(id: "..") { status } }', "id"),
        ('{ order(id: "a b") { status } }', "id"),
        ('{ inventory(sku: "%2e%2e") { sku } }', "sku"),
        ('{ inventory(sku: "' + "S" * 65 + '") { sku } }', "sku"),
        ('{ customer(id: "has space") { name } }', "id"),
        ('{ orders(filter: {status: "NONSENSE"}) { total } }', "filter.status"),
        ('{ orders(filter: {sku: "../x"}) { total } }', "filter.sku"),
        ("{ orders(page: 101) { total } }", "page"),
        ("{ orders(size: 0) { total } }", "size"),
        ('{ customer(id: "alice") { orders(size: 101) { total } } }', "size"),
    ],
)
def test_an_invalid_argument_is_an_error_naming_it_and_goes_nowhere(
    client, monkeypatch, workers, query, argument
):
    async def must_not_ask(*_args, **_kwargs):
        raise AssertionError("forwarded")

    svc = client.app.state.services
    for target in (svc.es, svc.orders):
        monkeypatch.setattr(target, "get", must_not_ask)
    monkeypatch.setattr(svc.es, "search", must_not_ask)
    _, error = refusal(client, query)
    assert error["extensions"]["status"] == 422, error
    assert error["message"].startswith(f"{argument}:"), error
    assert error["extensions"]["errors"][0]["loc"][0] == argument
    assert all(path == "/customers/" for path, _ in workers)  # customer(id: "alice") only


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('{ order(id: "o-1") { status } }', "Elasticsearch unavailable"),
        ("{ orders { total } }", "Elasticsearch unavailable"),
        ('{ customer(id: "alice") { name } }', "customer worker unavailable"),
        ('{ inventory(sku: "TSHIRT-M") { sku } }', "inventory worker unavailable"),
    ],
)
def test_a_dependency_that_cannot_answer_is_a_graphql_error_not_a_500(
    client, monkeypatch, query, words
):
    from elasticsearch import ConnectionTimeout

    async def es_away(*_args, **_kwargs):
        raise ConnectionTimeout("timed out")

    async def worker_away(*_args, **_kwargs):
        raise httpx.ConnectError("connection refused")

    svc = client.app.state.services
    monkeypatch.setattr(svc.es, "get", es_away)
    monkeypatch.setattr(svc.es, "search", es_away)
    monkeypatch.setattr(svc.customers, "get", worker_away)
    monkeypatch.setattr(svc.inventory, "get", worker_away)
    data, error = refusal(client, query)
    assert data is None or all(value is None for value in data.values())
    assert words in error["message"] and error["extensions"] == {"status": 503}


def test_a_bug_is_masked_and_logged(client, monkeypatch, caplog):
    async def broken(**_kwargs):
        return {"_source": {"no": "order_id"}}

    monkeypatch.setattr(client.app.state.services.es, "get", broken)
    _, error = refusal(client, '{ order(id: "o-1") { status } }')
    assert error["message"] == "internal error; see the API log"
    assert "order_id" not in error["message"]
    assert any(record.exc_info for record in caplog.records if record.name == "orderflow.api")


def test_a_query_too_deep_or_with_too_many_aliases_is_refused_before_anything_is_asked(client, es):
    deep = "{ orders { orders { timeline { details } } } }"
    assert "errors" not in ask(client, deep).json()
    many = "{ " + " ".join(f"a{n}: orders {{ total }}" for n in range(11)) + " }"
    answer = ask(client, many).json()
    assert answer["errors"] and "aliases" in answer["errors"][0]["message"].lower()
    assert len(es["search"]) == 1  # the deep one only


def test_introspection_answers_and_there_are_no_subscriptions(client):
    from graphql import get_introspection_query
    from starlette.websockets import WebSocketDisconnect

    schema = answered(client, get_introspection_query())["__schema"]
    assert schema["subscriptionType"] is None and schema["mutationType"] is None
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]),
    ):
        pass
