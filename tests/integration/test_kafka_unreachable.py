"""POST /orders answers 503 within a few seconds when Kafka cannot be reached, never hangs,
and accepts nothing. The API runs in-process against the real registry and a Kafka address
where no broker listens."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from orderflow import config
from tests.unit.conftest import EVERY_SCOPE, VALID, configure_keys

pytestmark = pytest.mark.stack


def test_kafka_down_means_503_not_a_hang(stack: config.Settings, tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("ORDERFLOW_PRODUCE_TIMEOUT_S", "2")
    monkeypatch.setenv("ORDERFLOW_STATE_DIR", str(tmp_path))
    from api.app import app

    configure_keys(monkeypatch, tmp_path)
    with TestClient(app, headers=EVERY_SCOPE) as client:
        started = time.monotonic()
        answer = client.post("/orders", json=VALID, headers={"Idempotency-Key": "down-1"})
        elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert "Kafka" in answer.json()["detail"]
    assert elapsed < 10, f"took {elapsed:.1f}s"
    # the key was not remembered: a retry once Kafka is back creates the order
    from api.idempotency import IdempotencyStore

    store = IdempotencyStore(tmp_path / "api-idempotency", config.IDEMPOTENCY_WINDOW_S)
    assert store.recall("down-1", "any") is None
    store.close()
