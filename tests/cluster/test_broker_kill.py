"""A Kafka broker dies under load (issue 16): on the local cluster of three nodes
(ORDERFLOW_BROKERS=3: three copies of every topic, two in sync, producers with acks=all), the
node that leads the most partitions is SIGKILLed while orders come in at a steady pace, and
started again ten seconds later; it must lead partitions again soon after (Kafka's preferred
leader election). No accepted order may be lost or doubled, the API answers 202 or a short 503,
never a 500 or a hang (tests/cluster/under_load.py checks it and prints the figures).
`make cluster` runs it, and `make test` in a session of its own after the others."""

from __future__ import annotations

import os
import time
from collections import Counter

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from ops import services
from orderflow import config
from schemas import topics
from tests.cluster.under_load import Run, offer_while, verify

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

ORDERS = int(os.environ.get("ORDERFLOW_CLUSTER_ORDERS", "300"))
RATE = 20.0  # orders offered per second
KILL_AT_S = 5.0  # into the load
DOWN_FOR_S = 10.0
LEADS_AGAIN_WITHIN_S = 60.0  # the cluster checks leadership balance every 10 s


def _node_name(node_id: int) -> str:
    return "kafka" if node_id == 1 else f"kafka-{node_id}"


def _leaders(settings: config.Settings) -> Counter[int]:
    """How many partitions of the project's topics each node id leads."""
    metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    leaders: Counter[int] = Counter()
    for spec in topics.ALL:
        for partition in metadata.topics[spec.name].partitions.values():
            leaders[partition.leader] += 1
    return leaders


def _kill_and_revive(settings: config.Settings, victim_id: int, log: list[str]) -> None:
    victim = _node_name(victim_id)
    time.sleep(KILL_AT_S)
    services.kill(victim)
    log.append(f"{time.strftime('%H:%M:%S')} SIGKILL {victim}")
    time.sleep(DOWN_FOR_S)
    services.stack("up", victim)
    back = time.monotonic()
    log.append(f"{time.strftime('%H:%M:%S')} {victim} healthy again")
    while time.monotonic() < back + LEADS_AGAIN_WITHIN_S:
        if led := _leaders(settings)[victim_id]:
            log.append(
                f"{victim} leads {led} partitions again {time.monotonic() - back:.0f} s later"
            )
            return
        time.sleep(1.0)


def test_a_broker_killed_under_load_loses_no_accepted_order(
    stack: config.Settings, api: httpx.Client, unique: str
):
    assert stack.brokers == 3 and stack.replication_factor == 3, "run with ORDERFLOW_BROKERS=3"
    run = Run.prepare(stack, api, unique)
    victim_id = _leaders(stack).most_common(1)[0][0]
    chaos: list[str] = []
    answers = offer_while(
        stack, run, ORDERS, RATE, lambda: _kill_and_revive(stack, victim_id, chaos)
    )
    verify(stack, api, run, answers, ORDERS, f"broker kill ({', '.join(chaos)})")
    assert chaos and "leads" in chaos[-1], (
        f"the revived broker led nothing {LEADS_AGAIN_WITHIN_S} s later"
    )
