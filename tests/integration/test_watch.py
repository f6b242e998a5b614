"""`orderflow watch TOPIC` decodes Avro through the registry and prints one JSON line per
event with its key, partition, offset and headers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from orderflow import config
from tests.factories import accept_order

pytestmark = pytest.mark.stack

ORDERFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "orderflow"


def test_watch_prints_the_order_placed_event_decoded(
    stack: config.Settings, api: httpx.Client, unique: str
):
    accepted = accept_order(api, f"WATCH-{unique}", f"watcher-{unique}", "3.10", "BE")
    order_id, correlation_id = accepted["order_id"], accepted["correlation_id"]
    # the order agent has written OrderPlaced once the read model shows the order
    deadline = time.monotonic() + 60
    while api.get(f"/orders/{order_id}").status_code != 200:
        assert time.monotonic() < deadline, f"order {order_id} never reached the read model"
        time.sleep(0.2)

    watched = subprocess.run(
        [str(ORDERFLOW), "watch", "orders.events.v1", "--idle-timeout", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "ORDERFLOW_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "ORDERFLOW_REGISTRY_URL": stack.registry_url,
        },
    )
    assert watched.returncode == 0, watched.stderr
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines, "watch printed nothing"
    ours = [line for line in lines if line["key"] == order_id]
    placed = [line for line in ours if line["headers"]["event_type"] == "OrderPlaced"]
    assert len(placed) == 1, ours
    (line,) = placed
    assert line["topic"] == "orders.events.v1"
    assert isinstance(line["partition"], int) and isinstance(line["offset"], int)
    assert line["headers"]["correlation_id"] == correlation_id
    value = line["value"]
    assert value["envelope"]["correlation_id"] == correlation_id
    assert value["envelope"]["event_type"] == "OrderPlaced"
    assert value["order_id"] == order_id
    assert value["total_amount"] == "3.10"  # a decimal, shown as a string with two places
    assert value["items"] == [{"sku": f"WATCH-{unique}", "quantity": 1, "unit_price": "3.10"}]
    # every line of the topic is JSON with the same shape (decoded, or the decode error)
    assert all({"topic", "partition", "offset", "key", "headers"} <= line.keys() for line in lines)
