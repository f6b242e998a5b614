"""No record can wedge a consumer. Raw poison goes into every partition of every topic an
agent or the indexer reads: bytes that are not Confluent-framed Avro, a frame naming a schema
id the registry never issued, and a frame with a known schema id whose body is cut short.
Each consumer parks every one of them on `<topic>.dlq` untouched, with headers saying why and
where it came from, and an order placed afterwards (so behind the poison in every partition it
uses) still runs its saga."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import fastavro
import httpx
import pytest
from confluent_kafka import Producer, TopicPartition

from indexer.main import GROUP_ID as INDEXER
from orderflow import config, kafka, roles
from schemas import topics
from schemas.catalog import load_catalog
from schemas.events import command
from schemas.registry import SchemaRegistry
from tests.factories import await_order, stock
from tests.kafka_reading import partition_ends, reader

pytestmark = pytest.mark.stack

AGENT_INPUTS = tuple(topics.BY_NAME[name] for role in roles.ROLES for name in role.inputs)
INDEXER_INPUTS = topics.ORDER_EVENT_TOPICS
UNKNOWN_SCHEMA_ID = 999_999_999
REACHED_FULFILLMENT = {"FULFILLMENT_SCHEDULED", "SHIPPED", "DELIVERED", "COMPLETED"}
SAGA_UP_TO_FULFILLMENT = [
    "OrderPlaced",
    "StockReserved",
    "PaymentAuthorized",
    "OrderConfirmed",
    "FulfillmentScheduled",
]


@dataclass(frozen=True)
class Poison:
    kind: str  # the `error` header a consumer must give it
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def consumers_of(topic: str, base_app_id: str) -> set[str]:
    """Consumer groups that read `topic`: each worker role's Faust app and/or the indexer."""
    readers = {roles.app_id(base_app_id, role) for role in roles.readers_of(topic)}
    if topic in {spec.name for spec in INDEXER_INPUTS}:
        readers.add(INDEXER)
    return readers


def _envelope_only(topic: str, marker: str) -> bytes:
    """The Avro body of just an envelope: a real record of this topic cut short after it."""
    entry = next(e for e in load_catalog().values() if e.topic == topic)
    envelope = command(entry.name, topic, marker, {}, marker, "poison-test").envelope
    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer, fastavro.parse_schema(entry.schema["fields"][0]["type"]), envelope.to_avro()
    )
    return buffer.getvalue()


def _registered_id(registry: SchemaRegistry, topic: str) -> int:
    entry = next(e for e in load_catalog().values() if e.topic == topic)
    latest = registry.latest(entry.subject)
    assert latest is not None, f"{entry.subject} is not registered"
    return latest[0].schema_id


def _poison_values(
    registry: SchemaRegistry, topic: str, marker: str
) -> Iterator[tuple[str, bytes]]:
    yield "not-confluent-avro", f"not avro at all: {marker}".encode()
    yield "unknown-schema-id", b"\x00" + UNKNOWN_SCHEMA_ID.to_bytes(4, "big") + marker.encode()
    known = _registered_id(registry, topic).to_bytes(4, "big")
    yield "invalid-avro", b"\x00" + known + _envelope_only(topic, marker)


def _produce_poison(stack: config.Settings, run: str) -> list[Poison]:
    registry = SchemaRegistry(stack.registry_url)
    producer = Producer(kafka.producer_settings(stack.kafka_bootstrap))
    metadata = producer.list_topics(timeout=10).topics
    delivered: list[Poison] = []
    failures: list[str] = []

    def on_delivery(kind: str, error: Any, record: Any) -> None:
        if error is not None:
            failures.append(f"{record.topic()}: {error}")
            return
        delivered.append(
            Poison(
                kind,
                record.topic(),
                record.partition(),
                record.offset(),
                record.key(),
                record.value(),
            )
        )

    source_topics = sorted({spec.name for spec in (*AGENT_INPUTS, *INDEXER_INPUTS)})
    for topic in source_topics:
        for partition in metadata[topic].partitions:
            marker = f"poison-{run}-{topic}-{partition}"
            for kind, value in _poison_values(registry, topic, marker):
                producer.produce(
                    topic,
                    key=marker.encode(),
                    value=value,
                    partition=partition,
                    on_delivery=partial(on_delivery, kind),
                )
    assert producer.flush(30) == 0 and not failures, failures
    registry.close()
    return delivered


def _place_order(api: httpx.Client, sku: str) -> dict:
    stocked = stock(api, sku, 5, price="7.50")
    assert stocked.status_code in (200, 202), stocked.text
    accepted = api.post(
        "/orders",
        json={
            "customer_id": "poison-survivor",
            "customer_email": "survivor@example.com",
            "currency": "EUR",
            "items": [{"sku": sku, "quantity": 2, "unit_price": "7.50"}],
            "shipping_address": {"country": "NL", "city": "Utrecht"},
            "payment": {"method": "card", "scenario": "approve"},
        },
    )
    assert accepted.status_code == 202, accepted.text
    return dict(accepted.json())


def _await_fulfillment(api: httpx.Client, order_id: str) -> dict:
    def reached(doc: dict) -> bool:
        events = {entry["event_type"] for entry in doc["timeline"]}
        assert doc["status"] != "CANCELLED", f"order {order_id} was cancelled: {doc}"
        return doc["status"] in REACHED_FULFILLMENT and set(SAGA_UP_TO_FULFILLMENT) <= events

    return await_order(
        api, order_id, reached, "placed after the poison never reached FULFILLMENT_SCHEDULED"
    )


def test_poison_in_every_input_topic_is_dead_lettered_and_processing_continues(
    stack: config.Settings, api: httpx.Client, unique: str
):
    agents = stack.app_id
    poison_topics = sorted({spec.name for spec in (*AGENT_INPUTS, *INDEXER_INPUTS)})
    dlq_topics = [f"{topic}.dlq" for topic in poison_topics]
    dlq_reader = reader(stack, "poison-test")
    try:
        starts = partition_ends(dlq_reader, dlq_topics)
        poison = _produce_poison(stack, unique)
        assert {(p.topic, p.kind) for p in poison} == {
            (topic, kind)
            for topic in poison_topics
            for kind in ("not-confluent-avro", "unknown-schema-id", "invalid-avro")
        }

        # a valid order behind the poison in every partition it touches
        sku = f"POISON-{unique}"
        accepted = _place_order(api, sku)
        doc = _await_fulfillment(api, accepted["order_id"])
        lifecycle = [e["event_type"] for e in doc["timeline"]]
        for event_type in SAGA_UP_TO_FULFILLMENT:
            assert lifecycle.count(event_type) == 1, lifecycle
        assert {e["correlation_id"] for e in doc["timeline"]} == {accepted["correlation_id"]}

        # every consumer of every topic parked every poison record, untouched
        expected = {
            (p.topic, p.partition, p.offset, consumer): p
            for p in poison
            for consumer in consumers_of(p.topic, agents)
        }
        found: dict[tuple[str, str, int, int, str], dict[str, bytes]] = {}
        wrong: list[str] = []
        ours = {(p.topic, p.partition, p.offset): p for p in poison}
        valid_keys = {accepted["order_id"].encode(), sku.encode()}
        dlq_reader.assign([TopicPartition(tp.topic, tp.partition, o) for tp, o in starts.items()])
        deadline = time.monotonic() + 90
        while not expected.keys() <= found.keys() and time.monotonic() < deadline:
            record = dlq_reader.poll(0.5)
            if record is None or record.error():
                continue
            headers = {name: value for name, value in record.headers() or []}
            if record.key() in valid_keys:
                wrong.append(f"a record of the valid order was dead-lettered: {headers}")
            try:
                source = (
                    headers["source_topic"].decode(),
                    int(headers["source_partition"]),
                    int(headers["source_offset"]),
                )
            except (KeyError, ValueError):
                wrong.append(f"{record.topic()}@{record.offset()} lacks source headers: {headers}")
                continue
            poisoned = ours.get(source)
            if poisoned is None:
                continue  # someone else's dead letter
            consumer = headers.get("consumer", b"").decode()
            found[(*source, consumer)] = headers
            if record.topic() != f"{poisoned.topic}.dlq":
                wrong.append(f"{source} parked on {record.topic()}")
            if record.value() != poisoned.value or record.key() != poisoned.key:
                wrong.append(f"{source} was not parked untouched by {consumer}")
            if headers.get("error") != poisoned.kind.encode():
                wrong.append(f"{source} ({poisoned.kind}) parked with error={headers.get('error')}")
            if not headers.get("error_detail"):
                wrong.append(f"{source} parked without error_detail")
        missing = sorted(
            f"{topic}[{partition}]@{offset} {expected[(topic, partition, offset, c)].kind} by {c}"
            for (topic, partition, offset, c) in expected.keys() - found.keys()
        )
        assert not missing, f"{len(missing)} poison records never reached a DLQ: {missing[:20]}"
        assert not wrong, wrong[:20]
        known = {roles.app_id(agents, role) for role in roles.NAMES} | {INDEXER}
        unexpected = {key[3] for key in found} - known
        assert not unexpected, f"dead letters from unknown consumers: {unexpected}"
    finally:
        dlq_reader.close()
