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

The code: procfs.py (CPU and memory of every process, from /proc), kafka_counts.py (the broker
baseline, records per topic, records handled per consumer group, lag), run.py (the ramp and the
latency run), profiling.py (py-spy, `--profile`), report.py (the printed report). This module
runs them (main) and saves the report as JSON under .stack/bench/.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ops import faust_floor, load, services
from ops.bench import backlog, flash, history
from ops.bench.kafka_counts import baseline, mean_event_size
from ops.bench.procfs import machine
from ops.bench.profiling import RESULTS_DIR, profile
from ops.bench.report import print_report
from ops.bench.run import Bench, Latency, Report
from orderflow import config, roles


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


def _as_json(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)


def _saga_feed(settings: config.Settings, latency: Latency) -> float:
    """Records a second the order saga handled in the latency run: the rate at which the
    pipeline feeds its busiest agent, for the paced floor."""
    group = roles.app_id(settings.app_id, "order")
    handled = latency.handled_by_group.get(group, 0)
    return handled / latency.orders * latency.rate if latency.orders else 0.0


def _save(kind: str, figures: Any) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{kind}-{datetime.now(UTC):%Y-%m-%dT%H%M%S}.json"
    path.write_text(json.dumps(figures, indent=2, default=_as_json))
    print(f"\n(figures saved to {path})")


def main(args: Any) -> None:
    modes = {
        "flash": lambda s: flash.flash(s, args.flash, args.rate),
        "history": lambda s: history.soak(s, args.history, args.interval, args.rate),
        "backlog": lambda s: backlog.backlog(s, args.backlog, args.rate),
    }
    for kind, run in modes.items():
        if getattr(args, kind, None):
            settings = config.load()
            services.up(settings)
            _save(kind, asyncio.run(run(settings)))
            return
    report = asyncio.run(_main(args))
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{report.started[:19].replace(':', '')}.json"
    path.write_text(json.dumps(asdict(report), indent=2, default=str))
    print(f"\n(figures saved to {path})")
