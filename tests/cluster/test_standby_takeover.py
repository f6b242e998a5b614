"""A standby replica takes over (issue 16): the inventory runs as two instances, the active
owner of a SKU's stock partition is SIGKILLed while orders come in, and the SKU is read
through the API every 50 ms until it answers again. Once with no standby replica (the
surviving instance replays what the dead one wrote to the changelog since it last owned the
partition) and once with one (the survivor kept a copy of the partition up to date and only
catches up the last records). Printed: how long the reads answered 503, per variant.

Checked in both: the reads answer the SKU's true stock or 503, never a 404 or another value
(the new owner answers 503 while it recovers: streams/app.py, owner_page), and the orders
offered meanwhile lose or double nothing (tests/cluster/under_load.py)."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from confluent_kafka import Producer

from ops import admin, services
from orderflow import config, kafka
from schemas import topics
from schemas.codec import Codec
from schemas.registry import SchemaRegistry
from tests.cluster.under_load import Run, offer_while, restart_instances, stock_owner, verify
from tests.factories import stock

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

ROLE = "inventory"
ENTRY, OTHER = services.instance_name(ROLE, 1), services.instance_name(ROLE, 2)
# SKUs stocked while both instances run, so the changelog holds records the survivor has to
# replay without a standby (the more, the longer that replay)
FILLER = int(os.environ.get("ORDERFLOW_TAKEOVER_SKUS", "20000"))
WATCHED_ON_HAND = 777
ORDERS, RATE = 400, 10.0  # 40 s of orders: the kill comes 5 s in
KILL_AT_S = 5.0
READ_EVERY_S = 0.05
GIVE_UP_S = 60.0


@dataclass
class Takeover:
    standbys: int
    reads: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    answered_after_s: float | None = None  # from the SIGKILL to the first 200

    def __str__(self) -> str:
        after = "never" if self.answered_after_s is None else f"{self.answered_after_s:.1f} s"
        return (
            f"{self.standbys} standby replica(s): reads answered 503 for {after} after the "
            f"SIGKILL ({dict(self.reads)})"
        )


def _fill(stack: config.Settings, tag: str) -> None:
    """FILLER SKUs stocked straight through Kafka (as `orderflow seed` does), and waited for:
    a partition is read in order, so once its last SKU shows, all of its SKUs are in."""
    codec = Codec(SchemaRegistry(stack.registry_url))
    producer = Producer(kafka.producer_settings(stack.kafka_bootstrap, **{"linger.ms": 20}))
    last: dict[int, str] = {}
    for n in range(FILLER):
        sku = f"FILL-{tag}-{n}"
        data = {"sku": sku, "set_on_hand": 1, "delta": None, "unit_price": None, "currency": None}
        admin.produce_command(
            producer, codec, "AdjustStock", topics.INVENTORY_COMMANDS.name, sku, data
        )
        last[kafka.partition(sku, stack.partitions)] = sku
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0, "Kafka did not acknowledge every filler record"
    with httpx.Client(base_url=stack.worker_url(ROLE), timeout=5) as worker:
        for sku in last.values():
            kafka.eventually(f"{sku} stocked", lambda s=sku: _stocked(worker, s), timeout_s=180)


def _stocked(worker: httpx.Client, sku: str) -> bool:
    if worker.get(f"/inventory/{sku}/").status_code != 200:
        raise RuntimeError(f"{sku} not in the table yet")
    return True


def _owned_by_other(stack: config.Settings, api: httpx.Client, tag: str) -> str:
    """A SKU, stocked with WATCHED_ON_HAND, whose stock partition the second instance owns
    (Faust's router says who owns a key)."""
    for n in range(100):
        sku = f"WATCH-{tag}-{n}"
        if stock_owner(stack, sku) == OTHER:
            assert stock(api, sku, WATCHED_ON_HAND).status_code == 200
            return sku
    raise AssertionError(f"no SKU of 100 is owned by {OTHER}")


def _kill_and_read(api: httpx.Client, sku: str, seen: Takeover) -> None:
    """SIGKILL the owner, then read the SKU until it answers again (and 2 s more)."""
    time.sleep(KILL_AT_S)
    services.kill(OTHER)
    killed = time.monotonic()
    until = killed + GIVE_UP_S
    while time.monotonic() < until:
        sent = time.monotonic()
        answer = api.get(f"/inventory/{sku}")
        seen.reads[answer.status_code] += 1
        if answer.status_code == 200:
            if answer.json()["on_hand"] != WATCHED_ON_HAND:
                seen.wrong.append(answer.text)
            if seen.answered_after_s is None:
                seen.answered_after_s = sent - killed
                until = min(until, time.monotonic() + 2.0)
        elif answer.status_code != 503:
            seen.wrong.append(f"{answer.status_code} {answer.text}")
        time.sleep(max(0.0, sent + READ_EVERY_S - time.monotonic()))


def _takeover(stack: config.Settings, api: httpx.Client, tag: str, standbys: int) -> Takeover:
    tag = f"{tag}S{standbys}"
    restart_instances(stack, ROLE, instances=2, standbys=standbys)
    _fill(stack, tag)
    watched = _owned_by_other(stack, api, tag)
    time.sleep(3.0)  # a standby replica reads the changelog as it is written
    run = Run.prepare(stack, api, tag)
    seen = Takeover(standbys)
    answers = offer_while(stack, run, ORDERS, RATE, lambda: _kill_and_read(api, watched, seen))
    print(f"\nstandby takeover: {seen}")
    verify(stack, api, run, answers, ORDERS, f"standby takeover, {standbys} standby replica(s)")
    assert not seen.wrong, f"reads answered wrong during the takeover: {seen.wrong[:3]}"
    assert seen.answered_after_s is not None, f"{watched} did not answer {GIVE_UP_S} s after"
    return seen


def test_a_standby_replica_takes_over_an_inventory_partition_when_its_owner_is_killed(
    stack: config.Settings, api: httpx.Client, unique: str
):
    try:
        without = _takeover(stack, api, unique, standbys=0)
        with_one = _takeover(stack, api, unique, standbys=1)
    finally:
        restart_instances(stack, ROLE, instances=1)
    print(f"\nstandby takeover, {FILLER} filler SKUs: {without}; {with_one}")
