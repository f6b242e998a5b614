"""Finished orders are retired from the agents' tables after the window (the test session
runs with ORDERFLOW_RETIRE_AFTER_S of tests/conftest.py, FAST), on the real stack, and a
retired order never comes back (DESIGN.md, "Over time and in operation"):

- the saga's, payment's, fulfillment's and analytics' (`counted`) tables delete the order's
  key (a tombstone on each changelog), while the read model keeps the order and its whole
  timeline;
- the same Idempotency-Key and body, sent to an API instance that never saw the key, answer
  the same order and place nothing (no second PlaceOrder);
- the original PlaceOrder, written to orders.commands again, is refused as too old
  (orders.commands.dlq) and the saga does not take the order up again;
- a cancel of the retired orders is refused 409: too late for the completed one, already
  cancelled for the cancelled one;
- while orders keep coming, Kafka compacts the retired order's records out of the saga's
  changelog (only its tombstone is left), so a restore no longer replays it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer, TopicPartition
from fastapi.testclient import TestClient

from orderflow import config, roles
from schemas import topics
from tests.conftest import FAST
from tests.factories import await_order, order_body, stock
from tests.kafka_reading import partition_ends, read_range, reader
from tests.unit.conftest import EVERY_SCOPE, configure_keys

pytestmark = pytest.mark.stack

WINDOW_S = float(FAST["ORDERFLOW_RETIRE_AFTER_S"])
TABLES = {
    "order": "orders",
    "payment": "payments",
    "fulfillment": "shipments",
    "analytics": "counted",  # the event types of the order already counted
}


def _changelog(settings: config.Settings, role: str) -> str:
    return f"{roles.app_id(settings.app_id, role)}-{TABLES[role]}-changelog"


def _ends(settings: config.Settings, names: list[str]) -> dict[TopicPartition, int]:
    consumer = reader(settings, "retirement-ends")
    try:
        return partition_ends(consumer, names)
    finally:
        consumer.close()


def _saga_knows(settings: config.Settings, order_id: str) -> bool:
    url = settings.worker_urls("order")[0]
    answer = httpx.get(f"{url}/orders/{order_id}/", timeout=10)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def _tombstoned(settings: config.Settings, starts: dict[TopicPartition, int]) -> set[tuple]:
    """(changelog, key) of every deletion written since `starts`."""
    return {
        (r.topic(), r.key().decode())
        for r in read_range(settings, starts)
        if r.value() is None and r.key()
    }


def _states_left(settings: config.Settings, starts: dict[TopicPartition, int], key: str) -> int:
    """Records of `key` with a value (not deletions) still in the saga's changelog."""
    saga = {tp: o for tp, o in starts.items() if tp.topic == _changelog(settings, "order")}
    return sum(
        1 for r in read_range(settings, saga) if r.key() and r.key().decode() == key and r.value()
    )


def test_a_finished_order_is_retired_and_never_comes_back(
    stack: config.Settings, api: httpx.Client, unique: str, tmp_path, monkeypatch
):
    changelogs = [_changelog(stack, role) for role in TABLES]
    starts = _ends(stack, [*changelogs, topics.ORDERS_COMMANDS.name, topics.ORDERS_COMMANDS.dlq])
    sku = f"RET-{unique}"
    assert stock(api, sku, 10).status_code == 200
    completed_body = order_body(sku, f"cust-ret-{unique}")
    key = f"retire-{unique}"
    placed = api.post("/orders", json=completed_body, headers={"Idempotency-Key": key})
    assert placed.status_code == 202, placed.text
    completed = placed.json()["order_id"]
    declined_body = {**order_body(sku, f"cust-ret-{unique}"), "payment": {"scenario": "decline"}}
    cancelled = api.post("/orders", json=declined_body).json()["order_id"]
    await_order(api, completed, lambda d: d["status"] == "COMPLETED", "did not complete")
    await_order(api, cancelled, lambda d: d["status"] == "CANCELLED", "was not cancelled")
    ended = time.monotonic()

    # retired from every table, once the window passed (and a sweep came by)
    deadline = ended + WINDOW_S + 60
    while _saga_knows(stack, completed) or _saga_knows(stack, cancelled):
        assert time.monotonic() < deadline, "the saga still holds its finished orders"
        time.sleep(1)
    assert time.monotonic() - ended >= WINDOW_S - 1, "retired before its window passed"
    wanted = {(_changelog(stack, role), completed) for role in TABLES}
    wanted |= {(_changelog(stack, role), cancelled) for role in ("order", "payment", "analytics")}
    while not wanted <= (deleted := _tombstoned(stack, starts)):
        assert time.monotonic() < deadline + 30, f"no tombstone for {wanted - deleted}"
        time.sleep(1)

    # the read model keeps them, timelines whole
    doc = await_order(api, completed, lambda d: d["status"] == "COMPLETED", "was lost")
    assert "OrderCompleted" in {entry["event_type"] for entry in doc["timeline"]}

    # the same key and body, on an API instance that never saw the key: the same order
    monkeypatch.setenv("ORDERFLOW_STATE_DIR", str(tmp_path))
    from api.app import app

    configure_keys(monkeypatch, tmp_path)
    with TestClient(app, headers=EVERY_SCOPE) as other_instance:
        again = other_instance.post(
            "/orders", json=completed_body, headers={"Idempotency-Key": key}
        )
        assert again.status_code == 202, again.text
        assert again.json()["order_id"] == completed
        refused = other_instance.post(f"/orders/{completed}/cancel")
        assert refused.status_code == 409 and "too late" in refused.json()["detail"]
        refused = other_instance.post(f"/orders/{cancelled}/cancel")
        assert refused.status_code == 409 and "already cancelled" in refused.json()["detail"]

    # the original PlaceOrder written again: refused as too old, the order stays retired
    commands = [
        r
        for r in read_range(
            stack, {tp: o for tp, o in starts.items() if tp.topic == "orders.commands.v1"}
        )
        if r.key() and r.key().decode() == completed
    ]
    place = [r for r in commands if dict(r.headers() or []).get("event_type") == b"PlaceOrder"]
    assert len(place) == 1, f"{len(place)} PlaceOrder records for {completed}"
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    producer.produce(
        topics.ORDERS_COMMANDS.name,
        key=place[0].key(),
        value=place[0].value(),
        headers=place[0].headers(),
    )
    assert producer.flush(30) == 0
    dlq_starts = {tp: o for tp, o in starts.items() if tp.topic == topics.ORDERS_COMMANDS.dlq}
    deadline = time.monotonic() + 60
    while True:
        parked: list[Any] = [
            r for r in read_range(stack, dlq_starts) if r.key() and r.key().decode() == completed
        ]
        if parked:
            break
        assert time.monotonic() < deadline, "the repeated PlaceOrder was not dead-lettered"
        time.sleep(1)
    assert dict(parked[0].headers())["error"] == b"too-old"
    assert not _saga_knows(stack, completed), "a retired order came back to life"

    # orders keep coming (every partition written again), and the retired order's states
    # are compacted out of the changelog
    assert _states_left(stack, starts, completed) > 0, "nothing of the order was written"
    deadline = time.monotonic() + 150
    while _states_left(stack, starts, completed):
        assert time.monotonic() < deadline, "the changelog still holds the retired order"
        assert api.post("/orders", json=order_body(sku, f"cust-ret-{unique}")).status_code == 202
        time.sleep(3)
