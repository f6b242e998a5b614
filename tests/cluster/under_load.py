"""What the cluster tests share: orders offered at a steady pace while something happens to the
system (a broker dies, workers restart), and the check that afterwards nothing was lost or
doubled. Each order has an Idempotency-Key and is sent again after a 503, as a client should:
a 503 says "not known to be written", and the record may still land."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from elasticsearch import Elasticsearch

from ops import services
from orderflow import config
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.registry import SchemaRegistry
from tests.conftest import FAST
from tests.factories import order_body, stock
from tests.kafka_reading import partition_ends, read_range, reader

STOCK = 10_000
RETRIES = 60
CHECKED = (topics.ORDERS_EVENTS.name, topics.INVENTORY_EVENTS.name)


def restart_instances(stack: config.Settings, role: str, instances: int, standbys: int = 0) -> None:
    """The role as `instances` instances (of three at most), each keeping `standbys` standby
    replicas of its tables, and waited for until ready."""
    names = [services.instance_name(role, n) for n in (1, 2, 3)]
    services.stop(*names)
    env = {**FAST, "ORDERFLOW_TABLE_STANDBY_REPLICAS": str(standbys)}
    for name in names[:instances]:
        services.start(name, env=env)
    services.wait_ready(stack, names=tuple(names[:instances]))


def stock_owner(stack: config.Settings, sku: str) -> str | None:
    """The inventory instance (by process name, of three at most) that owns `sku`'s stock
    partition, as Faust's router on the first instance says; None for none of them."""
    with httpx.Client(base_url=stack.worker_url("inventory"), timeout=5) as entry:
        owner = entry.get(f"/router/stock/{sku}/").json()
    for n in (1, 2, 3):
        name = services.instance_name("inventory", n)
        if f"{stack.worker_web_host}:{services.instance_port(stack, name)}" in owner:
            return name
    return None


@dataclass
class Answer:
    sent: float  # monotonic
    took: float
    status: int  # 0: no answer within the client's timeout (a hang)
    order_id: str | None


@dataclass
class Run:
    """One load: its SKUs (stocked with STOCK each) and where the checked topics ended before."""

    tag: str
    skus: list[str]
    starts: dict[Any, int]

    @classmethod
    def prepare(cls, stack: config.Settings, api: httpx.Client, tag: str) -> Run:
        skus = [f"CL-{tag}-{i}" for i in range(6)]
        for sku in skus:
            assert stock(api, sku, STOCK).status_code == 200
        probe = reader(stack, "cluster-test")
        starts = partition_ends(probe, CHECKED)
        probe.close()
        return cls(tag, skus, starts)


def offer_while(
    stack: config.Settings, run: Run, orders: int, rate: float, happening: Callable[[], None]
) -> list[Answer]:
    """`offer`, with `happening` (what the test does to the system) running beside it in a
    thread; returns once both are over."""
    beside = threading.Thread(target=happening)
    beside.start()
    try:
        return offer(stack, run, orders, rate)
    finally:
        beside.join()


def offer(stack: config.Settings, run: Run, orders: int, rate: float) -> list[Answer]:
    """Every answer to every attempt, in the order they were sent: order n at n / rate, and
    again (the same body and key) half a second after each 503, up to RETRIES times."""
    return sorted(asyncio.run(_offer(stack, run, orders, rate)), key=lambda a: a.sent)


async def _offer(stack: config.Settings, run: Run, orders: int, rate: float) -> list[Answer]:
    answers: list[Answer] = []
    started = time.monotonic()

    async def one(client: httpx.AsyncClient, n: int) -> None:
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        body = order_body(run.skus[n % len(run.skus)], f"cl-{run.tag}-{n % 40}")
        headers = {"Idempotency-Key": f"cl-{run.tag}-{n}"}
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

    url = f"http://127.0.0.1:{stack.api_port}"
    async with httpx.AsyncClient(base_url=url, timeout=20, headers=services.bearer()) as client:
        await asyncio.gather(*(one(client, n) for n in range(orders)))
    return answers


def longest_503_window(answers: list[Answer]) -> float:
    """The longest stretch from the sending of a 503'd request to the answer of the last 503
    before a request was accepted again."""
    longest, first = 0.0, None
    for a in answers:
        if a.status == 503:
            first = a.sent if first is None else first
            longest = max(longest, a.sent + a.took - first)
        elif a.status == 202:
            first = None
    return longest


def verify(
    stack: config.Settings,
    api: httpx.Client,
    run: Run,
    answers: list[Answer],
    orders: int,
    what: str,
    say: Callable[[str], None] = print,
) -> None:
    """Nothing lost, nothing doubled: every order accepted once, and each ends COMPLETED
    exactly once, no line reserved twice, stock conserved (one unit per order) with nothing
    held, the read model complete; the API answered 202 or a short 503, never anything else.
    Says the figures first, whatever the outcome."""
    statuses = Counter(a.status for a in answers)
    accepted = {a.order_id for a in answers if a.order_id}
    window = longest_503_window(answers)
    codec = Codec(SchemaRegistry(stack.registry_url))
    deadline = time.monotonic() + 240
    while True:
        terminal: dict[str, set[tuple[str, str]]] = defaultdict(set)
        reserved: dict[tuple[str, str], set[str]] = defaultdict(set)
        for record in read_range(stack, run.starts):
            key = (record.key() or b"").decode()
            try:
                message = codec.decode(record.topic(), key, record.value())
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
    say(
        f"\n{what}: offered {orders}, accepted {len(accepted)}, terminal {len(terminal)}, "
        f"lost {len(lost)}, doubled {len(doubled)}; answers {dict(statuses)} "
        f"({statuses[503]} retried), longest 503 window {window:.1f} s, slowest answer "
        f"{max(a.took for a in answers):.1f} s"
    )
    assert set(statuses) <= {202, 503}, f"answers other than 202 or 503: {dict(statuses)}"
    assert window < 30, f"the API answered 503 for {window:.1f} s in a row"
    assert len(accepted) == orders, f"{len(accepted)} of {orders} orders accepted"
    assert not lost, f"{len(lost)} accepted orders never ended, e.g. {sorted(lost)[:5]}"
    assert not doubled, f"orders with two terminal events: {sorted(doubled)[:5]}"
    outcomes = Counter(kind for ends in terminal.values() for _, kind in ends)
    assert outcomes == {"OrderCompleted": len(accepted)}, outcomes
    twice = {k for k, ids in reserved.items() if len(ids) > 1}
    assert not twice, f"lines reserved twice: {sorted(twice)[:5]}"

    # stock conserved: each completed order shipped its one unit, and nothing is held. An
    # order completes on delivery, which does not wait for the inventory to apply its
    # ShipStock: a worker that lagged (a rebalance) may still hold units for a while.
    deadline = time.monotonic() + 60
    while True:
        answers = [api.get(f"/inventory/{sku}") for sku in run.skus]
        levels: list[dict[str, Any]] = [a.json() for a in answers if a.status_code == 200]
        settled = len(levels) == len(run.skus) and all(lv["reserved"] == 0 for lv in levels)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(levels) == len(run.skus), [a.text for a in answers if a.status_code != 200]
    held = [level for level in levels if level["reserved"] != 0]
    assert not held, f"units still held 60 s after every order ended: {held}"
    shipped = sum(STOCK - level["on_hand"] for level in levels)
    assert shipped == len(accepted), (shipped, len(accepted))

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
