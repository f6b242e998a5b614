"""Avro through the real registry (Apicurio's Confluent-compatible API) and real Kafka."""

from __future__ import annotations

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from orderflow import config, kafka
from schemas import topics
from schemas.catalog import load_catalog
from schemas.codec import Codec, headers_for
from schemas.registry import SchemaRegistry
from tests.factories import place_order

pytestmark = pytest.mark.stack


def test_every_schema_is_registered_under_its_topic_record_subject(stack: config.Settings):
    subjects = set(httpx.get(f"{stack.registry_url}/subjects", timeout=10).json())
    for entry in load_catalog().values():
        assert entry.subject in subjects
        compat = httpx.get(f"{stack.registry_url}/config/{entry.subject}", timeout=10)
        assert compat.status_code == 200
        assert compat.json()["compatibilityLevel"] == "BACKWARD"


def test_round_trip_through_registry_and_kafka(stack: config.Settings):
    writer = Codec(SchemaRegistry(stack.registry_url))
    message = place_order()
    value = writer.encode(message)
    producer = Producer(kafka.producer_settings(stack.kafka_bootstrap))
    delivered = []
    producer.produce(
        message.topic,
        key=message.key.encode(),
        value=value,
        headers=list(headers_for(message)),
        on_delivery=lambda err, msg: delivered.append((err, msg)),
    )
    producer.flush(10)
    ((error, record),) = delivered
    assert error is None
    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": "test-rt",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(record.topic(), record.partition(), record.offset())])
    fetched = consumer.poll(10)
    consumer.close()
    assert fetched is not None and fetched.value() == value
    assert dict(fetched.headers())["event_type"] == b"PlaceOrder"
    # a reader that never saw the schema fetches it from the registry by id
    reader = Codec(SchemaRegistry(stack.registry_url))
    decoded = reader.decode(fetched.topic(), fetched.key().decode(), fetched.value())
    assert decoded.envelope == message.envelope
    assert decoded.data == {**message.data, "items": [dict(i) for i in message.data["items"]]}
    assert topics.BY_NAME[decoded.topic].key == "order_id"
