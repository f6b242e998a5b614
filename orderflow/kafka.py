"""Kafka, the way every process of ours talks to it: which partition a record lands in, the
settings every librdkafka producer shares, topic creation and the correction of a topic's
settings, and waiting for a broker that is not up yet. (The Faust workers' own clients are
configured in streams/app.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiokafka.partitioner import murmur2
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from schemas.topics import TopicSpec

T = TypeVar("T")


def partition(key: str, partitions: int) -> int:
    """Kafka's default partitioner: Java's murmur2, as aiokafka (so Faust) partitions keys."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def partition_of(spec: TopicSpec, data: Mapping[str, Any], partitions: int) -> int | None:
    """The partition for a record on `spec` with this payload; None: its key's (the default)."""
    if spec.partition_by is None:
        return None
    return partition(str(data[spec.partition_by]), partitions)


def partition_for(spec: TopicSpec, key: str, data: Mapping[str, Any], partitions: int) -> int:
    """The partition a record on `spec` with this key and payload lands in."""
    chosen = partition_of(spec, data, partitions)
    return partition(key, partitions) if chosen is None else chosen


# Every producer of ours compresses its batches (the workers' Faust producer too: streams/app.py).
# zstd over lz4, measured on 6,800 of our records (docs/data-lifecycle.md): zstd leaves 0.87 of
# a lone record, 0.55 of a batch of 4 and 0.41 of 16, lz4 1.01, 0.78 and 0.68; zstd's cost,
# 17 us a lone record and under 2 us in batches of 16, is under 2 % of an order's CPU.
COMPRESSION = "zstd"


def producer_settings(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """A confluent-kafka (librdkafka) producer's settings. Its default partitioner is CRC32;
    ours must be murmur2 like Faust's, or a key written by the API and the same key written by
    an agent land in different partitions (docs/architecture.md, "One partitioner")."""
    return {
        "bootstrap.servers": bootstrap,
        "partitioner": "murmur2_random",
        "compression.type": COMPRESSION,
        **extra,
    }


def eventually(what: str, call: Callable[[], T], timeout_s: float = 120.0) -> T:
    """`call()`, again every second while it raises, for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} failed for {timeout_s:.0f}s: {exc}") from exc
            time.sleep(1.0)


def ensure_topics(
    bootstrap: str,
    partitions: int,
    wanted: Mapping[str, Mapping[str, str]],
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
) -> list[str]:
    """Create the topics of `wanted` (name -> topic config) that do not exist yet, each with
    `replication_factor` copies of which `min_insync_replicas` must have a write; returns
    their names. Waits for a broker that is not up yet."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(eventually("list topics", lambda: admin.list_topics(timeout=5).topics))
    missing = [name for name in wanted if name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    config={
                        "min.insync.replicas": str(min_insync_replicas),
                        **wanted[name],
                    },
                )
                for name in missing
            ]
        )
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        # the broker answers the create before its metadata lists every partition: a client
        # that starts now (a worker's consumer) could take a snapshot without them
        eventually("created topics listed", lambda: _listed(admin, missing, partitions))
    return missing


def _listed(admin: Any, names: list[str], partitions: int) -> None:
    """Raise unless every topic of `names` is listed with `partitions` partitions, each led."""
    topics = admin.list_topics(timeout=5).topics
    for name in names:
        meta = topics.get(name)
        led = [] if meta is None else [p for p in meta.partitions.values() if p.leader >= 0]
        if meta is None or meta.error is not None or len(led) < partitions:
            raise RuntimeError(f"{name} not listed with {partitions} led partitions yet")


def correct_topic_configs(
    bootstrap: str, wanted: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """Set every setting of `wanted` (name -> topic config) that an existing topic holds with
    another value, or only by the broker's default; topics that do not exist are left alone.
    An upgrade's step: a topic made before a setting was ours keeps whatever it was made with
    until this runs. Returns what changed, topic -> {setting: new value}."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(eventually("list topics", lambda: admin.list_topics(timeout=5).topics))
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in wanted if name in existing]
    if not resources:
        return {}
    # On a cluster a topic created a moment ago is listed before every broker can describe
    # it (UNKNOWN_TOPIC_OR_PART): asked again until it can
    described = eventually(
        "describe topic configs",
        lambda: {
            resource.name: future.result()
            for resource, future in admin.describe_configs(resources).items()
        },
    )
    changes: dict[str, dict[str, str]] = {}
    for name, entries in described.items():
        differing = {
            key: value
            for key, value in wanted[name].items()
            if key not in entries or entries[key].is_default or entries[key].value != value
        }
        if differing:
            changes[name] = differing
    if changes:
        alterations = [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                    for key, value in settings.items()
                ],
            )
            for name, settings in changes.items()
        ]
        for future in admin.incremental_alter_configs(alterations).values():
            future.result()
    return changes
