"""History is kept (DESIGN.md, "Over time and in operation"): the history topics and every
dead-letter topic keep every record, command and reply topics keep theirs at least the
idempotency window; `orderflow init` corrects topics made with other settings; and a rebuild
after the broker's default retention has passed still finds every order."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from functools import partial

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from elasticsearch import Elasticsearch

from ops import admin
from orderflow import config, kafka
from orderflow.config import REPO_ROOT
from schemas import topics
from tests.conftest import RETENTION_CHECK_MS
from tests.factories import await_order, post_order, stock
from tests.kafka_reading import reader

pytestmark = pytest.mark.stack

ORDERFLOW = REPO_ROOT / ".venv" / "bin" / "orderflow"
KEPT = [
    name for spec in topics.ALL for name in ((spec.name,) if spec.history else ()) + (spec.dlq,)
]
BOUNDED = [spec.name for spec in topics.ALL if not spec.history]
RETENTION_CHECK_S = int(RETENTION_CHECK_MS) / 1000


def _retention(admin_client: AdminClient, names: list[str]) -> dict[str, str]:
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    described = admin_client.describe_configs(resources)
    return {r.name: future.result()["retention.ms"].value for r, future in described.items()}


def _alter(admin_client: AdminClient, resource: ConfigResource) -> None:
    for future in admin_client.incremental_alter_configs([resource]).values():
        future.result()


def test_every_topic_keeps_what_the_contract_says(stack: config.Settings):
    admin_client = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    retention = _retention(admin_client, KEPT + BOUNDED)
    assert {name: retention[name] for name in KEPT} == {name: "-1" for name in KEPT}
    for name in BOUNDED:
        assert int(retention[name]) >= config.IDEMPOTENCY_WINDOW_S * 1000, (name, retention)


def test_init_corrects_topics_made_before_the_contract(stack: config.Settings):
    """Today's topics, made with the broker's default (no setting of their own) or another
    value, are corrected by `orderflow init`'s step; a second run changes nothing."""
    admin_client = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    as_before = {
        topics.ORDERS_EVENTS.name: AlterConfigOpType.DELETE,  # the broker's default
        topics.PAYMENTS_EVENTS.dlq: AlterConfigOpType.SET,
        topics.ORDERS_COMMANDS.name: AlterConfigOpType.SET,
    }
    for name, operation in as_before.items():
        entry = ConfigEntry("retention.ms", "3600000", incremental_operation=operation)
        _alter(admin_client, ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry]))
    before = _retention(admin_client, list(as_before))
    assert before[topics.ORDERS_EVENTS.name] == "604800000"  # the broker's 7 days
    assert before[topics.PAYMENTS_EVENTS.dlq] == "3600000"

    created, corrected = admin.create_topics(stack)

    assert created == []
    assert set(corrected) >= set(as_before), corrected
    command_ms = str(int(stack.command_retention_s * 1000))
    assert _retention(admin_client, list(as_before)) == {
        topics.ORDERS_EVENTS.name: "-1",
        topics.PAYMENTS_EVENTS.dlq: "-1",
        topics.ORDERS_COMMANDS.name: command_ms,
    }
    assert admin.create_topics(stack) == ([], {})


@pytest.fixture
def short_broker_default(stack: config.Settings) -> Iterator[AdminClient]:
    """Every broker's default retention made 3 s and its segments rolled every second
    (dynamic settings, as an operator would change them), for one test; put back afterwards."""
    admin_client = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    shortened = {"log.retention.ms": "3000", "log.roll.ms": "1000"}
    brokers = [str(node) for node in admin_client.list_topics(timeout=10).brokers]

    def change(operation: AlterConfigOpType) -> None:
        entries = [
            ConfigEntry(key, value, incremental_operation=operation)
            for key, value in shortened.items()
        ]
        for node in brokers:
            resource = ConfigResource(ResourceType.BROKER, node, incremental_configs=entries)
            _alter(admin_client, resource)

    change(AlterConfigOpType.SET)
    try:
        yield admin_client
    finally:
        change(AlterConfigOpType.DELETE)


def _low_watermarks(consumer: Consumer, names: list[str], partitions: int) -> dict[str, int]:
    lows = {}
    for name in names:
        for partition in range(partitions):
            ask = partial(consumer.get_watermark_offsets, TopicPartition(name, partition), 10)
            low, _ = kafka.eventually(f"watermarks of {name}", ask, 30)
            lows[f"{name}[{partition}]"] = int(low)
    return lows


def test_a_rebuild_after_the_default_retention_still_has_every_order(
    stack: config.Settings,
    api: httpx.Client,
    unique: str,
    short_broker_default: AdminClient,
):
    sku = f"KEPT-{unique}"
    assert stock(api, sku, 10, price="1.99").status_code == 200
    placed = [post_order(api, sku, "historian", price="1.99", country="DE") for _ in range(3)]
    done = {
        order_id: await_order(
            api, order_id, lambda d: d["status"] == "COMPLETED" and len(d["timeline"]) >= 15, "?"
        )
        for order_id in placed
    }
    consumer = reader(stack, "history-kept")
    kept_lows = _low_watermarks(consumer, KEPT, stack.partitions)

    # a topic with no retention of its own, beside ours: the broker deletes its records
    control = f"retention-control-{unique}"
    kafka.ensure_topics(stack.kafka_bootstrap, 1, {control: {}})
    producer = Producer(kafka.producer_settings(stack.kafka_bootstrap))
    deadline = time.monotonic() + 400  # a stack started outside the tests checks every 5 min
    while _low_watermarks(consumer, [control], 1)[f"{control}[0]"] == 0:
        assert time.monotonic() < deadline, "the broker never applied its default retention"
        producer.produce(control, value=b"x")
        producer.flush(10)
        time.sleep(0.5)
    # one more order after the records above expired: every history topic rolls a segment
    post_order(api, sku, "historian", price="1.99", country="DE")
    time.sleep(2 * RETENTION_CHECK_S)  # past another look for expired segments
    assert _low_watermarks(consumer, KEPT, stack.partitions) == kept_lows
    consumer.close()

    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    es.indices.refresh(index=stack.orders_alias)
    known = es.count(index=stack.orders_alias)["count"]
    rebuilt = subprocess.run(
        [str(ORDERFLOW), "rebuild"], capture_output=True, text=True, timeout=600, check=False
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    (new_index,) = es.indices.get_alias(name=stack.orders_alias).body
    es.indices.refresh(index=new_index)
    assert es.count(index=new_index)["count"] >= known
    for order_id, document in done.items():
        assert es.get(index=new_index, id=order_id)["_source"] == document
    short_broker_default.delete_topics([control])
