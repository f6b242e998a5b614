"""POST /orders validation and Idempotency-Key, with publishing recorded instead of sent
(the real path through Kafka is in tests/integration/test_end_to_end.py). The `client`
fixture sends a key with every scope; tests/unit/test_api_trust.py covers the keys."""

from __future__ import annotations

import copy

import httpx
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, ConnectionTimeout

from api.idempotency import order_id_for
from tests.unit.conftest import VALID, read_model_holds


def _with(path: str, value):
    body = copy.deepcopy(VALID)
    target = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("customer_id", KeyError, "customer_id"),
        ("customer_id", "has spaces", "customer_id"),
        ("customer_id", "x" * 65, "customer_id"),
        ("customer_email", "not-an-email", "customer_email"),
        ("currency", "EURO", "currency"),
        ("currency", "XXY", "currency"),
        ("currency", "XXX", "currency"),  # "no currency"
        ("currency", "XAU", "currency"),  # gold
        ("currency", "eur", "currency"),  # the schema's enum is upper case
        ("customer_email", "", "customer_email"),
        ("items.0.sku", "..", "sku"),
        ("items.0.unit_price", 1e300, "unit_price"),
        ("items.0.quantity", 2.5, "quantity"),
        ("items.0.quantity", True, "quantity"),
        ("items", [], "items"),
        ("items.0.quantity", 0, "quantity"),
        ("items.0.quantity", 1001, "quantity"),
        ("items.0.quantity", "2", "quantity"),
        ("items.0.unit_price", "1.234", "unit_price"),
        ("items.0.unit_price", -1, "unit_price"),
        ("items.0.unit_price", "NaN", "unit_price"),
        ("shipping_address.country", "XX", "country"),
        ("shipping_address", KeyError, "shipping_address"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_sent(client, path, value, field):
    answer = client.post("/orders", json=_with(path, value))
    assert answer.status_code == 422, answer.text
    locations = [".".join(str(p) for p in error["loc"]) for error in answer.json()["errors"]]
    assert any(field in location for location in locations), locations
    assert field in answer.json()["detail"]
    assert client.sent == []


def test_duplicate_skus_are_refused(client):
    body = _with("items", [VALID["items"][0], VALID["items"][0]])
    answer = client.post("/orders", json=body)
    assert answer.status_code == 422 and "TSHIRT-M" in answer.text
    assert client.sent == []


def test_a_valid_order_is_accepted_with_location_and_correlation_id(client):
    answer = client.post("/orders", json=VALID)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "PENDING"
    assert answer.headers["Location"] == f"/orders/{body['order_id']}"
    assert answer.headers["X-Correlation-ID"] == body["correlation_id"]
    (sent,) = client.sent
    assert sent.type == "PlaceOrder" and sent.key == body["order_id"]
    assert sent.envelope.correlation_id == body["correlation_id"]
    assert str(sent.data["items"][0]["unit_price"]) == "19.99"
    assert sent.data["payment_scenario"] == "approve"


def test_idempotency_key_same_body_same_order_other_body_conflict(client, monkeypatch):
    read_model_holds(monkeypatch, {})
    headers = {"Idempotency-Key": "k-123"}
    first = client.post("/orders", json=VALID, headers=headers)
    again = client.post("/orders", json=VALID, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert len(client.sent) == 1
    other = client.post("/orders", json=_with("items.0.quantity", 3), headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in other.text
    assert len(client.sent) == 1


def test_a_key_not_remembered_whose_order_the_read_model_has_is_answered_not_placed(
    client, monkeypatch
):
    order_id = order_id_for("k-old")
    timeline = [
        {
            "event_type": "OrderCompleted",
            "occurred_at": "2026-01-01T00:05:00Z",
            "correlation_id": "c-2",
        },
        {
            "event_type": "OrderPlaced",
            "occurred_at": "2026-01-01T00:00:00Z",
            "correlation_id": "c-1",
        },
    ]
    read_model_holds(monkeypatch, {order_id: {"order_id": order_id, "timeline": timeline}})
    answer = client.post("/orders", json=VALID, headers={"Idempotency-Key": "k-old"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"order_id": order_id, "correlation_id": "c-1", "status": "PENDING"}
    assert client.sent == []  # a retired order is never placed again


def test_a_key_not_remembered_while_the_read_model_is_away_is_a_503_placing_nothing(
    client, monkeypatch
):
    async def cannot(*_args, **_kwargs):
        raise ConnectionTimeout("timed out")

    monkeypatch.setattr(client.app.state.services.es, "get", cannot)
    answer = client.post("/orders", json=VALID, headers={"Idempotency-Key": "k-away"})
    assert answer.status_code == 503 and "Elasticsearch" in answer.json()["detail"]
    assert client.sent == []
    read_model_holds(monkeypatch, {})  # back: the retry places the order
    assert (
        client.post("/orders", json=VALID, headers={"Idempotency-Key": "k-away"}).status_code == 202
    )
    assert len(client.sent) == 1


def _es_error(status: int) -> Exception:
    node = NodeConfig("http", "127.0.0.1", 9200)
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, node)
    return ApiError("no_shard_available_action_exception", meta, {})


@pytest.mark.parametrize(
    "failure",
    [
        # elastic-transport's ConnectionTimeout is not a ConnectionError: caught as one alone,
        # a timeout was a 500
        lambda: ConnectionTimeout("timed out"),
        # shards not allocated yet after a restart: was a 500 as well
        lambda: _es_error(503),
    ],
    ids=["timeout", "shards-unavailable"],
)
def test_an_elasticsearch_that_cannot_answer_is_a_503(client, monkeypatch, failure):
    async def cannot(*_args, **_kwargs):
        raise failure()

    es = client.app.state.services.es
    monkeypatch.setattr(es, "get", cannot)
    monkeypatch.setattr(es, "search", cannot)
    for path in ("/orders/some-order", "/orders?customer_id=alice", "/analytics/orders"):
        answer = client.get(path)
        assert answer.status_code == 503, (path, answer.text)
        assert "Elasticsearch unavailable" in answer.json()["detail"]


def test_a_query_elasticsearch_would_refuse_is_a_422_naming_the_parameter(client, monkeypatch):
    async def must_not_ask(*_args, **_kwargs):
        raise AssertionError("the query reached Elasticsearch")

    monkeypatch.setattr(client.app.state.services.es, "search", must_not_ask)
    for query, field in (("to=yesterday", "to"), ("from=2026-13-01", "from"), ("page=101", "page")):
        answer = client.get(f"/orders?{query}")
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["loc"] == ["query", field]


def test_a_query_elasticsearch_still_refuses_is_a_500_in_the_one_error_shape(client, monkeypatch):
    async def refuses(*_args, **_kwargs):
        raise _es_error(400)

    monkeypatch.setattr(client.app.state.services.es, "search", refuses)
    answer = client.get("/orders?customer_id=alice")
    assert answer.status_code == 500, answer.text
    assert set(answer.json()) == {"status", "title", "detail", "errors"}


@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.ConnectError("connection refused"),
        # what anyio raises when the worker dies while httpx connects (the crash test's 500)
        lambda: AttributeError("'NoneType' object has no attribute 'getpeername'"),
    ],
    ids=["refused", "killed-while-connecting"],
)
def test_a_worker_that_cannot_be_asked_is_a_503(client, monkeypatch, failure):
    async def cannot(*_args, **_kwargs):
        raise failure()

    services = client.app.state.services
    monkeypatch.setattr(services.inventory, "get", cannot)
    monkeypatch.setattr(services.analytics, "get", cannot)
    for path, worker in (("/inventory/SKU-1", "inventory"), ("/analytics/live", "analytics")):
        answer = client.get(path)
        assert answer.status_code == 503, (path, answer.text)
        assert f"{worker} worker unavailable" in answer.json()["detail"]
    # Kafka has the adjustment: accepted, though nobody can say yet what became of it
    assert client.post("/inventory/SKU-1/adjustments", json={"delta": 2}).status_code == 202


def test_a_date_whose_offset_leaves_years_1_to_9999_in_utc_still_reaches_elasticsearch(
    client, monkeypatch
):
    """Elasticsearch refused `to=9999-12-31T23:59:59-23:59` as text (year 10000 in UTC), a
    500 Schemathesis found; the bounds go as epoch milliseconds."""
    asked: dict = {}

    async def search(**kwargs):
        asked.update(kwargs)
        return {"hits": {"total": {"value": 0}, "hits": []}}

    monkeypatch.setattr(client.app.state.services.es, "search", search)
    answer = client.get("/orders", params={"to": "9999-12-31T23:59:59-23:59"})
    assert answer.status_code == 200, answer.text
    (bounds,) = [f["range"]["created_at"] for f in asked["query"]["bool"]["filter"]]
    assert bounds == {"lt": 253402387139000, "format": "epoch_millis"}
