"""A rolling restart under load (issue 16): on the local cluster, every worker is stopped with
SIGTERM and started again, one role at a time, each waited for until ready before the next,
while orders come in at a steady pace. Clients must not notice beyond a short 503: nothing lost
or doubled, every order COMPLETED once (tests/cluster/under_load.py checks it and prints the
figures)."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from ops import services
from orderflow import config
from tests.cluster.under_load import Run, offer_while, verify
from tests.conftest import FAST

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

# long enough for the whole roll to happen under load (about 15 s per worker here)
ORDERS = int(os.environ.get("ORDERFLOW_ROLL_ORDERS", "1000"))
RATE = 10.0


def _roll(stack: config.Settings, log: list[str]) -> None:
    time.sleep(2.0)
    for name in services.WORKERS:
        started = time.monotonic()
        services.stop(name)
        services.start(name, env=FAST)
        services.wait_ready(stack)
        log.append(f"{name} {time.monotonic() - started:.1f}s")


def test_a_rolling_restart_of_every_worker_under_load_is_invisible(
    stack: config.Settings, api: httpx.Client, unique: str
):
    run = Run.prepare(stack, api, unique)
    rolled: list[str] = []
    answers = offer_while(stack, run, ORDERS, RATE, lambda: _roll(stack, rolled))
    assert len(rolled) == len(services.WORKERS), f"the roll did not finish: {rolled}"
    verify(stack, api, run, answers, ORDERS, f"rolling restart ({', '.join(rolled)})")
