"""The API in-process (FastAPI's TestClient) with publishing recorded instead of sent, and
keys configured: `client` sends a key with every scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import keys
from schemas.events import Message

VALID = {
    "customer_id": "alice",
    "customer_email": "alice@example.com",
    "currency": "EUR",
    "items": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}],
    "shipping_address": {"country": "NL", "city": "Amsterdam"},
}


KEYS = {
    "all": ("every-scope-key", keys.SCOPES),
    "reader": ("orders-reader-key", [keys.ORDERS_READ, keys.INVENTORY_READ]),
}


EVERY_SCOPE = {"Authorization": "Bearer every-scope-key"}


def configure_keys(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The API process's keys: KEYS, and no keys file."""
    monkeypatch.setenv(
        "ORDERFLOW_API_KEYS",
        ";".join(keys.key_line(name, key, scopes) for name, (key, scopes) in KEYS.items()),
    )
    monkeypatch.setenv("ORDERFLOW_API_KEYS_FILE", str(tmp_path / "no-such-file"))


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERFLOW_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ORDERFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing may be sent
    configure_keys(monkeypatch, tmp_path)
    from api import app as api_app

    sent: list[Message] = []

    async def record(self, message: Message) -> None:
        sent.append(message)

    monkeypatch.setattr(api_app.Services, "publish", record)
    with TestClient(api_app.app, headers=EVERY_SCOPE) as test_client:
        test_client.sent = sent  # type: ignore[attr-defined]
        yield test_client


def read_model_holds(monkeypatch: pytest.MonkeyPatch, orders: dict[str, dict]) -> None:
    """The read model, as POST /orders asks it about an Idempotency-Key it does not remember
    (api/idempotency.py): it holds these order documents and no other."""
    from api.routes import orders as routes

    async def read_order(_svc: object, order_id: str) -> dict | None:
        return orders.get(order_id)

    monkeypatch.setattr(routes, "read_order", read_order)
