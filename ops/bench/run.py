"""The measurements against the running pipeline: Bench stocks the inventory, ramps the
offered rate step by step (a Step is sustainable when the ingress took the load, every order
ended and every consumer caught up), and measures latency, CPU and Kafka hops at a given rate
(Latency). Report gathers what one `orderflow bench` run found."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from elasticsearch import AsyncElasticsearch

from ops import faust_floor, load
from ops.bench.kafka_counts import Baseline, _caught_up, _growth, kafka_records, records_handled
from ops.bench.procfs import ProcessSampler, ProcessUse
from ops.load import percentile
from ops.services import bearer
from orderflow import config
from schemas import statuses

STOCK_PER_SKU = 10_000_000
REFINEMENTS = 2  # ramp steps after the first unsustainable one
REST_S = 30.0  # the latency run starts this long after every consumer caught up
WARMUP_S = 5.0  # and its first seconds of load are not counted
POLL_S = 0.05  # how often the latency run asks Elasticsearch which sampled orders it has


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
        self._first_id = self.run_id
        self.api = f"http://{settings.api_host}:{settings.api_port}"
        self.es = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30)

    def nth(self, n: int) -> None:
        """The n-th of a series of latency runs: its orders under a customer prefix of their
        own (a latency run finds its orders' confirmations by it, at most 10,000 of them)."""
        self.run_id = f"{self._first_id}-{n}"

    async def stock(self) -> None:
        async with aiohttp.ClientSession(self.api, headers=bearer()) as session:
            for sku in load.SKUS:
                stocked = {
                    "on_hand": STOCK_PER_SKU,
                    "unit_price": load.price_of(sku),
                    "currency": load.CURRENCY,
                }
                async with session.put(f"/inventory/{sku}", json=stocked) as r:
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

    async def latency(
        self, rate: float, duration_s: float, sample_every: int = 10, hot_share: float = 0.0
    ) -> Latency:
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
            hot_share=hot_share,
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


@asynccontextmanager
async def stocked(settings: config.Settings, step_s: float) -> AsyncIterator[Bench]:
    """A bench over the stocked BENCH SKUs, closed afterwards (the soak and the flash sale)."""
    bench = Bench(settings, step_s=step_s, settle_s=60.0)
    try:
        await bench.stock()
        yield bench
    finally:
        await bench.close()
