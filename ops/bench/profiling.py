"""`orderflow bench --profile`: py-spy records every OrderFlow process at once while load
runs, and each raw profile is summarised as CPU shares by the package of the running frame
and the functions of our own code with the most samples on the stack. Also where the bench
keeps its results (RESULTS_DIR)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from ops import services
from ops.bench.procfs import _pids

RESULTS_DIR = services.REPO_ROOT / ".stack" / "bench"


# --- where the time goes ---------------------------------------------------------------------
PROFILED = (*services.WORKERS, "indexer", "api")


OURS = ("streams", "schemas", "indexer", "api", "orderflow", "ops")
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
