"""orderflow/logs.py: a process's log file stays bounded, nothing lost at a rotation; and the
hot path writes no line per record at INFO."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orderflow.config import REPO_ROOT
from streams import runtime
from tests.factories import place_order

WRITER = textwrap.dedent(
    """
    import sys, time
    from orderflow.logs import keep_log_bounded
    keep_log_bounded(0.02)
    for n in range(6000):
        # one write per line, as logging's handler writes (print writes the line and its
        # end apart on the unbuffered stderr, and a rotation between them tears the line)
        out = sys.stdout if n % 2 else sys.stderr
        out.write(f"line {n:06d} " + "x" * 40 + "\\n")
        out.flush()
        if n % 50 == 0:
            time.sleep(0.01)
    time.sleep(0.1)
    """
)


def test_a_process_log_rotates_at_its_size_and_loses_no_line(tmp_path: Path):
    log = tmp_path / "worker-x.log"
    env = {
        **os.environ,
        "ORDERFLOW_LOG_FILE": str(log),
        "ORDERFLOW_LOG_MAX_BYTES": "20000",
        "ORDERFLOW_LOG_KEEP": "3",
    }
    with log.open("ab") as out:  # as ops/services.py starts a process
        subprocess.run(
            [sys.executable, "-c", WRITER],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            check=True,
            timeout=60,
        )
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [
        "worker-x.log",
        "worker-x.log.1",
        "worker-x.log.2",
        "worker-x.log.3",
    ]
    # each file a little over the bound at most (what was written between two looks)
    assert all(f.stat().st_size < 20000 + 8000 for f in files), [f.stat().st_size for f in files]
    kept = [
        int(line.split()[1])
        for name in ("worker-x.log.3", "worker-x.log.2", "worker-x.log.1", "worker-x.log")
        for line in (tmp_path / name).read_text().splitlines()
    ]
    assert kept == list(range(kept[0], 6000)), "a line was lost or reordered at a rotation"
    assert kept[0] > 0  # the oldest were dropped


def test_no_line_per_record_at_info_one_at_debug(caplog: pytest.LogCaptureFixture):
    message = place_order()
    with caplog.at_level(logging.INFO, logger="orderflow.streams"):
        runtime._log_processed(message, message.key, [])
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="orderflow.streams"):
        runtime._log_processed(message, message.key, [])
    (line,) = caplog.records
    assert line.correlation_id == message.envelope.correlation_id  # type: ignore[attr-defined]
