"""A role scaled out and back in under load (issue 16): on the local cluster, two more
instances of the inventory worker are started one after the other (each waited for until
ready: partitions assigned, tables recovered), so its six partitions and its stock table
spread over three processes, then stopped again with SIGTERM one by one, while orders come in
at a steady pace. Nothing may be lost or doubled, every order COMPLETED once, stock conserved
(tests/cluster/under_load.py checks it and prints the figures)."""

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

ORDERS = int(os.environ.get("ORDERFLOW_SCALE_ORDERS", "600"))
RATE = 10.0
ROLE = "inventory"  # the busiest responder: a reservation and a shipment per line


def _scale(stack: config.Settings, log: list[str]) -> None:
    extra = [services.instance_name(ROLE, n) for n in (2, 3)]
    time.sleep(3.0)
    for name in extra:  # 1 -> 2 -> 3
        started = time.monotonic()
        services.start(name, env=FAST)
        services.wait_ready(stack, names=(name,))
        log.append(f"+{name} ready in {time.monotonic() - started:.1f}s")
        time.sleep(5.0)
    for name in reversed(extra):  # 3 -> 2 -> 1
        started = time.monotonic()
        services.stop(name)
        log.append(f"-{name} stopped in {time.monotonic() - started:.1f}s")
        time.sleep(5.0)


def test_a_role_scaled_from_one_to_three_instances_and_back_under_load(
    stack: config.Settings, api: httpx.Client, unique: str
):
    run = Run.prepare(stack, api, unique)
    steps: list[str] = []
    try:
        answers = offer_while(stack, run, ORDERS, RATE, lambda: _scale(stack, steps))
    finally:
        services.stop(*(services.instance_name(ROLE, n) for n in (2, 3)))
    assert len(steps) == 4, f"the scaling did not finish: {steps}"
    verify(stack, api, run, answers, ORDERS, f"scale {ROLE} 1 -> 3 -> 1 ({', '.join(steps)})")
