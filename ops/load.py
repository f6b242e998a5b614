"""`orderflow load`: place orders against `POST /orders` at a target rate, open loop (a slow
answer does not slow the schedule down, up to a cap on requests in flight), with a mix of
scenarios and a progress bar on stderr. The benchmark (ops/bench/) drives it step by
step; on its own it prints a summary line."""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ops.services import bearer

# scenario -> share of orders. Payment scenarios of the simulated gateway (streams/domain/
# payment.py) and one unknown SKU line, so every branch of the saga is exercised.
MIX: dict[str, float] = {"approve": 0.85, "decline": 0.05, "error": 0.05, "unknown_sku": 0.05}
SKUS = tuple(f"BENCH-{n:03d}" for n in range(200))  # stocked generously by the benchmark
CURRENCY = "EUR"


def price_of(sku: str) -> str:
    """The price of record the benchmark gives a BENCH SKU, which its orders then pay."""
    n = int(sku.rsplit("-", 1)[1])
    return f"{1 + n % 50}.{n % 100:02d}"


MAX_IN_FLIGHT = 512


def parse_mix(text: str) -> dict[str, float]:
    """`approve=85,decline=5,error=5,unknown_sku=5` -> shares summing to 1."""
    weights = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in MIX:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(MIX)}")
        weights[name.strip()] = float(weight)
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("scenario weights must add up to more than 0")
    return {name: weight / total for name, weight in weights.items()}


# A flash sale's SKU: `hot_share` of the orders carry a line of it (their other lines spread)
HOT_SKU = SKUS[0]


def order_body(
    rng: random.Random, scenario: str, customer: str, hot_share: float = 0.0
) -> dict[str, Any]:
    lines = rng.sample(SKUS[1:], rng.randint(1, 3))
    if rng.random() < hot_share:
        lines[0] = HOT_SKU
    items = [
        {"sku": sku, "quantity": rng.randint(1, 3), "unit_price": price_of(sku)} for sku in lines
    ]
    if scenario == "unknown_sku":
        items.append({"sku": f"NOSUCH-{rng.randrange(1 << 30)}", "quantity": 1, "unit_price": "1"})
    return {
        "customer_id": customer,
        "customer_email": f"{customer}@example.com",
        "currency": CURRENCY,
        "items": items,
        "shipping_address": {"country": rng.choice(["NL", "DE", "US", "FR", "GB"])},
        "payment": {
            "method": "card",
            "scenario": scenario if scenario in ("decline", "error") else "approve",
        },
    }


@dataclass
class Sent:
    order_id: str | None
    started: float  # wall clock, seconds
    latency_s: float
    status: int


@dataclass
class LoadResult:
    rate: float
    duration_s: float
    sent: list[Sent] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    late: int = 0  # requests the schedule could not start on time (MAX_IN_FLIGHT reached)

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 202]

    @property
    def accepted_per_s(self) -> float:
        return len(self.accepted) / max(self.finished - self.started, 1e-9)


class Progress:
    """One line on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, label: str, stream: Any = sys.stderr) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, done: int, accepted: int, errors: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"{rate:6.0f}/s accepted {accepted} errors {errors}  "
        )
        if force:
            self.stream.write("\n")
        self.stream.flush()


async def run(
    api_url: str,
    rate: float,
    duration_s: float,
    mix: dict[str, float] | None = None,
    customer_prefix: str = "load",
    seed: int | None = None,
    label: str = "load",
    progress: bool = True,
    on_accepted: Callable[[str, float, int], None] | None = None,
    hot_share: float = 0.0,
) -> LoadResult:
    """Send `rate * duration_s` orders, one every 1/rate seconds, `hot_share` of them with
    a line of HOT_SKU. `on_accepted(order_id, sent_at, n)` is called for each accepted
    order (n counts accepted orders)."""
    rng = random.Random(seed)
    mix = mix or MIX
    scenarios, weights = list(mix), list(mix.values())
    total = max(1, round(rate * duration_s))
    result = LoadResult(rate=rate, duration_s=duration_s)
    bar = Progress(total, label) if progress else None
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    counts = {"done": 0, "accepted": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)

    async with aiohttp.ClientSession(
        api_url, connector=connector, timeout=timeout, headers=bearer()
    ) as session:

        async def place(body: dict[str, Any]) -> None:
            started_wall, started = time.time(), time.perf_counter()
            order_id, status = None, 0
            try:
                async with session.post("/orders", json=body) as response:
                    status = response.status
                    if status == 202:
                        order_id = (await response.json())["order_id"]
                    else:
                        await response.read()
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            finally:
                in_flight.release()
            result.sent.append(Sent(order_id, started_wall, time.perf_counter() - started, status))
            counts["done"] += 1
            counts["accepted" if status == 202 else "errors"] += 1
            if on_accepted and order_id is not None:
                on_accepted(order_id, started_wall, counts["accepted"])
            if bar:
                bar.update(counts["done"], counts["accepted"], counts["errors"])

        tasks = []
        result.started = time.time()
        begin = time.perf_counter()
        for n in range(total):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif in_flight.locked():
                result.late += 1
            await in_flight.acquire()
            scenario = rng.choices(scenarios, weights)[0]
            customer = f"{customer_prefix}-{n % 997}"
            body = order_body(rng, scenario, customer, hot_share)
            tasks.append(asyncio.create_task(place(body)))
        await asyncio.gather(*tasks)
        result.finished = time.time()
    if bar:
        bar.update(counts["done"], counts["accepted"], counts["errors"], force=True)
    return result


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(result: LoadResult) -> str:
    latencies = [s.latency_s * 1000 for s in result.accepted]
    return (
        f"{len(result.sent)} sent in {result.finished - result.started:.1f}s, "
        f"{len(result.accepted)} accepted ({result.accepted_per_s:.0f}/s), "
        f"POST p50 {percentile(latencies, 50):.1f} ms p95 {percentile(latencies, 95):.1f} ms "
        f"p99 {percentile(latencies, 99):.1f} ms, late starts {result.late}"
    )
