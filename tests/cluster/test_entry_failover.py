"""The API reaches a worker role through any of its instances (issue 16): the inventory runs
as two instances (one standby replica each) and the API is given both addresses
(ORDERFLOW_INVENTORY_URL, separated by a comma). The instance the API asks first is SIGKILLed
and stays dead; a SKU of each instance's partitions is read through the API every 100 ms.
Within 60 s both must answer their true stock again, 15 s in a row, through the survivor, and
never anything but their stock or 503. Printed: each SKU's longest run of 503s. With the first
address alone, every read would answer 503 until the first instance came back."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from ops import services
from orderflow import config
from tests.cluster.under_load import restart_instances, stock_owner
from tests.conftest import FAST
from tests.factories import stock

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

ROLE = "inventory"
FIRST, SECOND = services.instance_name(ROLE, 1), services.instance_name(ROLE, 2)
READ_EVERY_S = 0.1
GIVE_UP_S = 60.0
SETTLED_S = 15.0  # past the consumer session timeout (10 s) and the rebalance after it


@dataclass
class Watched:
    """A SKU owned by one instance, and what reading it through the API answered."""

    sku: str
    owner: str
    on_hand: int
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    longest_503_s: float = 0.0
    unavailable_since: float | None = None  # the first 503 of the current run of them
    answering_since: float | None = None  # the first 200 of the current run of them

    def saw(self, status: int, at: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.answering_since = self.answering_since or at
            self.unavailable_since = None
        else:
            self.answering_since = None
            self.unavailable_since = self.unavailable_since or at
            self.longest_503_s = max(self.longest_503_s, at - self.unavailable_since)

    def answers_for(self, now: float) -> float:
        return 0.0 if self.answering_since is None else now - self.answering_since

    def __str__(self) -> str:
        return (
            f"{self.owner}'s SKU: longest 503 stretch {self.longest_503_s:.1f} s "
            f"({dict(self.statuses)})"
        )


def _restart_api(stack: config.Settings, env: dict[str, str]) -> None:
    services.stop("api")
    services.start("api", env={**FAST, **env})
    services.wait_ready(stack, names=("api",))


def _one_owned_by_each(stack: config.Settings, api: httpx.Client, tag: str) -> list[Watched]:
    """A SKU whose stock partition each instance owns (Faust's router says who owns a key),
    stocked with a value of its own."""
    watched: dict[str, Watched] = {}
    for n in range(100):
        sku = f"FAILOVER-{tag}-{n}"
        owner = stock_owner(stack, sku)
        if owner in (FIRST, SECOND) and owner not in watched:
            watched[owner] = Watched(sku, owner, on_hand=500 + len(watched))
        if len(watched) == 2:
            break
    assert len(watched) == 2, f"no SKU of 100 is owned by each instance: {watched}"
    for one in watched.values():
        assert stock(api, one.sku, one.on_hand).status_code == 200
    return list(watched.values())


def _read_until_both_answer(api: httpx.Client, watched: list[Watched], killed: float) -> bool:
    """Read every watched SKU until each has answered 200 for SETTLED_S in a row (the
    survivor's own SKU answers at once, then 503 while the group rebalances); False when
    that did not come within GIVE_UP_S of the kill."""
    while time.monotonic() < killed + GIVE_UP_S:
        sent = time.monotonic()
        for one in watched:
            answer = api.get(f"/inventory/{one.sku}")
            one.saw(answer.status_code, sent)
            if answer.status_code == 200 and answer.json()["on_hand"] != one.on_hand:
                one.wrong.append(answer.text)
            elif answer.status_code not in (200, 503):
                one.wrong.append(f"{answer.status_code} {answer.text}")
        if all(one.answers_for(sent) >= SETTLED_S for one in watched):
            return True
        time.sleep(max(0.0, sent + READ_EVERY_S - time.monotonic()))
    return False


def test_the_api_reads_through_the_surviving_instance_when_the_first_is_killed(
    stack: config.Settings, api: httpx.Client, unique: str
):
    addresses = ",".join(
        f"http://{stack.worker_web_host}:{services.instance_port(stack, name)}"
        for name in (FIRST, SECOND)
    )
    try:
        restart_instances(stack, ROLE, instances=2, standbys=1)
        _restart_api(stack, {"ORDERFLOW_INVENTORY_URL": addresses})
        watched = _one_owned_by_each(stack, api, unique)
        time.sleep(3.0)  # the standby replicas read the changelog as it is written
        services.kill(FIRST)
        assert services.pid_of(FIRST) is None
        settled = _read_until_both_answer(api, watched, time.monotonic())
        assert services.pid_of(FIRST) is None, "the first instance came back on its own"
    finally:
        _restart_api(stack, {})
        restart_instances(stack, ROLE, instances=1)
    print(f"\nfailover to the second inventory instance: {'; '.join(map(str, watched))}")
    for one in watched:
        assert not one.wrong, f"{one.sku} read wrong: {one.wrong[:3]}"
    assert settled, f"the reads did not answer for {SETTLED_S} s in a row within {GIVE_UP_S} s"
