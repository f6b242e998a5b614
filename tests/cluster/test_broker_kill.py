"""A Kafka broker dies under load (issue 16): on the local cluster of three nodes
(ORDERFLOW_BROKERS=3: three copies of every topic, two in sync, producers with acks=all), the
node that leads the most partitions is SIGKILLed while orders come in at a steady pace, and
started again ten seconds later. Each order is sent with an Idempotency-Key and sent again
after a 503, as a client should (a 503 says "not known to be written": the record may still
land, so a retry without the key could place a second order). No accepted order may be lost or
doubled: every order the API answered 202 ends COMPLETED exactly once, no stock is reserved
or shipped twice, stock is conserved, the read model has every order; the API answers 202 or a
short 503, never a 500 or a hang. `make cluster` runs it (and `make test`, in a session of its
own after the others); it prints the figures: offered, accepted, terminal, lost, doubled, the
longest 503 window."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from elasticsearch import Elasticsearch

from ops import services
from orderflow import config
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.registry import SchemaRegistry
from tests.factories import order_body, stock
from tests.kafka_reading import partition_ends, read_range, reader

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

ORDERS = int(os.environ.get("ORDERFLOW_CLUSTER_ORDERS", "300"))
RATE = 20.0  # orders offered per second
KILL_AT_S = 5.0  # into the load
DOWN_FOR_S = 10.0
STOCK = 10_000
RETRIES = 60
CHECKED = (topics.ORDERS_EVENTS.name, topics.INVENTORY_EVENTS.name)


@dataclass
class Answer:
    sent: float  # monotonic
    took: float
    status: int  # 0: no answer within the client's timeout (a hang)
    order_id: str | None


def _node_name(node_id: int) -> str:
    return "kafka" if node_id == 1 else f"kafka-{node_id}"


def _busiest_leader(settings: config.Settings) -> int:
    """The node id that leads the most partitions of the project's topics."""
    metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    leaders: Counter[int] = Counter()
    for spec in topics.ALL:
        for partition in metadata.topics[spec.name].partitions.values():
            leaders[partition.leader] += 1
    return leaders.most_common(1)[0][0]


async def _load(api_url: str, skus: list[str], tag: str) -> list[Answer]:
    """Every answer to every attempt: order n is sent at n / RATE, and again (the same body and
    Idempotency-Key) half a second after each 503, up to RETRIES times."""
    answers: list[Answer] = []
    started = time.monotonic()

    async def one(client: httpx.AsyncClient, n: int) -> None:
        await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
        body = order_body(skus[n % len(skus)], f"bk-{tag}-{n % 40}")
        headers = {"Idempotency-Key": f"bk-{tag}-{n}"}
        for _ in range(RETRIES):
            sent = time.monotonic()
            try:
                answer = await client.post("/orders", json=body, headers=headers)
            except httpx.TimeoutException:
                answers.append(Answer(sent, time.monotonic() - sent, 0, None))
                return
            order_id = answer.json().get("order_id") if answer.status_code == 202 else None
            answers.append(Answer(sent, time.monotonic() - sent, answer.status_code, order_id))
            if answer.status_code != 503:
                return
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=api_url, timeout=20, headers=services.bearer()) as client:
        await asyncio.gather(*(one(client, n) for n in range(ORDERS)))
    return sorted(answers, key=lambda a: a.sent)


def _longest_503_window(answers: list[Answer]) -> float:
    """The longest stretch, from the sending of a 503'd request to the answer of the last 503
    before a request was accepted again."""
    longest, first = 0.0, None
    for a in answers:
        if a.status == 503:
            first = a.sent if first is None else first
            longest = max(longest, a.sent + a.took - first)
        elif a.status == 202:
            first = None
    return longest


def _kill_and_revive(victim: str, log: list[str]) -> None:
    time.sleep(KILL_AT_S)
    services.kill(victim)
    log.append(f"{time.strftime('%H:%M:%S')} SIGKILL {victim}")
    time.sleep(DOWN_FOR_S)
    services.stack("up", victim)
    log.append(f"{time.strftime('%H:%M:%S')} {victim} healthy again")


def test_a_broker_killed_under_load_loses_no_accepted_order(
    stack: config.Settings, api: httpx.Client, unique: str
):
    assert stack.brokers == 3 and stack.replication_factor == 3, "run with ORDERFLOW_BROKERS=3"
    skus = [f"BK-{unique}-{i}" for i in range(6)]
    for sku in skus:
        assert stock(api, sku, STOCK).status_code == 200
    probe = reader(stack, "broker-kill")
    starts = partition_ends(probe, CHECKED)
    probe.close()

    victim = _node_name(_busiest_leader(stack))
    chaos_log: list[str] = []
    chaos = threading.Thread(target=_kill_and_revive, args=(victim, chaos_log))
    chaos.start()
    try:
        answers = asyncio.run(_load(f"http://127.0.0.1:{stack.api_port}", skus, unique))
    finally:
        chaos.join()
    statuses = Counter(a.status for a in answers)
    accepted = {a.order_id for a in answers if a.order_id}
    retried = sum(a.status == 503 for a in answers)
    window = _longest_503_window(answers)

    # every accepted order ends, once, COMPLETED; nothing reserved twice
    codec = Codec(SchemaRegistry(stack.registry_url))
    deadline = time.monotonic() + 240
    while True:
        terminal: dict[str, set[tuple[str, str]]] = defaultdict(set)
        reserved: dict[tuple[str, str], set[str]] = defaultdict(set)
        for record in read_range(stack, starts):
            try:
                message = codec.decode(
                    record.topic(), (record.key() or b"").decode(), record.value()
                )
            except DecodeError:
                continue
            order_id = str(message.data.get("order_id"))
            if order_id not in accepted:
                continue
            if message.type in ("OrderCompleted", "OrderCancelled"):
                terminal[order_id].add((message.envelope.event_id, message.type))
            elif message.type == "StockReserved":
                reserved[(order_id, message.data["sku"])].add(message.envelope.event_id)
        if accepted <= terminal.keys() or time.monotonic() > deadline:
            break
        time.sleep(3)
    lost = accepted - terminal.keys()
    doubled = {o for o, ends in terminal.items() if len(ends) > 1}
    print(
        f"\nbroker kill ({victim}, {chaos_log}): offered {ORDERS}, accepted "
        f"{len(accepted)}, terminal {len(terminal)}, lost {len(lost)}, doubled {len(doubled)}; "
        f"answers {dict(statuses)} ({retried} retried), longest 503 window {window:.1f} s, "
        f"slowest answer {max(a.took for a in answers):.1f} s"
    )
    assert set(statuses) <= {202, 503}, f"answers other than 202 or 503: {dict(statuses)}"
    assert window < 30, f"the API answered 503 for {window:.1f} s in a row"
    assert len(accepted) == ORDERS, f"{len(accepted)} of {ORDERS} orders accepted"
    assert not lost, f"{len(lost)} accepted orders never ended, e.g. {sorted(lost)[:5]}"
    assert not doubled, f"orders with two terminal events: {sorted(doubled)[:5]}"
    outcomes = Counter(kind for ends in terminal.values() for _, kind in ends)
    assert outcomes == {"OrderCompleted": len(accepted)}, outcomes
    twice = {k for k, ids in reserved.items() if len(ids) > 1}
    assert not twice, f"lines reserved twice: {sorted(twice)[:5]}"

    # stock conserved: each completed order shipped its one unit, and nothing is held
    shipped_by_sku: Counter[str] = Counter()
    for sku in skus:
        level: dict[str, Any] = api.get(f"/inventory/{sku}").json()
        assert level["reserved"] == 0, (sku, level)
        shipped_by_sku[sku] = STOCK - level["on_hand"]
    assert sum(shipped_by_sku.values()) == len(accepted), (dict(shipped_by_sku), len(accepted))

    # the read model has every accepted order, completed
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    deadline = time.monotonic() + 120
    while True:
        found = es.mget(index=stack.orders_alias, ids=sorted(accepted))["docs"]
        done = {d["_id"] for d in found if d.get("found") and d["_source"]["status"] == "COMPLETED"}
        if done == accepted or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert done == accepted, f"{len(accepted - done)} orders missing from the read model"
