"""What the stack keeps on disk, per store and per kind of data, and per order: Kafka's
partitions by kind of topic, each worker's RocksDB tables, Elasticsearch's indices by family,
and the processes' logs. Read from the local stack's data directories (infra/stack.sh) and
from Elasticsearch's own figures; `orderflow bench --history` prints it every interval and
docs/data-lifecycle.md quotes it."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from orderflow import config
from orderflow.config import REPO_ROOT
from schemas import topics

STACK = REPO_ROOT / ".stack"
_PARTITION_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")


def _size(path: Path) -> int:
    """Bytes on disk (allocated blocks, as `du`): Kafka preallocates each segment's index
    files at 10 MiB as sparse files, which their apparent size would count."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_blocks * 512 for f in files)


def topic_kind(topic: str) -> str:
    """history, commands (and replies), dead letters, changelogs (the tables' Kafka copy) or
    internal (offsets, the registry's journal, Faust's assignor topics, KRaft metadata)."""
    if topic.endswith(".dlq"):
        return "dead letters"
    spec = topics.BY_NAME.get(topic)
    if spec is not None:
        return "history" if spec.history else "commands"
    if topic.endswith("-changelog"):
        return "changelogs"
    return "internal"


@dataclass
class Footprint:
    orders: int
    # store -> kind -> bytes
    stores: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, store: str) -> int:
        return sum(self.stores.get(store, {}).values())

    def lines(self) -> list[str]:
        """One line per store: its total, per order, and its kinds."""
        out = []
        for store, kinds in self.stores.items():
            total = self.total(store)
            per = f"{total / self.orders / 1024:.1f} KiB/order" if self.orders else "-"
            parts = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sorted(kinds.items()) if v)
            out.append(f"{store:<14} {total / 2**20:8.1f} MiB  {per:>16}  ({parts})")
        return out


def kafka_bytes(settings: config.Settings) -> dict[str, int]:
    """Bytes of every partition directory of the local broker(s), by kind of topic."""
    found: dict[str, int] = defaultdict(int)
    data = STACK / "data" / ("kafka" if settings.brokers == 1 else "kafka-cluster")
    for log_dir in data.rglob("meta.properties"):
        for part in log_dir.parent.iterdir():
            match = _PARTITION_DIR.match(part.name)
            if part.is_dir() and match:
                found[topic_kind(match["topic"])] += _size(part)
    return dict(found)


def rocksdb_bytes(settings: config.Settings) -> dict[str, int]:
    """Bytes of each table's RocksDB files over every worker instance, by table."""
    found: dict[str, int] = defaultdict(int)
    workers = settings.state_dir / "workers"
    for store in workers.rglob("*.db"):  # Faust: <datadir>/<version>/tables/<table>-<n>.db
        table = store.name.rsplit("-", 1)[0]
        found[table] += _size(store)
    return dict(found)


def elasticsearch_bytes(es: Elasticsearch) -> dict[str, int]:
    """Store size of the indices, by family (the name up to its first '-v')."""
    found: dict[str, int] = defaultdict(int)
    rows: list[dict[str, Any]] = es.cat.indices(format="json", bytes="b").body  # type: ignore[assignment]
    for row in rows:
        name = str(row["index"])
        if name.startswith("."):
            continue
        found[name.split("-v", 1)[0]] += int(row["store.size"] or 0)
    return dict(found)


def log_bytes() -> dict[str, int]:
    """Bytes of the processes' logs (rotated ones included), ours apart from the servers'."""
    found: dict[str, int] = defaultdict(int)
    servers = ("kafka", "registry", "elasticsearch", "maven")
    for log in (STACK / "logs").rglob("*"):
        if log.is_file():
            found["servers" if log.name.startswith(servers) else "orderflow"] += _size(log)
    return dict(found)


def measure(settings: config.Settings) -> Footprint:
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=30)
    try:
        orders = int(es.count(index=settings.orders_alias)["count"])
        return Footprint(
            orders,
            {
                "kafka": kafka_bytes(settings),
                "rocksdb": rocksdb_bytes(settings),
                "elasticsearch": elasticsearch_bytes(es),
                "logs": log_bytes(),
            },
        )
    finally:
        es.close()
