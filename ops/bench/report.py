"""The printed report of a bench run: the broker baseline and Faust floors, the ramp's
table and highest sustainable rate, latency percentiles, CPU and memory per process, Kafka
records and hops per order, the bound the Faust floor puts on orders/s, and the profiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ops.bench.procfs import ProcessUse, cpu_ms_per_order
from ops.bench.run import Latency, Report


@dataclass(frozen=True)
class WorkerCost:
    """One worker over a latency run: the records its consumer group finished a second and
    its CPU per record (the trickle tax shows as this against the Faust floor's)."""

    role: str
    handled_per_s: float
    cpu_ms_per_record: float


def worker_costs(lat: Latency, app_id: str = "orderflow") -> list[WorkerCost]:
    """Per worker process (`worker-<role>`) whose group (`<app_id>-<role>`) handled records."""
    seconds = lat.orders / lat.rate if lat.rate else 0.0
    return costs_of(lat.processes, lat.handled_by_group, seconds, app_id)


def costs_of(
    processes: Mapping[str, ProcessUse], handled: Mapping[str, int], seconds: float, app_id: str
) -> list[WorkerCost]:
    """Per worker process over a window of `seconds`: the records its group handled a second,
    and its CPU per record."""
    costs = []
    for name, use in sorted(processes.items()):
        role = name.removeprefix("worker-")
        count = handled.get(f"{app_id}-{role}", 0)
        if not name.startswith("worker-") or not count or seconds <= 0:
            continue
        cpu_ms = use.cpu_percent / 100 * seconds * 1000
        costs.append(WorkerCost(role, count / seconds, cpu_ms / count))
    return costs


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
        costs = worker_costs(lat)
        if costs:
            out("")
            out("| worker | records handled/s | CPU ms per record |")
            out("|---|---|---|")
            for cost in costs:
                out(f"| {cost.role} | {cost.handled_per_s:.0f} | {cost.cpu_ms_per_record:.2f} |")
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
