"""The Faust app of one worker role (orderflow/roles.py), built by `build(settings)`, and what
every role's agents share: the shell, topic and table helpers, and the worker's own pages
(metrics, liveness, readiness). Each role's agents, tables and pages are installed on it by
`streams/agents/<role>.py`, `install(worker)`; `orderflow worker ROLE` does both
(streams/worker.py). Nothing happens on import.

Each agent is the same shell (streams/runtime.py) around a pure decider (streams/domain/).
State lives in RocksDB tables (Faust's RocksDB store, rocksdict driver) backed by Kafka
changelog topics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

import faust
from faust.web import Request, Response, View
from mode.utils.times import want_seconds

from orderflow import config, health, kafka, metrics, roles
from schemas.codec import Codec
from schemas.events import now_millis
from schemas.registry import SchemaRegistry
from streams import faust_patches, offsets, retirement

# the agents reach the shell's types here
from streams.runtime import Read as Read
from streams.runtime import Shell
from streams.runtime import Side as Side

# Each table partition is its own RocksDB. Its writes wait in memtables of this size (two at
# most) and in the write-ahead log until a memtable is flushed; only then are deleted keys on
# their way out of the files. Faust's default (64 MiB, three) keeps up to 192 MiB of log and
# memory per partition before the first flush: ~1 GiB per table with six partitions.
TABLE_WRITE_BUFFER = {"write_buffer_size": 8 * 1024 * 1024, "max_write_buffer_number": 2}


def compaction(retire_after_s: float) -> dict[str, str]:
    """Topic settings for a compacted changelog, so that a retired key (a tombstone) leaves
    the topic and a restore replays about one window of keys, not every record ever written.
    Kafka compacts only closed segments: one rolls every tenth of the window (10 s to 1 h),
    where the broker's default (7 days or 1 GiB) would keep a week of records open, and is
    compacted two segments' time later at the latest, however little of the log is dirty. A
    tombstone stays a day at most (never longer than the window): a reader further behind
    than that misses it and keeps an ended state, which its owner's sweep retires again."""
    segment_ms = int(min(3600.0, max(10.0, retire_after_s / 10)) * 1000)
    return {
        "segment.ms": str(segment_ms),
        "max.compaction.lag.ms": str(2 * segment_ms),
        "delete.retention.ms": str(int(min(86400.0, retire_after_s) * 1000)),
    }


@dataclass(frozen=True)
class Worker:
    """One worker process: its settings (the role among them), its Faust app, the shell its
    agents share."""

    settings: config.Settings
    app: faust.App
    shell: Shell

    def source(self, *names: str) -> faust.TopicT:
        """Public topics, read as raw bytes: the shell decodes (or dead-letters) each record."""
        return self.app.topic(*names, key_serializer="raw", value_serializer="raw")

    def table(
        self, name: str, help_: str, default: type | None = None, windowed: bool = False
    ) -> faust.types.TableT:
        """A RocksDB table. Values are JSON (readable with kcat on the changelog topic). Keys
        of plain tables are the raw bytes of the source topics' keys, so a key's changelog
        partition is the one Faust's router computes for it (table_route finds the owner);
        windowed tables key by (key, window) tuples, which need JSON."""
        return self.app.Table(
            name,
            default=default,
            partitions=self.settings.partitions,
            # bytes keys serialise raw; str keys are encoded on the way in (UTF-8)
            key_type=str if windowed else bytes,
            options={"driver": "rocksdict", **TABLE_WRITE_BUFFER},
            help=help_,
        )

    def owner_page(
        self,
        path: str,
        table: faust.types.TableT,
        match_info: str | None = None,
        query_param: str | None = None,
    ) -> Callable[[Page], Any]:
        """A page read from `table`, served by the instance that owns the key: any instance
        forwards the request there (Faust's table_route, the key from the path's
        `match_info` or the query's `query_param`). The owner answers 503 while it cannot read
        its table right (`tables_unreadable`), never a wrong 404 or an old value. The page's
        body must read the table before its first `await`, so the check still holds."""

        def install(page: Page) -> Any:
            @wraps(page)
            async def guarded(web: View, request: Request, *args: Any, **kwargs: Any) -> Response:
                why = tables_unreadable(self.app)
                if why is not None:
                    return web.json({"detail": f"{self.settings.role} worker: {why}"}, status=503)
                return await page(web, request, *args, **kwargs)

            routed = self.app.table_route(
                table=table, match_info=match_info, query_param=query_param
            )
            return self.app.page(path)(routed(guarded))

        return install

    def retire(
        self,
        table: faust.types.TableT,
        ended: Callable[[Mapping[str, Any]], bool],
        creates: Iterable[str],
        window_s: float | None = None,
        clock: Callable[[], int | None] | None = None,
    ) -> None:
        """Retire `table`'s ended keys `window_s` (default `retire_after_s`) after they ended,
        by `clock` (default wall time), and refuse messages of the `creates` types older than
        that (streams/retirement.py). The sweep ticks every second while the tables can be
        read, and rests a tenth of the window (1 s to 10 min) after each whole pass."""
        window_s = self.settings.retire_after_s if window_s is None else window_s
        spec = retirement.Retirement(table, ended, frozenset(creates), int(window_s * 1000))
        self.shell.retires(spec)
        rest_s = min(600.0, max(1.0, window_s / 10))
        sweeper = retirement.Sweeper(
            spec, self.shell.has_left, rest_s=rest_s, clock=clock or now_millis
        )

        @self.app.timer(interval=1.0, name=f"retire_{table.name}")
        async def retire_ended() -> None:
            if sweeper.due(time.monotonic()) and tables_unreadable(self.app) is None:
                await retirement.sweep(sweeper)

    def declare_own_topics(self) -> list[str]:
        """Create the role's changelog topics before the worker starts.
        Faust would create them itself, but after its consumer took a metadata snapshot; a
        table write then compares against the stale snapshot (0 partitions) and the agent
        crashes with PartitionsMismatch until the next rebalance. Names and retention come
        from Faust's own topic objects, compaction from `compaction`; a topic made before a
        setting was ours is corrected (an upgrade). Returns the topics it created."""
        wanted: dict[str, dict[str, str]] = {}
        for tab in self.app.tables.values():
            changelog = tab.changelog_topic
            policies = [
                p
                for p, on in (("compact", changelog.compacting), ("delete", changelog.deleting))
                if on
            ]
            config_ = {"cleanup.policy": ",".join(policies) or "delete"}
            if changelog.retention is not None:
                config_["retention.ms"] = str(int(want_seconds(changelog.retention) * 1000))
            if changelog.compacting:
                config_.update(compaction(self.settings.retire_after_s))
            wanted[changelog.get_topic_name()] = config_
        settings = self.settings
        created = kafka.ensure_topics(
            settings.kafka_bootstrap,
            settings.partitions,
            wanted,
            settings.replication_factor,
            settings.min_insync_replicas,
        )
        # a topic just created has its settings already
        kafka.correct_topic_configs(
            settings.kafka_bootstrap, {n: c for n, c in wanted.items() if n not in created}
        )
        return created

    def consumer_lag(self) -> Iterator[metrics.LagReading]:
        """Per assigned partition of the agents' topics: its highwater minus the ledger's
        frontier (records not finished yet). Read when /metrics/ is scraped (registered by
        streams/worker.py: one per process)."""
        consumer: Any = self.app.consumer
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet: nothing to say
                continue
            lag = offsets.LEDGER.lag(tp, highwater)
            if lag is not None:
                yield tp.topic, tp.partition, lag


Page = Callable[..., Awaitable[Response]]


def tables_unreadable(app: faust.App) -> str | None:
    """Why this instance's tables cannot be read right now, or None when they can:
    - partitions are being reassigned (a rebalance: who owns what is in flux);
    - a table is still being recovered from its changelog: a partition just taken over has
      only what its standby replica held (nothing, without one) until the changelog is
      replayed, so a key would read as unknown or old;
    - the worker is stopping: Faust closes the tables before the agents, and a closed store
      reads as empty (streams/runtime.py, Stopping)."""
    if app.should_stop:
        return "stopping"
    if app.rebalancing:
        return "partitions are being reassigned"
    if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # TableManager
        return "tables are being recovered from their changelogs"
    return None


def build(settings: config.Settings) -> Worker:
    """The worker of `settings.role`: its Faust app with OrderFlow's patches installed, the
    shared shell and the worker's own pages; no agent yet (streams/agents/<role>.py)."""
    if settings.role not in roles.BY_NAME:
        raise ValueError(f"the role must be one of {', '.join(roles.NAMES)}: {settings.role!r}")
    app_id = roles.app_id(settings.app_id, settings.role)
    # A second worker of a role runs with its own port (ORDERFLOW_WORKER_WEB_PORT) and its
    # own RocksDB directory; Faust shares the role's partitions between them.
    web_port = settings.worker_web_port or settings.worker_port(settings.role)
    instance = settings.role if not settings.worker_web_port else f"{settings.role}-{web_port}"
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",  # Faust's RocksDB store; its driver is rocksdict (Worker.table)
        datadir=str(settings.state_dir / "workers" / instance),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        consumer_auto_offset_reset="earliest",
        # A killed worker's partitions come back after this, not after Faust's default minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        producer_linger_ms=settings.producer_linger_ms,
        producer_compression_type=kafka.COMPRESSION,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=web_port,
        web_enabled=True,
    )
    # our ledger decides commits; table writes can be awaited (streams/faust_patches.py)
    faust_patches.install(
        app, faust_patches.Fetching(settings.fetch_min_bytes, settings.fetch_max_wait_ms)
    )
    shell = Shell(
        app,
        Codec(SchemaRegistry(settings.registry_url)),
        app_id,
        offsets.LEDGER,
        partitions=settings.partitions,
    )
    worker = Worker(settings, app, shell)
    _pages(worker)
    return worker


def _pages(worker: Worker) -> None:
    app, settings = worker.app, worker.settings

    @app.page("/metrics/")
    async def prometheus_metrics(web: View, request: Request) -> Response:
        """This worker's series (orderflow/metrics.py) in the Prometheus text format."""
        return web.bytes(metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})

    @app.page("/healthz/")
    async def liveness(web: View, request: Request) -> Response:
        """The process is alive and its web server answers; nothing else is asked."""
        return web.json({"status": "ok", "role": settings.role})

    @app.page("/readyz/")
    async def readiness(web: View, request: Request) -> Response:
        """Ready once partitions are assigned, every table is recovered from its changelog,
        and Kafka and the schema registry answer (checked concurrently, a second at most);
        `tables` says "recovered" or why not (tables_unreadable)."""
        why = tables_unreadable(app)
        dependencies = await health.states(health.checks(settings, "kafka", "schema_registry"))
        ready = why is None and health.ready(dependencies)
        return web.json(
            {
                "ready": ready,
                "role": settings.role,
                "tables": why or "recovered",
                "dependencies": dependencies,
            },
            status=200 if ready else 503,
        )
