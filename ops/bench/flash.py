"""`orderflow bench --flash DURATION`: what a flash sale costs against spread orders (issue 23:
a SKU's cost per command should not grow with how many orders hold it).

Four latency runs of the bench (run.py, Bench.latency) of DURATION each at one rate, in turn
spread (every line on one of 199 SKUs) and flash (`hot_share` of the orders, half by default,
carry a line of one SKU, load.HOT_SKU), twice, so each flash run has a spread run beside it in
time. Per run it prints the inventory worker's CPU per order, every process's, and p50/p99
POST -> CONFIRMED; per pair, flash / spread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.bench.procfs import cpu_ms_per_order
from ops.bench.run import Latency, stocked
from orderflow import config

INVENTORY = "worker-inventory"


@dataclass
class Run:
    kind: str  # spread or flash
    latency: Latency

    def cpu(self, process: str | None = None) -> float:
        """CPU ms per order of `process`, or of every process."""
        uses = self.latency.processes
        chosen = [uses[process]] if process else list(uses.values())
        return sum(cpu_ms_per_order(use.cpu_percent, self.latency.rate) for use in chosen)

    def line(self) -> str:
        confirmed = self.latency.confirmed_ms
        return (
            f"-- {self.kind:6} {self.latency.orders} orders at {self.latency.rate:.0f}/s: "
            f"inventory {self.cpu(INVENTORY):.1f} ms/order, all {self.cpu():.1f}; "
            f"POST->CONFIRMED p50 {confirmed.get('p50', 0):.0f} ms "
            f"p99 {confirmed.get('p99', 0):.0f} ms"
        )


async def flash(
    settings: config.Settings, duration_s: float, rate: float, hot_share: float = 0.5
) -> dict[str, Any]:
    print(
        f"== flash sale: {duration_s / 60:.1f} min runs at {rate:.0f} orders/s, "
        f"{hot_share:.0%} of orders on one SKU, against spread orders, twice",
        flush=True,
    )
    runs: list[Run] = []
    async with stocked(settings, duration_s) as bench:
        for n, (kind, share) in enumerate([("spread", 0.0), ("flash", hot_share)] * 2):
            bench.nth(n)
            runs.append(Run(kind, await bench.latency(rate, duration_s, hot_share=share)))
            print(runs[-1].line(), flush=True)
            if kind == "flash":
                spread, hot = runs[-2], runs[-1]
                inventory = hot.cpu(INVENTORY) / spread.cpu(INVENTORY)
                every = hot.cpu() / spread.cpu()
                print(
                    f"   flash / spread: inventory {inventory:.2f}, all {every:.2f}",
                    flush=True,
                )
    return {"rate": rate, "hot_share": hot_share, "runs": runs}
