"""The ingress as a trust boundary (issue 14), in-process: keys and scopes, path parameters,
bodies the server cannot or should not read, the one error shape, the OpenAPI document, and
what the API reports of the deciders' answers. The same against the real stack, fuzzed, is
tests/integration/test_api_schema.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from api import keys
from api.limits import MAX_BODY_BYTES
from tests.unit.conftest import VALID, read_model_holds

ANONYMOUS = {"Authorization": ""}


# --- keys and scopes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/inventory/TSHIRT-M", {"on_hand": 5}),
        ("POST", "/inventory/TSHIRT-M/adjustments", {"delta": 5}),
        ("POST", "/orders", VALID),
        ("POST", "/orders/o-1/cancel", None),
        ("GET", "/orders/o-1", None),
        ("GET", "/orders", None),
        ("GET", "/inventory/TSHIRT-M", None),
        ("GET", "/analytics/orders", None),
    ],
)
def test_without_a_key_every_operation_is_a_401_and_nothing_is_sent(client, method, path, body):
    answer = client.request(method, path, json=body, headers=ANONYMOUS)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in answer.json()["detail"]
    wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["WWW-Authenticate"]
    assert client.sent == []


def test_a_key_without_the_scope_is_a_403_naming_it(client):
    reader = {"Authorization": "Bearer orders-reader-key"}
    answer = client.put("/inventory/TSHIRT-M", json={"on_hand": 5}, headers=reader)
    assert answer.status_code == 403, answer.text
    assert "inventory:write" in answer.json()["detail"] and "reader" in answer.json()["detail"]
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    assert client.post("/orders", json=VALID, headers=reader).status_code == 403
    assert client.sent == []


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs", "/metrics"])
def test_what_operators_and_browsers_need_is_open(client, path):
    assert client.get(path, headers=ANONYMOUS).status_code == 200


def test_keys_are_configured_as_digests_and_never_kept_in_clear():
    key = keys.new_key()
    line = keys.key_line("ci", key, [keys.ORDERS_READ])
    assert key not in line
    (parsed,) = keys.parse(line, "test")
    assert parsed.scopes == {keys.ORDERS_READ}
    assert keys.find([parsed], key) == parsed
    assert keys.find([parsed], key + "x") is None
    for bad in ("ci plain-key orders:read", "ci sha256:abcd orders:read", line + ",admin:all"):
        with pytest.raises(keys.KeyConfigError) as refused:
            keys.parse(bad, "test")
        assert key not in str(refused.value)


def test_a_development_key_is_written_mode_600_and_reused(tmp_path, monkeypatch):
    from ops import services
    from orderflow import config

    monkeypatch.delenv("ORDERFLOW_API_KEYS", raising=False)
    monkeypatch.delenv("ORDERFLOW_API_KEYS_FILE", raising=False)
    monkeypatch.setattr(services, "DEV_KEY", tmp_path / "api-key")
    settings = config.Settings(api_keys_file=tmp_path / "api-keys")
    first = services.development_key(settings)
    assert first and services.development_key(settings) == first
    for path in (tmp_path / "api-key", tmp_path / "api-keys"):
        assert path.stat().st_mode & 0o777 == 0o600
    (parsed,) = keys.configured("", tmp_path / "api-keys")
    assert parsed.scopes == set(keys.SCOPES) and keys.find([parsed], first)
    assert first not in (tmp_path / "api-keys").read_text()
    monkeypatch.setenv("ORDERFLOW_API_KEYS", "configured by the operator")
    assert services.development_key(settings) is None


# --- path parameters never reach a worker's URL unchecked ----------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/inventory/%2e%2e",
        "/inventory/%2e",
        "/inventory/A%0AB",
        "/inventory/" + "S" * 65,
        "/orders/%2e",
        "/orders/%2e%2e",
        "/orders/a%20b/timeline",
    ],
)
def test_a_path_parameter_outside_its_pattern_is_a_422_and_goes_nowhere(client, monkeypatch, path):
    async def must_not_ask(*_args, **_kwargs):
        raise AssertionError("forwarded")

    svc = client.app.state.services
    for target in (svc.inventory, svc.orders, svc.es):
        monkeypatch.setattr(target, "get", must_not_ask)
    answer = client.get(path)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][0] == "path"
    if path.startswith("/inventory"):
        put = client.put(path, json={"on_hand": 1})
        assert put.status_code == 422, put.text
    assert client.sent == []


# --- bodies --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/orders", json.dumps(VALID).replace('"19.99"', "NaN")),
        ("/orders", json.dumps(VALID).replace('"19.99"', "Infinity")),
        ("/inventory/SKU-1", '{"on_hand": NaN}'),
        ("/inventory/SKU-1", '{"on_hand": 5, "unit_price": -Infinity}'),
    ],
)
def test_a_bare_nan_or_infinity_is_a_422(client, path, raw):
    method = client.post if path == "/orders" else client.put
    answer = method(path, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert client.sent == []


def test_a_body_over_the_limit_is_a_413_before_it_is_read(client):
    big = {**VALID, "notes": "x" * MAX_BODY_BYTES}
    answer = client.post("/orders", json=big)
    assert answer.status_code == 413, answer.text
    assert str(MAX_BODY_BYTES) in answer.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * (MAX_BODY_BYTES // 4)

    chunked = client.post("/orders", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    assert client.sent == []


def test_a_422_echoes_no_more_than_a_short_prefix(client):
    answer = client.post("/orders", json={**VALID, "customer_id": "y" * 60_000})
    assert answer.status_code == 422
    assert len(answer.content) < 2_000, len(answer.content)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/inventory/SKU-1", {"on_hand": 1_000_000_001}, "on_hand"),
        ("/inventory/SKU-1", {"on_hand": -1}, "on_hand"),
        ("/inventory/SKU-1/adjustments", {"delta": 1_000_000_001}, "delta"),
        ("/inventory/SKU-1", {"on_hand": 5, "unit_price": "1.999"}, "unit_price"),
        ("/inventory/SKU-1", {"on_hand": 5, "unit_price": "1", "currency": "XXX"}, "currency"),
    ],
)
def test_stock_and_prices_have_documented_bounds(client, path, body, field):
    method = client.put if "adjustments" not in path else client.post
    answer = method(path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][-1] == field
    assert client.sent == []


def test_a_whole_number_float_is_an_integer(client, monkeypatch):
    _worker_answers(client, monkeypatch, {"outcome": "applied", "reason": None})
    answer = client.put("/inventory/SKU-1", json={"on_hand": 5.0})
    assert answer.status_code == 200, answer.text
    assert client.sent[0].data["set_on_hand"] == 5


def test_an_empty_idempotency_key_is_a_422(client):
    answer = client.post("/orders", json=VALID, headers={"Idempotency-Key": ""})
    assert answer.status_code == 422, answer.text
    assert client.sent == []


# --- one error shape, an honest OpenAPI document ----------------------------------------------
def test_every_error_has_one_shape(client):
    answers = [
        client.post("/orders", json={}),  # 422
        client.get("/nowhere"),  # 404 of the router
        client.put("/orders", json={}),  # 405
        client.get("/orders", headers=ANONYMOUS),  # 401
    ]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"status", "title", "detail", "errors"}, body
        assert body["status"] == answer.status_code and isinstance(body["detail"], str)


def test_a_405_names_every_method_the_path_allows(client):
    answer = client.put("/orders", json={})
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_the_openapi_document_names_the_scheme_and_every_status():
    from api.app import app

    document = app.openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"401", "403", "422"} <= statuses, (method, path, statuses)
            assert operation.get("security"), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    order = document["components"]["schemas"]["PlaceOrderRequest"]["properties"]
    assert "XXX" not in order["currency"]["enum"] and "EUR" in order["currency"]["enum"]


# --- what the API reports of the deciders' answers ------------------------------------------
def _worker_answers(client, monkeypatch, adjustment: dict[str, Any] | None) -> None:
    class Answer:
        status_code = 200

        def __init__(self, body: dict[str, Any]) -> None:
            self.body = body

        def json(self) -> dict[str, Any]:
            return self.body

    async def get(path, params=None):
        view = {"sku": "SKU-1", "on_hand": 5, "reserved": 2, "available": 3}
        view |= {"unit_price": None, "currency": None}
        if params and adjustment is not None:
            event_id = client.sent[-1].envelope.event_id
            view["adjustment"] = {"event_id": event_id, **adjustment}
        return Answer(view)

    monkeypatch.setattr(client.app.state.services.inventory, "get", get)


def test_a_stock_change_the_inventory_refuses_is_a_409_with_its_reason(client, monkeypatch):
    reason = "on_hand would be 1, below the 2 units reserved"
    _worker_answers(client, monkeypatch, {"outcome": "refused", "reason": reason})
    answer = client.put("/inventory/SKU-1", json={"on_hand": 1})
    assert answer.status_code == 409, answer.text
    assert reason in answer.json()["detail"]
    (sent,) = client.sent  # the API did not decide: it asked the inventory
    assert sent.type == "AdjustStock" and sent.data["set_on_hand"] == 1


def test_a_price_of_record_goes_with_the_stock(client, monkeypatch):
    _worker_answers(client, monkeypatch, {"outcome": "applied", "reason": None})
    answer = client.put(
        "/inventory/SKU-1", json={"on_hand": 5, "unit_price": "19.99", "currency": "EUR"}
    )
    assert answer.status_code == 200, answer.text
    (sent,) = client.sent
    assert str(sent.data["unit_price"]) == "19.99" and sent.data["currency"] == "EUR"


def _saga_answers(client, monkeypatch, views: list[dict[str, Any] | None]) -> None:
    """The order worker's page: each ask takes the next view (the last one repeats);
    `refused` in a view stands for this request's own cancel event id."""

    class Answer:
        def __init__(self, body: dict[str, Any] | None) -> None:
            self.status_code = 404 if body is None else 200
            self.body = body if body is not None else {"detail": "unknown order"}

        def json(self) -> dict[str, Any]:
            return self.body

    remaining = list(views)

    async def get(path, params=None):
        view = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if view is None:
            return Answer(None)
        mine = client.sent[-1].envelope.event_id if client.sent else None
        refused = {mine: view["refused"]} if view.get("refused") and mine else {}
        decided = {"cancelled_by": [mine]} if view.get("cancelled") and mine else {}
        base = {"order_id": "o-1", "stage": "X", "cancel_reason": None, "cancelled_by": []}
        return Answer({**base, **view, "cancel_refused": refused, **decided})

    monkeypatch.setattr(client.app.state.services.orders, "get", get)


def test_a_cancel_right_after_the_202_is_the_sagas_to_decide(client, monkeypatch):
    async def not_indexed_yet(*_args, **_kwargs):
        from elasticsearch import NotFoundError

        raise NotFoundError("not found", None, {})  # type: ignore[arg-type]

    monkeypatch.setattr(client.app.state.services.es, "get", not_indexed_yet)
    _saga_answers(
        client,
        monkeypatch,
        [
            None,  # the saga has not read the PlaceOrder yet
            {"status": "PENDING"},
            {"status": "CANCELLED", "cancel_reason": "CUSTOMER_REQUEST", "cancelled": True},
        ],
    )
    answer = client.post("/orders/o-1/cancel")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELLED"
    assert [m.type for m in client.sent] == ["CancelOrder"]


@pytest.mark.parametrize(
    ("view", "words"),
    [
        ({"status": "SHIPPED", "refused": "TOO_LATE"}, "too late"),
        (
            {
                "status": "CANCELLED",
                "cancel_reason": "OUT_OF_STOCK",
                "refused": "ALREADY_CANCELLED",
            },
            "already cancelled (OUT_OF_STOCK)",
        ),
    ],
)
def test_a_cancel_the_saga_refuses_is_a_409(client, monkeypatch, view, words):
    _saga_answers(client, monkeypatch, [view])
    answer = client.post("/orders/o-1/cancel")
    assert answer.status_code == 409, answer.text
    assert words in answer.json()["detail"]


def test_a_cancel_of_an_order_nobody_knows_is_a_404(client, monkeypatch):
    _saga_answers(client, monkeypatch, [None])
    started = time.monotonic()
    answer = client.post("/orders/never-placed/cancel")
    assert answer.status_code == 404 and client.sent == []
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("status", "words"), [("COMPLETED", "too late"), ("CANCELLED", "already cancelled")]
)
def test_a_cancel_of_an_order_retired_from_the_saga_is_refused_from_the_read_model(
    client, monkeypatch, status, words
):
    _saga_answers(client, monkeypatch, [None])
    read_model_holds(monkeypatch, {"o-old": {"order_id": "o-old", "status": status}})
    answer = client.post("/orders/o-old/cancel")
    assert answer.status_code == 409 and words in answer.json()["detail"]
    assert client.sent == []


# --- wait_for knows the way an order goes ---------------------------------------------------
@pytest.mark.parametrize(
    ("shown", "wanted"),
    [("CONFIRMED", "PENDING"), ("COMPLETED", "CANCELLED"), ("CANCELLED", "SHIPPED")],
)
def test_wait_for_answers_at_once_when_waiting_is_pointless(client, monkeypatch, shown, wanted):
    async def get(*_args, **_kwargs):
        return {"_source": {"order_id": "o-1", "status": shown, "timeline": []}}

    monkeypatch.setattr(client.app.state.services.es, "get", get)
    started = time.monotonic()
    answer = client.get("/orders/o-1", params={"wait_for": wanted, "timeout": 30})
    assert answer.status_code == 200 and answer.json()["status"] == shown
    assert time.monotonic() - started < 2
    assert client.get("/orders/o-1", params={"wait_for": "NONSENSE"}).status_code == 422


def test_once_the_cancel_is_in_kafka_a_worker_away_is_a_202_not_a_503(client, monkeypatch):
    """A 503 here made the crash test's client send the cancel again, and its second cancel
    was refused as "already cancelled" (409) for an order its first one had cancelled."""
    import httpx

    _saga_answers(client, monkeypatch, [{"status": "PENDING"}])
    asked = client.app.state.services.orders.get

    async def dies_after_the_first(*args, **kwargs):
        if client.sent:
            raise httpx.ConnectError("the order worker was killed")
        return await asked(*args, **kwargs)

    monkeypatch.setattr(client.app.state.services.orders, "get", dies_after_the_first)
    answer = client.post("/orders/o-1/cancel")
    assert answer.status_code == 202, answer.text
    assert [m.type for m in client.sent] == ["CancelOrder"]
