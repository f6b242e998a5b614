"""The bench's view of the machine through /proc: every process of the stack and of
OrderFlow by its pid file, their CPU time and resident memory (with their descendants: the
Elasticsearch launcher's server), sampled once a second over a measurement by ProcessSampler;
what the machine is; and a process's CPU per order from its share of a core."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import services


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
