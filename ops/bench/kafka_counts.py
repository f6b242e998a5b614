"""What the bench counts in Kafka: the broker's own throughput for records of the
pipeline's mean event size (the hardware baseline), the records in every topic, the records
each worker consumer group has finished (committed offsets), and every group's lag, which
says when the pipeline has caught up after a load."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError

from indexer.main import GROUP_ID as INDEXER_GROUP
from ops import admin
from orderflow import config, kafka, roles

BASELINE_TOPIC = "bench.baseline"


def _reader(settings: config.Settings) -> Any:
    """A consumer of its own group that commits nothing (the bench only reads)."""
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def mean_event_size(settings: config.Settings, sample: int = 2000) -> int:
    """Mean value size of the last records of the pipeline's event topics (400 if none)."""
    from confluent_kafka import TopicPartition

    consumer = _reader(settings)
    sizes: list[int] = []
    try:
        for topic in ("orders.events.v1", "inventory.events.v1", "payments.events.v1"):
            tps = []
            for partition in range(settings.partitions):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                start = max(low, high - sample // (3 * settings.partitions))
                if high > start:
                    tps.append(TopicPartition(topic, partition, start))
            if not tps:
                continue
            consumer.assign(tps)
            wanted = len(sizes) + sample // 3
            deadline = time.monotonic() + 10
            while len(sizes) < wanted and time.monotonic() < deadline:
                for message in consumer.consume(500, timeout=1.0):
                    value = None if message.error() else message.value()
                    if value:
                        sizes.append(len(value))
    finally:
        consumer.close()
    return round(statistics.mean(sizes)) if sizes else 400


@dataclass
class Baseline:
    record_bytes: int
    records: int
    produce_per_s: float
    consume_per_s: float


def _high_watermarks(settings: config.Settings) -> dict[int, int]:
    from confluent_kafka import TopicPartition

    wanted = [TopicPartition(BASELINE_TOPIC, p) for p in range(settings.partitions)]
    return {p: end for (_, p), end in _ends(settings, wanted).items()}


def baseline(settings: config.Settings, record_bytes: int, records: int = 300_000) -> Baseline:
    """The broker's own throughput here, for records of the pipeline's size."""
    from confluent_kafka import Producer, TopicPartition

    kafka.ensure_topics(
        settings.kafka_bootstrap, settings.partitions, {BASELINE_TOPIC: {"retention.ms": "600000"}}
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 262144,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    starts = _high_watermarks(settings)  # consume back exactly what this run produced
    payload = os.urandom(record_bytes)
    started = time.perf_counter()
    admin.fill(producer, BASELINE_TOPIC, payload, records)
    produced = time.perf_counter() - started

    consumer = _reader(settings)
    consumer.assign([TopicPartition(BASELINE_TOPIC, p, offset) for p, offset in starts.items()])
    got = 0
    started = time.perf_counter()
    deadline = started + 120
    while got < records and time.perf_counter() < deadline:
        got += sum(1 for m in consumer.consume(10000, timeout=1.0) if not m.error())
    consumed = time.perf_counter() - started
    consumer.close()
    return Baseline(record_bytes, records, records / produced, got / consumed)


def _worker_groups(settings: config.Settings) -> set[str]:
    return {roles.app_id(settings.app_id, role) for role in roles.NAMES}


def _committed(settings: config.Settings, ours: set[str]) -> dict[str, list[Any]]:
    """The committed offsets of those of `ours` consumer groups that exist."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    client = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    groups = [
        g.group_id
        for g in client.list_consumer_groups().result(timeout=10).valid
        if g.group_id in ours
    ]
    committed: dict[str, list[Any]] = {}
    for group in groups:
        request = [ConsumerGroupTopicPartitions(group)]
        answer = client.list_consumer_group_offsets(request)[group].result(timeout=10)
        committed[group] = [tp for tp in answer.topic_partitions if tp.offset >= 0]
    return committed


def records_handled(settings: config.Settings) -> dict[str, int]:
    """Per worker consumer group, the records it has finished, all time (committed offsets)."""
    committed = _committed(settings, _worker_groups(settings))
    return {group: sum(tp.offset for tp in tps) for group, tps in committed.items()}


def consumer_lag(settings: config.Settings) -> dict[str, int]:
    """Records not yet committed by each of OrderFlow's consumer groups (the workers' and the
    indexer's), from their committed offsets and the partitions' ends."""
    from confluent_kafka import TopicPartition

    committed = _committed(settings, _worker_groups(settings) | {INDEXER_GROUP})
    wanted = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
    ends = {} if not wanted else _ends(settings, [TopicPartition(t, p) for t, p in wanted])
    return {
        group: sum(max(0, ends[(tp.topic, tp.partition)] - tp.offset) for tp in tps)
        for group, tps in committed.items()
    }


_NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}


def _ends(
    settings: config.Settings, partitions: list[Any], wait_s: float = 30
) -> dict[tuple[str, int], int]:
    """Each partition's end offset. A topic created a moment ago may have no leader yet
    (NOT_LEADER_FOR_PARTITION): asked again until `wait_s` passed."""
    from confluent_kafka import KafkaException

    consumer = _reader(settings)
    deadline = time.monotonic() + wait_s
    ends: dict[tuple[str, int], int] = {}
    try:
        for tp in partitions:
            while (tp.topic, tp.partition) not in ends:
                try:
                    ends[(tp.topic, tp.partition)] = consumer.get_watermark_offsets(tp, timeout=10)[
                        1
                    ]
                except KafkaException as exc:
                    error = exc.args[0]
                    transient = error.retriable() or error.code() in _NO_LEADER_YET
                    if not transient or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        return ends
    finally:
        consumer.close()


async def _caught_up(settings: config.Settings, until: float) -> dict[str, int]:
    """Wait until every consumer group committed everything (or `until` passed); returns
    the groups still behind then, with their lag (empty: all caught up)."""
    while True:
        behind = {g: n for g, n in (await asyncio.to_thread(consumer_lag, settings)).items() if n}
        if not behind or time.time() > until:
            return behind
        await asyncio.sleep(1)


def kafka_records(settings: config.Settings) -> dict[str, int]:
    """Per topic but the baseline's, the records in it (sum of end offsets)."""
    from confluent_kafka import TopicPartition

    consumer = _reader(settings)
    try:
        partitions = [
            TopicPartition(name, partition)
            for name, topic in consumer.list_topics(timeout=10).topics.items()
            if name != BASELINE_TOPIC and not name.startswith("__")
            for partition in topic.partitions
        ]
    finally:
        consumer.close()
    per_topic: dict[str, int] = {}
    for (topic, _partition), end in _ends(settings, partitions).items():
        per_topic[topic] = per_topic.get(topic, 0) + end
    return per_topic


def _growth(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    grown = {name: count - before.get(name, 0) for name, count in after.items()}
    return {name: count for name, count in grown.items() if count > 0}
