"""`orderflow bench --backlog N`: each worker's CPU per record on a trickle against the same
worker's on a backlog, the trickle tax as a ratio (issue 24, item 6).

First a latency run of the bench at `--rate` (run.py, Bench.latency): per worker, records its
consumer group handled and its CPU per record. Then, from rest, every worker process is
stopped (SIGSTOP), N orders are placed in about BURST_S seconds (the API only writes to
Kafka), the workers go on (SIGCONT) and drain what piled up: per worker, records handled and
CPU from the moment they went on until every order ended and every group caught up. A stop
shorter than the consumers' session timeout (10 s) costs no rebalance. The drain's window
also holds the carrier's delays (ship and deliver), when the workers wait: the backlog
figure is an upper bound of a worker's cost per record with a queue in front of it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from ops import load
from ops.bench.kafka_counts import _growth, records_handled
from ops.bench.procfs import ProcessSampler
from ops.bench.report import WorkerCost, costs_of, worker_costs
from ops.bench.run import _settle, stocked
from orderflow import config

BURST_S = 6.0  # orders placed while the workers are stopped: well inside the session timeout


@dataclass(frozen=True)
class Tax:
    role: str
    trickle: WorkerCost
    backlog: WorkerCost

    @property
    def ratio(self) -> float:
        return self.trickle.cpu_ms_per_record / self.backlog.cpu_ms_per_record

    def line(self) -> str:
        return (
            f"| {self.role} | {self.trickle.handled_per_s:.0f} | "
            f"{self.trickle.cpu_ms_per_record:.2f} | {self.backlog.handled_per_s:.0f} | "
            f"{self.backlog.cpu_ms_per_record:.2f} | {self.ratio:.1f} |"
        )


def taxes(trickle: list[WorkerCost], backlog: list[WorkerCost]) -> list[Tax]:
    on_backlog = {cost.role: cost for cost in backlog}
    return [
        Tax(cost.role, cost, on_backlog[cost.role]) for cost in trickle if cost.role in on_backlog
    ]


def _signal_workers(pids: dict[str, int], sig: signal.Signals) -> None:
    for name, pid in pids.items():
        if name.startswith("worker-"):
            os.kill(pid, sig)


async def backlog(
    settings: config.Settings, orders: int, rate: float, trickle_s: float = 60.0
) -> dict[str, Any]:
    print(
        f"== trickle tax: a latency run at {rate:.0f} orders/s for {trickle_s:.0f} s, then "
        f"{orders} orders placed while every worker is stopped, drained",
        flush=True,
    )
    async with stocked(settings, trickle_s) as bench:
        bench.nth(0)
        trickle = worker_costs(await bench.latency(rate, trickle_s), settings.app_id)
        bench.nth(1)
        prefix = f"bench-{bench.run_id}-backlog-"
        await bench.quiet(time.time() + 300)
        handled_before = await asyncio.to_thread(records_handled, settings)
        sampler = ProcessSampler()
        _signal_workers(sampler.pids, signal.SIGSTOP)
        try:
            placed = await load.run(
                bench.api, orders / BURST_S, BURST_S, customer_prefix=prefix, label="backlog"
            )
        finally:
            _signal_workers(sampler.pids, signal.SIGCONT)
        went_on = time.time()
        sampler.start()
        allowance = 300 + settings.ship_delay_s + settings.deliver_delay_s
        await _settle(bench.es, settings, prefix, len(placed.accepted), went_on, allowance)
        await bench.quiet(time.time() + 120)
        processes = await sampler.stop()
        seconds = time.time() - went_on
        handled = _growth(await asyncio.to_thread(records_handled, settings), handled_before)
    drained = costs_of(processes, handled, seconds, settings.app_id)
    found = taxes(trickle, drained)
    print(
        f"\n{len(placed.accepted)} orders drained in {seconds:.1f} s "
        f"({len(placed.accepted) / seconds:.1f} orders/s)"
    )
    print(
        "| worker | trickle records/s | trickle CPU ms/record | backlog records/s | "
        "backlog CPU ms/record | trickle / backlog |"
    )
    print("|---|---|---|---|---|---|")
    for tax in found:
        print(tax.line())
    return {
        "rate": rate,
        "orders": len(placed.accepted),
        "drained_s": seconds,
        "trickle": trickle,
        "backlog": drained,
    }
