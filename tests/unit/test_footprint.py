"""ops/bench/footprint.py: bytes on disk by kind of topic and by table, and the soak's
duration argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.bench import footprint
from ops.cli import _duration
from orderflow import config


def test_topics_are_sorted_by_what_they_keep():
    assert footprint.topic_kind("orders.events.v1") == "history"
    assert footprint.topic_kind("orders.commands.v1") == "commands"
    assert footprint.topic_kind("customers.checks.v1") == "commands"
    assert footprint.topic_kind("payments.events.v1.dlq") == "dead letters"
    assert footprint.topic_kind("orderflow-order-orders-changelog") == "changelogs"
    assert footprint.topic_kind("__consumer_offsets") == "internal"


def test_partition_and_table_bytes_are_summed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "data" / "kafka" / "log"
    for topic, partition, size in [
        ("orders.events.v1", 0, 100),
        ("orders.events.v1", 1, 50),
        ("orders.commands.v1", 0, 7),
        ("orderflow-order-orders-changelog", 3, 20),
    ]:
        (log / f"{topic}-{partition}").mkdir(parents=True)
        (log / f"{topic}-{partition}" / "00000.log").write_bytes(b"x" * size)
    (log / "meta.properties").write_text("node.id=1\n")
    tables = tmp_path / "state" / "workers" / "order" / "v1" / "tables"
    for n, size in ((0, 30), (1, 12)):
        (tables / f"orders-{n}.db").mkdir(parents=True)
        (tables / f"orders-{n}.db" / "000.sst").write_bytes(b"x" * size)
    monkeypatch.setattr(footprint, "STACK", tmp_path)
    settings = config.Settings(brokers=1, state_dir=tmp_path / "state")
    block = 4096  # bytes on disk: a small file takes one block
    kafka = footprint.kafka_bytes(settings)
    assert kafka == {"history": 2 * block, "commands": block, "changelogs": block}
    assert footprint.rocksdb_bytes(settings) == {"orders": 2 * block}
    shown = footprint.Footprint(2, {"kafka": kafka}).lines()
    assert shown[0].startswith("kafka") and "8.0 KiB/order" in shown[0]


def test_durations_read_as_seconds():
    assert [_duration(t) for t in ("90", "90s", "5m", "2h")] == [90, 90, 300, 7200]
