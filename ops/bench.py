"""`make bench` / `orderflow bench`: how fast OrderFlow is on this machine, next to what the
broker alone can do here. Method (BENCHMARKS.md has the figures it printed):

1. Hardware baseline: confluent-kafka produces records of the pipeline's mean event size to a
   6-partition topic (acks=all, as the pipeline produces) and consumes them back; records/s.
   Then the Faust floor (ops/faust_floor.py): one bare Faust worker forwarding records
   of that size, without and with a table write per record; records/s and CPU per record.
2. Ramp: `orderflow load` places orders at rising rates, one step each. A step is sustainable
   when the ingress accepted what was offered, every order of the step reached a terminal
   status in Elasticsearch and every consumer group caught up soon after the load stopped
   (the backlog stayed bounded). The first unsustainable step ends the ramp; up to two more
   steps halfway between the last sustainable and the first unsustainable one refine it.
3. Latency at half the highest sustainable rate, from rest and after a warm-up: POST (client
   side), POST to CONFIRMED (the OrderConfirmed event's occurred_at minus the moment the POST
   was sent), POST to visible in Elasticsearch (a sample of orders looked up by id, as
   GET /orders/{id} reads them), and the CPU and memory of every process meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from confluent_kafka import KafkaError
from elasticsearch import AsyncElasticsearch

from indexer.main import GROUP_ID as INDEXER_GROUP
from ops import admin, faust_floor, load, services
from ops.load import percentile
from orderflow import config, kafka, roles
from schemas import statuses

BASELINE_TOPIC = "bench.baseline"
RESULTS_DIR = services.REPO_ROOT / ".stack" / "bench"
STOCK_PER_SKU = 10_000_000
REFINEMENTS = 2  # ramp steps after the first unsustainable one
REST_S = 30.0  # the latency run starts this long after every consumer caught up
WARMUP_S = 5.0  # and its first seconds of load are not counted
POLL_S = 0.05  # how often the latency run asks Elasticsearch which sampled orders it has


# --- processes --------------------------------------------------------------------------------
def _pids() -> dict[str, int]:
    """Every process of the stack and of OrderFlow, by name, from their pid files."""
    found = {}
    for pidfile in sorted(services.RUN_DIR.glob("*.pid")):
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, OSError):
            continue
        found[pidfile.stem] = pid
    return found


_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _parents() -> dict[int, int]:
    """Every process's parent, read once per sample."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(stat[1])
    return parents


def _tree(pid: int, parents: dict[int, int]) -> list[int]:
    """The process and its descendants (Elasticsearch's launcher starts the server as a
    child)."""
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def _cpu_and_rss(pid: int, parents: dict[int, int]) -> tuple[float, int] | None:
    """CPU seconds used so far and resident bytes now of a process and its descendants."""
    cpu, rss, alive = 0.0, 0, False
    for member in _tree(pid, parents):
        stat = _stat(member)
        try:
            statm = Path(f"/proc/{member}/statm").read_text().split()
        except OSError:
            continue
        if stat is None:
            continue
        alive = True
        cpu += (int(stat[11]) + int(stat[12])) / _TICKS
        rss += int(statm[1]) * _PAGE
    return (cpu, rss) if alive else None


@dataclass
class ProcessUse:
    cpu_percent: float  # of one core, averaged over the window
    rss_peak_mb: float


class ProcessSampler:
    """Samples every process once a second while running; CPU over the whole window."""

    def __init__(self) -> None:
        self.pids = _pids()
        self._first: dict[str, tuple[float, float]] = {}
        self._last: dict[str, tuple[float, float]] = {}
        self._peak: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        now = time.monotonic()
        parents = _parents()
        for name, pid in self.pids.items():
            use = _cpu_and_rss(pid, parents)
            if use is None:
                continue
            self._first.setdefault(name, (now, use[0]))
            self._last[name] = (now, use[0])
            self._peak[name] = max(self._peak.get(name, 0), use[1])

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, ProcessUse]:
        if self._task:
            self._task.cancel()
        self._sample()
        used = {}
        for name, (t0, cpu0) in self._first.items():
            t1, cpu1 = self._last[name]
            used[name] = ProcessUse(
                cpu_percent=100 * (cpu1 - cpu0) / max(t1 - t0, 1e-9),
                rss_peak_mb=self._peak[name] / 2**20,
            )
        return used


# --- hardware baseline ------------------------------------------------------------------------
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


# --- the pipeline -----------------------------------------------------------------------------
async def _terminal_count(es: AsyncElasticsearch, settings: config.Settings, prefix: str) -> int:
    answer = await es.count(
        index=settings.orders_alias,
        query={
            "bool": {
                "filter": [
                    {"prefix": {"customer_id": prefix}},
                    {"terms": {"status": list(statuses.TERMINAL)}},
                ]
            }
        },
    )
    return int(answer["count"])


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


@dataclass
class Step:
    rate: float
    accepted: int
    accepted_per_s: float
    errors: int
    e2e_per_s: float  # orders reaching a terminal status per second (see _e2e_rate)
    # from the end of the load until all were terminal and every consumer group caught up
    settled_after_s: float | None
    sustainable: bool
    post_p99_ms: float
    # consumer groups still behind when the allowance ran out (records not committed)
    behind: dict[str, int] = field(default_factory=dict)


async def _settle(
    es: AsyncElasticsearch,
    settings: config.Settings,
    prefix: str,
    accepted: int,
    load_end: float,
    allowance_s: float,
) -> tuple[list[tuple[float, int]], float | None]:
    """Watch the terminal count of a step until all its orders ended or the allowance after
    the load ran out; returns the samples (wall time, count) and when all had ended."""
    samples: list[tuple[float, int]] = []
    while True:
        count = await _terminal_count(es, settings, prefix)
        now = time.time()
        samples.append((now, count))
        if count >= accepted:
            return samples, now
        if now > load_end + allowance_s:
            return samples, None
        await asyncio.sleep(0.5)


def _e2e_rate(samples: list[tuple[float, int]], accepted: int) -> float:
    """Orders reaching a terminal status per second, from the first one to the last seen (so
    the fixed shipping delay before the first one does not count): the offered rate when the
    pipeline keeps up, its capacity when it does not."""
    started = next(((t, count) for t, count in samples if count > 0), None)
    if started is None or accepted < 2:
        return float("nan")
    last = next(((t, count) for t, count in samples if count >= accepted), samples[-1])
    span = last[0] - started[0]
    return (last[1] - started[1]) / span if span > 0 else float("nan")


@dataclass
class Latency:
    rate: float
    orders: int
    post_ms: dict[str, float]
    confirmed_ms: dict[str, float]
    visible_ms: dict[str, float]
    processes: dict[str, ProcessUse]
    records: int  # Kafka records the pipeline wrote meanwhile (all topics)
    handled: int = 0  # records the workers finished meanwhile (their committed offsets)
    # the same two per topic (changelogs included) and per worker consumer group: the hop table
    written_by_topic: dict[str, int] = field(default_factory=dict)
    handled_by_group: dict[str, int] = field(default_factory=dict)


def _percentiles(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)} | {
        "n": float(len(values))
    }


@dataclass
class Report:
    machine: dict[str, Any]
    baseline: Baseline | None
    floors: list[faust_floor.Floor] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    highest_sustainable: float | None = None
    latency: Latency | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: str = ""


class Bench:
    def __init__(self, settings: config.Settings, step_s: float, settle_s: float) -> None:
        self.settings = settings
        self.step_s = step_s
        self.settle_s = settle_s
        self.run_id = datetime.now(UTC).strftime("%H%M%S")
        self.api = f"http://{settings.api_host}:{settings.api_port}"
        self.es = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30)

    async def stock(self) -> None:
        async with aiohttp.ClientSession(self.api) as session:
            for sku in load.SKUS:
                async with session.put(f"/inventory/{sku}", json={"on_hand": STOCK_PER_SKU}) as r:
                    if r.status >= 300:
                        raise RuntimeError(f"stocking {sku}: {r.status} {await r.text()}")

    async def step(self, rate: float, n: int) -> Step:
        prefix = f"bench-{self.run_id}-s{n}-"
        result = await load.run(
            self.api, rate, self.step_s, customer_prefix=prefix, label=f"step {rate:>5.0f}/s"
        )
        accepted = len(result.accepted)
        allowance = self.settle_s + self.settings.ship_delay_s + self.settings.deliver_delay_s
        samples, ended = await _settle(
            self.es, self.settings, prefix, accepted, result.finished, allowance
        )
        # every consumer must catch up too, not only the path to a terminal status
        behind = await _caught_up(self.settings, result.finished + allowance)
        if ended is not None and not behind:
            ended = max(ended, time.time())
        settled_after = None if ended is None or behind else max(0.0, ended - result.finished)
        step = Step(
            rate=rate,
            accepted=accepted,
            accepted_per_s=round(result.accepted_per_s, 1),
            errors=len(result.sent) - accepted,
            e2e_per_s=round(_e2e_rate(samples, accepted), 1),
            settled_after_s=None if settled_after is None else round(settled_after, 1),
            sustainable=(
                settled_after is not None
                and accepted >= 0.99 * len(result.sent)
                and result.accepted_per_s >= 0.95 * rate
            ),
            post_p99_ms=round(percentile([s.latency_s * 1000 for s in result.accepted], 99), 1),
            behind=behind,
        )
        print(
            f"  -> accepted {step.accepted_per_s}/s, e2e {step.e2e_per_s}/s, "
            f"settled after the load: {step.settled_after_s} s, POST p99 {step.post_p99_ms} ms: "
            f"{'sustainable' if step.sustainable else 'NOT sustainable'}"
            + (f" (consumers behind: {behind})" if behind else ""),
            flush=True,
        )
        if not step.sustainable:
            await self.drain(prefix, accepted)
        return step

    async def drain(self, prefix: str, accepted: int, limit_s: float = 300) -> None:
        """Let a backlog clear before the next measurement."""
        deadline = time.time() + limit_s
        print("  (waiting for the backlog to clear)", flush=True)
        while time.time() < deadline:
            if await _terminal_count(self.es, self.settings, prefix) >= accepted:
                break
            await asyncio.sleep(2)
        await self.quiet(deadline)

    async def quiet(self, until: float) -> None:
        """Wait until every consumer group caught up, so a measurement starts from rest."""
        behind = await _caught_up(self.settings, until)
        if behind:
            print(f"  (still behind after waiting: {behind})", flush=True)

    async def ramp(self, rates: list[float]) -> tuple[list[Step], float | None]:
        steps: list[Step] = []
        best: float | None = None
        failed: float | None = None
        for rate in rates:
            step = await self.step(rate, len(steps))
            steps.append(step)
            if not step.sustainable:
                failed = rate
                break
            best = rate
        for _ in range(REFINEMENTS):  # halfway between the last good and the first bad
            if best is None or failed is None or failed - best <= 0.15 * best:
                break
            middle = round((best + failed) / 2)
            step = await self.step(middle, len(steps))
            steps.append(step)
            if step.sustainable:
                best = middle
            else:
                failed = middle
        return steps, best

    async def latency(self, rate: float, duration_s: float, sample_every: int = 10) -> Latency:
        """Steady-state latency: from rest (every consumer caught up, then REST_S for what an
        overload leaves behind: compactions, merges, collections), WARMUP_S of load not
        counted, then `duration_s` measured."""
        prefix = f"bench-{self.run_id}-lat-"
        await self.quiet(time.time() + 300)
        await asyncio.sleep(REST_S)
        records_before = await asyncio.to_thread(kafka_records, self.settings)
        handled_before = await asyncio.to_thread(records_handled, self.settings)
        sampler = ProcessSampler()
        sampler.start()
        visible: list[float] = []
        waiting: dict[str, float] = {}  # sampled order id -> when its POST was sent

        measured_from = time.time() + WARMUP_S

        def on_accepted(order_id: str, sent: float, n: int) -> None:
            if n % sample_every == 0 and sent >= measured_from:
                waiting[order_id] = sent

        async def poll() -> None:
            """Every POLL_S one realtime multi-get for every sampled order not seen yet (a
            GET per order every 20 ms kept Elasticsearch refreshing and took the CPU the
            pipeline needed: BENCHMARKS.md, Method)."""
            while True:
                if waiting:
                    answer = await self.es.mget(index=self.settings.orders_alias, ids=list(waiting))
                    now = time.time()
                    for doc in answer["docs"]:
                        if doc.get("found"):
                            visible.append((now - waiting.pop(doc["_id"])) * 1000)
                    for order_id in [o for o, sent in waiting.items() if now - sent > 60]:
                        del waiting[order_id]  # never visible: not counted
                await asyncio.sleep(POLL_S)

        poller = asyncio.create_task(poll())
        result = await load.run(
            self.api,
            rate,
            WARMUP_S + duration_s,
            customer_prefix=prefix,
            label=f"latency {rate:>4.0f}/s",
            on_accepted=on_accepted,
        )
        processes = await sampler.stop()
        measured = [s for s in result.accepted if s.started >= measured_from]
        deadline = time.time() + 60
        while waiting and time.time() < deadline and not poller.done():
            await asyncio.sleep(POLL_S)
        if poller.done():
            poller.result()  # it failed: say why
        poller.cancel()
        allowance = self.settle_s + self.settings.ship_delay_s + self.settings.deliver_delay_s
        await _settle(
            self.es, self.settings, prefix, len(result.accepted), result.finished, allowance
        )
        written = _growth(await asyncio.to_thread(kafka_records, self.settings), records_before)
        await self.quiet(time.time() + 120)  # every record of the run finished and committed
        handled_by = _growth(
            await asyncio.to_thread(records_handled, self.settings), handled_before
        )
        sent_at = {s.order_id: s.started for s in measured}
        confirmed = await self._confirmed_ms(prefix, sent_at)
        return Latency(
            rate=rate,
            orders=len(result.accepted),
            post_ms=_percentiles([s.latency_s * 1000 for s in measured]),
            confirmed_ms=_percentiles(confirmed),
            visible_ms=_percentiles(visible),
            processes=processes,
            records=sum(written.values()),
            handled=sum(handled_by.values()),
            written_by_topic=written,
            handled_by_group=handled_by,
        )

    async def _confirmed_ms(self, prefix: str, sent_at: dict[str | None, float]) -> list[float]:
        """POST sent -> OrderConfirmed occurred_at, per confirmed order, from the timelines."""
        found: list[float] = []
        answer = await self.es.search(
            index=self.settings.orders_alias,
            query={"prefix": {"customer_id": prefix}},
            source_includes=["order_id", "timeline.event_type", "timeline.occurred_at"],
            size=10000,
        )
        for hit in answer["hits"]["hits"]:
            doc = hit["_source"]
            sent = sent_at.get(doc["order_id"])
            at = next(
                (e["occurred_at"] for e in doc["timeline"] if e["event_type"] == "OrderConfirmed"),
                None,
            )
            if sent is not None and at is not None:
                confirmed = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
                found.append((confirmed - sent) * 1000)
        return found

    async def close(self) -> None:
        await self.es.close()


# --- where the time goes ---------------------------------------------------------------------
PROFILED = (*services.WORKERS, "indexer", "api")


OURS = ("streams", "schemas", "indexer", "api", "orderflow")
# frames on every sample of a process (how it was started): not where the time goes
ENTRY_POINTS = ("(ops/cli.py:", "(streams/worker.py:", "main (indexer/main.py:")


def _package(frame: str) -> str:
    """`function (faust/app/base.py:823)` -> what it belongs to: its top-level package or
    module (ours, a library's, or the standard library's), `python` for frozen modules."""
    path = frame.rsplit(" (", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    if path.startswith("<"):
        return "python"
    return path.split("/", 1)[0].removesuffix(".py")


def summarise_profile(raw: str, top: int = 6) -> dict[str, Any]:
    """py-spy raw (collapsed) stacks -> CPU shares by package of the innermost frame, and the
    functions of our own code with the most samples anywhere on the stack."""
    leaf: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        package = _package(frames[-1])
        leaf[package] = leaf.get(package, 0) + count
        seen = set()
        for frame in frames:
            if _package(frame) in OURS and not any(e in frame for e in ENTRY_POINTS):
                name = frame.split(" (", 1)[0] + " " + frame.rsplit("/", 1)[-1].rstrip(")")
                if name not in seen:
                    seen.add(name)
                    ours[name] = ours.get(name, 0) + count
    share = {k: round(100 * v / total, 1) for k, v in sorted(leaf.items(), key=lambda kv: -kv[1])}
    inclusive = sorted(ours.items(), key=lambda kv: -kv[1])[:top]
    return {
        "samples": total,
        "by_package": dict(list(share.items())[:top]),
        "our_code": {k: round(100 * v / total, 1) for k, v in inclusive},
    }


async def profile(seconds: float) -> dict[str, dict[str, Any]]:
    """py-spy every OrderFlow process at once for `seconds` (while load runs)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name, pid in _pids().items():
        if name in PROFILED:
            out = RESULTS_DIR / f"profile-{name}.txt"
            runs[name] = (
                out,
                await asyncio.create_subprocess_exec(
                    str(py_spy),
                    "record",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "-r",
                    "50",
                    "-d",
                    str(int(seconds)),
                    "-p",
                    str(pid),
                    "-o",
                    str(out),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                ),
            )
    found = {}
    for name, (out, process) in runs.items():
        await process.wait()
        if out.exists():
            found[name] = summarise_profile(out.read_text())
    return found


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": mem}


def cpu_ms_per_order(cpu_percent: float, rate: float) -> float:
    """A process's CPU time per order: its share of a core (% of 1000 ms each second) over
    the orders placed each second."""
    return cpu_percent * 10 / rate if rate else 0.0


def print_report(report: Report, out: Callable[[str], None] = print) -> None:
    out("")
    out(f"== OrderFlow benchmark {report.started} on {report.machine}")
    if report.baseline:
        b = report.baseline
        out(
            f"broker baseline ({b.records} records of {b.record_bytes} B, acks=all): "
            f"produce {b.produce_per_s:,.0f}/s, consume {b.consume_per_s:,.0f}/s"
        )
    for f in report.floors:
        if f.paced:
            out(
                f"Faust floor paced at {f.paced:,.0f} records/s (the order saga's feed in the "
                f"latency run; {f.records} records): forward + table write "
                f"{f.cpu_ms_per_record:.2f} ms CPU per record"
            )
            continue
        out(
            f"Faust floor ({f.records} records, one worker, nothing of OrderFlow): forward"
            + (" + table write" if f.table else "")
            + f" {f.per_s:,.0f} records/s, {f.cpu_ms_per_record:.2f} ms CPU per record"
        )
    out("")
    out("| offered/s | accepted/s | errors | end-to-end/s | settled after | POST p99 | verdict |")
    out("|---|---|---|---|---|---|---|")
    for s in report.steps:
        settled = "-" if s.settled_after_s is None else f"{s.settled_after_s} s"
        verdict = "sustainable" if s.sustainable else "not sustainable"
        out(
            f"| {s.rate:.0f} | {s.accepted_per_s} | {s.errors} | {s.e2e_per_s} | {settled} | "
            f"{s.post_p99_ms} ms | {verdict} |"
        )
    out(f"highest sustainable rate: {report.highest_sustainable} orders/s")
    if report.latency:
        lat = report.latency
        out("")
        out(f"latency at {lat.rate:.0f} orders/s ({lat.orders} orders):")
        out("| measure | p50 ms | p95 ms | p99 ms | samples |")
        out("|---|---|---|---|---|")
        for name, figures in (
            ("POST /orders", lat.post_ms),
            ("POST -> CONFIRMED", lat.confirmed_ms),
            ("POST -> visible in Elasticsearch", lat.visible_ms),
        ):
            out(
                f"| {name} | {figures['p50']} | {figures['p95']} | {figures['p99']} | "
                f"{figures['n']:.0f} |"
            )
        out("")
        out("| process | CPU % of a core | CPU ms per order | peak RSS MB |")
        out("|---|---|---|---|")
        for name, use in sorted(lat.processes.items()):
            per_order = cpu_ms_per_order(use.cpu_percent, lat.rate)
            out(f"| {name} | {use.cpu_percent:.0f} | {per_order:.1f} | {use.rss_peak_mb:.0f} |")
        total = sum(use.cpu_percent for use in lat.processes.values())
        out(f"| all | {total:.0f} | {cpu_ms_per_order(total, lat.rate):.1f} | |")
        if report.baseline and lat.orders and report.highest_sustainable:
            per_order = lat.records / lat.orders
            pipeline = report.highest_sustainable * per_order
            share = 100 * pipeline / report.baseline.produce_per_s
            out("")
            out(
                f"Kafka records written per order (all topics, changelogs included, counted "
                f"over the latency run): {per_order:.1f}; at the highest sustainable rate that "
                f"is {pipeline:,.0f} records/s = {share:.1f} % of the broker's produce baseline"
            )
        if lat.orders and (lat.written_by_topic or lat.handled_by_group):
            out("")
            out("| hops per order | records |")
            out("|---|---|")
            for group, count in sorted(lat.handled_by_group.items()):
                out(f"| handled by {group} | {count / lat.orders:.2f} |")
            for topic, count in sorted(lat.written_by_topic.items()):
                out(f"| written to {topic} | {count / lat.orders:.2f} |")
        for floor in [f for f in report.floors if f.table]:
            if not (lat.orders and lat.handled):
                break
            handled = lat.handled / lat.orders
            framework_ms = handled * floor.cpu_ms_per_record
            out(
                f"Records the workers handled per order: {handled:.1f}; at the Faust floor's "
                f"{floor.cpu_ms_per_record:.2f} ms each (forward + table write"
                + (", paced" if floor.paced else "")
                + f") that is {framework_ms:.1f} ms of CPU per order before any of "
                f"OrderFlow's own work: at most {2000 / framework_ms:,.0f} orders/s on two "
                "cores, Kafka, Elasticsearch and the API idle"
            )

    for name, prof in report.profiles.items():
        out("")
        out(f"{name}: {prof['samples']} samples; CPU by package of the running frame:")
        out("  " + ", ".join(f"{k} {v} %" for k, v in prof["by_package"].items()))
        out(
            "  our code on the stack: "
            + ", ".join(f"{k} {v} %" for k, v in prof["our_code"].items())
        )


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


async def _main(args: Any) -> Report:
    settings = config.load()
    report = Report(machine=machine(), baseline=None, started=datetime.now(UTC).isoformat())
    print("== starting or reusing the stack and OrderFlow's processes", flush=True)
    await asyncio.to_thread(services.up, settings)
    if not args.no_baseline:
        size = await asyncio.to_thread(mean_event_size, settings)
        print(f"== broker baseline: {args.baseline_records} records of {size} B", flush=True)
        report.baseline = await asyncio.to_thread(baseline, settings, size, args.baseline_records)
        print(
            f"  produce {report.baseline.produce_per_s:,.0f}/s, "
            f"consume {report.baseline.consume_per_s:,.0f}/s",
            flush=True,
        )
        for with_table in (False, True):
            print(f"== Faust floor{' with a table' if with_table else ''}", flush=True)
            floor = await asyncio.to_thread(
                faust_floor.measure, args.floor_records, size, with_table
            )
            report.floors.append(floor)
            await asyncio.to_thread(faust_floor.drop, floor)
            print(f"  {floor.per_s:,.0f} records/s, {floor.cpu_ms_per_record:.2f} ms CPU each")
    bench = Bench(settings, step_s=args.step_s, settle_s=args.settle_s)
    try:
        await bench.stock()
        print(f"== ramp: {args.step_s:.0f} s per step", flush=True)
        report.steps, report.highest_sustainable = await bench.ramp(args.rates)
        half = (report.highest_sustainable or args.rates[0]) / 2
        print(f"== latency at {half:.0f} orders/s for {args.latency_s:.0f} s", flush=True)
        report.latency = await bench.latency(half, args.latency_s)
        saga_feed = _saga_feed(settings, report.latency)
        if not args.no_baseline and saga_feed:
            print(f"== Faust floor with a table, paced at {saga_feed:.0f} records/s", flush=True)
            floor = await asyncio.to_thread(
                faust_floor.measure,
                max(600, int(saga_feed * PACED_S)),
                size,
                True,
                paced=saga_feed,
            )
            report.floors.append(floor)
            await asyncio.to_thread(faust_floor.drop, floor)
            print(f"  {floor.cpu_ms_per_record:.2f} ms CPU each")
        if args.profile:
            print(f"== profile at {half:.0f} orders/s for {args.latency_s:.0f} s", flush=True)
            prefix = f"bench-{bench.run_id}-prof-"
            profiling = asyncio.create_task(profile(args.latency_s))
            await load.run(bench.api, half, args.latency_s, customer_prefix=prefix, label="profile")
            report.profiles = await profiling
    finally:
        await bench.close()
    return report


PACED_S = 30  # how long the paced floor runs


def _saga_feed(settings: config.Settings, latency: Latency) -> float:
    """Records a second the order saga handled in the latency run: the rate at which the
    pipeline feeds its busiest agent, for the paced floor."""
    group = roles.app_id(settings.app_id, "order")
    handled = latency.handled_by_group.get(group, 0)
    return handled / latency.orders * latency.rate if latency.orders else 0.0


def main(args: Any) -> None:
    report = asyncio.run(_main(args))
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{report.started[:19].replace(':', '')}.json"
    path.write_text(json.dumps(asdict(report), indent=2, default=str))
    print(f"\n(figures saved to {path})")
