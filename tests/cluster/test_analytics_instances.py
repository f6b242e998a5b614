"""The live analytics over two instances (issue 16): each analytics instance holds the
per-minute figures of the partitions it owns, and the one the API asks gathers the others'
(streams/agents/analytics.py). With a second instance started, orders offered at a steady
pace must all be counted in `GET /analytics/live`, once, and still be after the second
instance is stopped again."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from ops import services
from orderflow import config
from tests.cluster.under_load import Run, offer, verify
from tests.conftest import FAST

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

ROLE = "analytics"
SECOND = services.instance_name(ROLE, 2)
ORDERS, RATE = 200, 10.0


def _counted_since(api: httpx.Client, since: float) -> int | None:
    """Orders the live figures count from the minute of `since` on; None while they answer
    503 (an owner recovering or away)."""
    minutes = int(time.time() // 60 - since // 60) + 1
    answer = api.get("/analytics/live", params={"minutes": minutes})
    if answer.status_code == 503:
        return None
    assert answer.status_code == 200, answer.text
    return sum(int(Decimal(row["orders"])) for row in answer.json()["minutes"])


def _settles_at(api: httpx.Client, since: float, expected: int, what: str) -> None:
    deadline = time.monotonic() + 90
    counted = None
    while time.monotonic() < deadline:
        counted = _counted_since(api, since)
        if counted == expected:
            return
        time.sleep(1.0)
    raise AssertionError(f"{what}: the live figures count {counted} orders, not {expected}")


def _owners(stack: config.Settings) -> dict[str, list[int]]:
    with httpx.Client(base_url=stack.worker_url(ROLE), timeout=5) as entry:
        hosts = entry.get("/router/per_minute/").json()
    return {host: sorted(p for ps in topics.values() for p in ps) for host, topics in hosts.items()}


def test_the_live_figures_count_every_order_once_over_two_analytics_instances(
    stack: config.Settings, api: httpx.Client, unique: str
):
    run = Run.prepare(stack, api, unique)
    since = time.time()
    before = _counted_since(api, since)
    assert before is not None, "the live figures answer 503 with one instance"
    try:
        services.start(SECOND, env=FAST)
        services.wait_ready(stack, names=(SECOND,))
        owners = _owners(stack)
        assert len(owners) == 2, f"the partitions are not shared by two instances: {owners}"
        _settles_at(api, since, before, "a second instance joined")
        answers = offer(stack, run, ORDERS, RATE)
        verify(stack, api, run, answers, ORDERS, f"two analytics instances ({owners})")
        _settles_at(api, since, before + ORDERS, "orders counted by two instances")
    finally:
        services.stop(SECOND)
    _settles_at(api, since, before + ORDERS, "the second instance stopped")
    print(f"\nlive analytics over {owners}: {ORDERS} orders counted once")
