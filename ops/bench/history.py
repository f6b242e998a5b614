"""`orderflow bench --history DURATION`: the pipeline for a long stretch at one steady rate,
to show whether an order's cost stays flat as history piles up (issue 23, item 5).

Each interval is one latency run of the bench (run.py, Bench.latency: from rest, a warm-up
not counted, then the interval's load), followed by the footprint on disk (footprint.py).
Per interval it prints CPU per order of every process, p50/p99 POST -> CONFIRMED, and the
bytes each store keeps (total and per order). After the first interval and at the end it
times the order worker's restore from an empty disk: the worker stopped, its RocksDB
directory moved aside, started again, and timed until it answers ready (its tables replayed
from their changelogs). Shorten the windows that retire data (ORDERFLOW_EVENTS_RETENTION_S,
ORDERFLOW_EVENTS_INDEX_PERIOD_S,
ORDERFLOW_RETIRE_AFTER_S, ...) in the environment of `orderflow up` to see them act
within the run; the run prints the windows in force."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from typing import Any

from ops import services
from ops.bench import footprint
from ops.bench.procfs import cpu_ms_per_order
from ops.bench.run import Latency, stocked
from orderflow import config

ORDER_WORKER = "worker-order"


@dataclass
class Interval:
    started_s: float  # since the soak began
    latency: Latency
    footprint: footprint.Footprint

    def lines(self) -> list[str]:
        rate = self.latency.rate
        cpu = {
            name: cpu_ms_per_order(use.cpu_percent, rate)
            for name, use in sorted(self.latency.processes.items())
        }
        confirmed = self.latency.confirmed_ms
        head = (
            f"-- t+{self.started_s / 60:5.1f} min: {self.latency.orders} orders at {rate:.0f}/s, "
            f"POST->CONFIRMED p50 {confirmed.get('p50', 0):.0f} ms "
            f"p99 {confirmed.get('p99', 0):.0f} ms; {self.footprint.orders} orders in all"
        )
        per_process = ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items())
        return [
            head,
            f"   CPU ms/order: all {sum(cpu.values()):.1f} ({per_process})",
            *(f"   {line}" for line in self.footprint.lines()),
        ]


def restore_time(settings: config.Settings, timeout_s: float = 900.0) -> float:
    """Seconds from starting the order worker on an empty disk until it is ready."""
    services.stop(ORDER_WORKER)
    state = settings.state_dir / "workers" / "order"
    aside = state.with_name("order.restore-test")
    shutil.rmtree(aside, ignore_errors=True)
    if state.exists():
        state.rename(aside)
    started = time.monotonic()
    services.start(ORDER_WORKER)
    services.wait_ready(settings, timeout_s, names=(ORDER_WORKER,))
    took = time.monotonic() - started
    shutil.rmtree(aside, ignore_errors=True)
    return took


def windows(settings: config.Settings) -> dict[str, Any]:
    return {
        "command_retention_s": settings.command_retention_s,
        "events_index_period_s": settings.events_index_period_s,
        "events_retention_s": settings.events_retention_s,
        "retire_after_s": settings.retire_after_s,
    }


async def soak(
    settings: config.Settings, duration_s: float, interval_s: float, rate: float
) -> dict[str, Any]:
    print(
        f"== history soak: {duration_s / 60:.0f} min at {rate:.0f} orders/s, "
        f"{interval_s / 60:.1f} min intervals; windows {windows(settings)}",
        flush=True,
    )
    intervals: list[Interval] = []
    restores: dict[str, float] = {}
    began = time.monotonic()
    async with stocked(settings, interval_s) as bench:
        while time.monotonic() - began < duration_s:
            at = time.monotonic() - began
            bench.nth(len(intervals))
            latency = await bench.latency(rate, interval_s)
            interval = Interval(at, latency, await asyncio.to_thread(footprint.measure, settings))
            intervals.append(interval)
            print("\n".join(interval.lines()), flush=True)
            if len(intervals) == 1:
                restores["after the first interval"] = await asyncio.to_thread(
                    restore_time, settings
                )
                print(
                    f"   order worker restored from an empty disk in "
                    f"{restores['after the first interval']:.1f} s",
                    flush=True,
                )
        restores["at the end"] = await asyncio.to_thread(restore_time, settings)
        print(
            f"== order worker restored from an empty disk in {restores['at the end']:.1f} s "
            f"at the end ({footprint.measure(settings).orders} orders)",
            flush=True,
        )
    return {"windows": windows(settings), "intervals": intervals, "restores": restores}
