"""Reading what is in Kafka, for the integration tests: where partitions end now, and every
record from given offsets up to those ends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from functools import partial

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Message as KafkaRecord

from orderflow import config, kafka


def reader(settings: config.Settings, purpose: str) -> Consumer:
    """A consumer of its own group, committing nothing."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{purpose}-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )


def partition_ends(consumer: Consumer, names: Iterable[str]) -> dict[TopicPartition, int]:
    """The next offset of every partition of the topics, now. A partition whose leadership is
    moving (a broker died or came back) is asked again, for 30 s at most: librdkafka does not
    flag NOT_LEADER_FOR_PARTITION as retriable there, so every error is asked again."""
    metadata = consumer.list_topics(timeout=10).topics
    ends = {}
    for name in names:
        assert name in metadata, f"{name} does not exist (orderflow init creates it)"
        for partition in metadata[name].partitions:
            tp = TopicPartition(name, partition)
            ask = partial(consumer.get_watermark_offsets, tp, timeout=10)
            ends[tp] = int(kafka.eventually(f"the end of {name} [{partition}]", ask, 30)[1])
    return ends


def read_range(
    settings: config.Settings, starts: dict[TopicPartition, int], timeout_s: float = 120
) -> list[KafkaRecord]:
    """Every record from `starts` up to where each of those partitions ends now, in the order
    they arrive (per partition: offset order)."""
    consumer = reader(settings, "range-reader")
    try:
        ends = partition_ends(consumer, {tp.topic for tp in starts})
        left = {tp for tp, end in ends.items() if tp in starts and end > starts[tp]}
        consumer.assign([TopicPartition(tp.topic, tp.partition, off) for tp, off in starts.items()])
        records = []
        deadline = time.monotonic() + timeout_s
        while left:
            assert time.monotonic() < deadline, f"could not read to the end of {sorted(left)}"
            record = consumer.poll(0.5)
            if record is None or record.error():
                continue
            tp = TopicPartition(record.topic(), record.partition())
            if record.offset() < ends[tp]:
                records.append(record)
            if record.offset() + 1 >= ends[tp]:
                left.discard(tp)
        return records
    finally:
        consumer.close()
