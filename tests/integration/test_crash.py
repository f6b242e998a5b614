"""The invariants of DESIGN.md under crashes and contention, on the real stack.

A few thousand orders of mixed scenarios (several lines, declines, gateway errors, a customer
over the fraud limit, unknown SKUs, customer cancels, orders competing for the last units of
scarce SKUs, restocks) go in through the API, with customer traffic beside them (customers
registered before and during the load, email changes, deactivations and reactivations), while
a chaos thread SIGKILLs the worker of every role and the indexer at random moments and
restarts it. When the load is in and the last
victim is back, the test reads what happened from Kafka (every event of this run, decoded) and
from Elasticsearch, and checks:

- every accepted order has exactly one terminal outcome, and the one its scenario allows;
- no reservation, release or shipment of a line happened twice, no payment was authorized or
  refunded twice, and a refund only follows an authorization;
- per SKU, on_hand + shipped equals the initial stock plus the restocks, and every level the
  inventory published kept 0 <= reserved <= on_hand, ending with nothing reserved;
- an order ends CUSTOMER_INACTIVE only if its customer was deactivated during the run, and then
  with nothing reserved;
- every notification goes to the customer's email of record (one of the addresses the customer
  had during the run), or for a guest checkout to the order's own address;
- the read model shows each order's terminal status, with no timeline entry twice.

Size and pace: ORDERFLOW_CRASH_ORDERS (default 2000), ORDERFLOW_CRASH_SEED (random)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from elasticsearch import Elasticsearch

from ops import services
from orderflow import config, roles
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.events import Message
from schemas.registry import SchemaRegistry
from streams.domain import analytics, order
from streams.outbox import Stored
from tests.conftest import FAST
from tests.factories import stock
from tests.kafka_reading import partition_ends, read_range

pytestmark = [pytest.mark.stack, pytest.mark.crash]

ORDERS = int(os.environ.get("ORDERFLOW_CRASH_ORDERS", "2000"))
CONCURRENCY = 24
PLENTY, PLENTY_STOCK = 12, 2000
SCARCE, SCARCE_STOCK = 4, 12
VICTIMS = (*services.WORKERS, "indexer")
TERMINAL = {"OrderCompleted", "OrderCancelled"}
SAGA_CHANGELOG = f"{roles.app_id(config.Settings().app_id, 'order')}-orders-changelog"
VERIFIED_TOPICS = (
    topics.ORDERS_EVENTS.name,
    topics.INVENTORY_EVENTS.name,
    topics.INVENTORY_LEVELS.name,
    topics.PAYMENTS_EVENTS.name,
    topics.NOTIFICATIONS_EVENTS.name,
)
CUSTOMERS = 150  # the order mix's customer ids: cust-<tag>-0 .. 149
REGISTERED = range(0, 40)  # registered before the load
FLAKY = range(0, 10)  # of those, deactivated and reactivated during the load
LATE = range(40, 60)  # registered during the load: their orders may be guests or theirs


@dataclass(frozen=True)
class Record:
    timestamp_ms: int
    message: Message


@dataclass
class Plan:
    """One order to place, and what its scenario allows as an outcome."""

    body: dict[str, Any]
    kind: str  # plain | decline | error | fraud | unknown | scarce | cancel
    order_id: str = ""
    cancel_answer: int | None = None


@dataclass
class Run:
    tag: str
    plenty: list[str]
    scarce: list[str]
    whale: str
    luxury: str  # priced over the fraud limit's reach in one line: the whale's orders
    initial: dict[str, int] = field(default_factory=dict)
    restocked: Counter[str] = field(default_factory=Counter)
    plans: list[Plan] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    chaos: list[str] = field(default_factory=list)  # "HH:MM:SS.mmm victim", for diagnosis
    # customer_id -> every address it may have had as its email of record during the run
    emails: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    customer_ops: Counter[str] = field(default_factory=Counter)

    def customer(self, n: int) -> str:
        return f"cust-{self.tag}-{n}"


LUXURY_PRICE = "2500.00"


def _line(sku: str, quantity: int, price: str = "9.99") -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": price}


def _plans(run: Run, rng: random.Random) -> list[Plan]:
    plans = []
    for n in range(ORDERS):
        roll = rng.random()
        lines = [_line(sku, rng.randint(1, 3)) for sku in rng.sample(run.plenty, rng.randint(1, 3))]
        customer, scenario, kind = run.customer(n % CUSTOMERS), "approve", "plain"
        if roll < 0.25:
            kind = "scarce"
            lines.append(_line(rng.choice(run.scarce), rng.randint(1, 2)))
        elif roll < 0.33:
            kind, scenario = "decline", "decline"
        elif roll < 0.38:
            kind, scenario = "error", "error"
        elif roll < 0.42:
            kind = "unknown"
            lines.append(_line(f"NOPE-{run.tag}-{n}", 1))
        elif roll < 0.47:
            kind, customer = "fraud", run.whale
            lines = [_line(run.luxury, 1, LUXURY_PRICE)]
        elif roll < 0.57:
            kind = "cancel"
        body = {
            "customer_id": customer,
            "customer_email": f"{customer}@example.com",
            "currency": "EUR",
            "items": lines,
            "shipping_address": {"country": rng.choice(["NL", "DE", "GB", "US", "SG", "BR"])},
            "payment": {"method": "card", "scenario": scenario},
        }
        plans.append(Plan(body, kind))
    return plans


def allowed(plan: Plan, outcome: str, flaky: Collection[str] = ()) -> bool:
    """Whether `outcome` (COMPLETED or CANCELLED:<reason>) fits what the order asked for; an
    order of a customer in `flaky` (deactivated for a while) may also end CUSTOMER_INACTIVE."""
    if outcome == "CANCELLED:CUSTOMER_INACTIVE":
        return plan.body["customer_id"] in flaky
    if plan.kind == "cancel" and plan.cancel_answer in (200, 202):
        return outcome in ("COMPLETED", "CANCELLED:CUSTOMER_REQUEST")
    return (
        outcome
        in {
            "plain": {"COMPLETED"},
            "cancel": {"COMPLETED"},  # the cancel came too late (409): it ships
            "scarce": {"COMPLETED", "CANCELLED:OUT_OF_STOCK"},
            "decline": {"CANCELLED:PAYMENT_DECLINED"},
            "error": {"CANCELLED:PAYMENT_DECLINED"},
            "unknown": {"CANCELLED:UNKNOWN_SKU"},
            "fraud": {"COMPLETED", "CANCELLED:FRAUD_SUSPECTED"},
        }[plan.kind]
    )


# --- load ------------------------------------------------------------------------------------
async def _post(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """Retry what the API could not accept (503 while Kafka or a worker is away)."""
    for _ in range(60):
        try:
            answer = await client.request(method, url, **kw)
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
            continue
        if answer.status_code != 503:
            return answer
        await asyncio.sleep(0.5)
    raise AssertionError(f"{method} {url} kept failing")


async def _load(api_url: str, run: Run, rng: random.Random) -> None:
    queue: asyncio.Queue[Plan] = asyncio.Queue()
    for plan in run.plans:
        queue.put_nowait(plan)
    restock_every = max(ORDERS // 40, 1)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            plan = queue.get_nowait()
            answer = await _post(client, "POST", "/orders", json=plan.body)
            assert answer.status_code == 202, answer.text
            plan.order_id = answer.json()["order_id"]
            if plan.kind == "cancel":
                await asyncio.sleep(rng.uniform(0, 2))
                cancel = await _post(client, "POST", f"/orders/{plan.order_id}/cancel")
                plan.cancel_answer = cancel.status_code
                assert cancel.status_code in (200, 202, 404, 409), cancel.text
                if cancel.status_code == 404:  # not in the read model yet: ask again
                    await asyncio.sleep(1)
                    cancel = await _post(client, "POST", f"/orders/{plan.order_id}/cancel")
                    plan.cancel_answer = cancel.status_code
            if queue.qsize() % restock_every == 0:
                sku = rng.choice(run.plenty + run.scarce)
                restock = await _post(
                    client, "POST", f"/inventory/{sku}/adjustments", json={"delta": 2}
                )
                assert restock.status_code in (200, 202), restock.text
                run.restocked[sku] += 2

    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=services.bearer()) as client:
        loading = asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        await asyncio.gather(loading, _customer_traffic(client, run, rng, loading))


def _record_email(run: Run, customer_id: str, n: int) -> str:
    email = f"{customer_id}-v{n}@record.example.com"
    run.emails[customer_id].add(email)
    return email


async def _register(client: httpx.AsyncClient, run: Run, n: int) -> None:
    customer_id = run.customer(n)
    email = _record_email(run, customer_id, 0)
    body = {"customer_id": customer_id, "name": f"Crash {n}", "email": email}
    answer = await _post(client, "POST", "/customers", json=body)
    assert answer.status_code in (200, 202), answer.text
    run.customer_ops["register"] += 1


async def _customer_traffic(
    client: httpx.AsyncClient, run: Run, rng: random.Random, loading: asyncio.Future[Any]
) -> None:
    """While the orders go in: register the LATE customers one by one, change registered
    customers' emails (a change inside the cooldown is a 409), and deactivate and reactivate
    the FLAKY ones; each FLAKY customer ends active."""
    late = list(LATE)
    inactive: set[int] = set()
    changes = 0
    while not loading.done():
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        roll = rng.random()
        if late and roll < 0.2:
            await _register(client, run, late.pop(0))
        elif roll < 0.6:
            n = rng.choice([*REGISTERED, *(i for i in LATE if i not in late)])
            changes += 1
            customer_id = run.customer(n)
            email = _record_email(run, customer_id, changes)
            answer = await _post(
                client, "PUT", f"/customers/{customer_id}/email", json={"email": email}
            )
            assert answer.status_code in (200, 202, 409), answer.text
            run.customer_ops[f"email {answer.status_code}"] += 1
        else:
            n = rng.choice(FLAKY)
            action = "reactivate" if n in inactive else "deactivate"
            answer = await _post(client, "POST", f"/customers/{run.customer(n)}/{action}")
            assert answer.status_code in (200, 202), answer.text
            inactive ^= {n}
            run.customer_ops[action] += 1
    for n in inactive:
        answer = await _post(client, "POST", f"/customers/{run.customer(n)}/reactivate")
        assert answer.status_code in (200, 202), answer.text


# --- chaos -----------------------------------------------------------------------------------
def _chaos(run: Run, stop: threading.Event, rng: random.Random) -> None:
    """Kill every victim in turn (a shuffled round, then another), at random moments, until
    told to stop, but not before every victim was killed at least twice."""
    while not stop.is_set() or min(run.kills[v] for v in VICTIMS) < 2:
        for victim in rng.sample(VICTIMS, len(VICTIMS)):
            if stop.wait(rng.uniform(1.0, 4.0)) and min(run.kills[v] for v in VICTIMS) >= 2:
                return
            services.kill(victim)
            run.kills[victim] += 1
            run.chaos.append(f"{datetime.now(UTC).strftime('%H:%M:%S.%f')[:-3]} {victim}")
            time.sleep(rng.uniform(0.0, 2.0))
            services.start(victim, env=FAST)


# --- what happened, from Kafka ---------------------------------------------------------------
def _read(settings: config.Settings, starts: dict[TopicPartition, int]) -> list[Record]:
    """Every record from `starts` to the current end of each partition, decoded."""
    codec = Codec(SchemaRegistry(settings.registry_url))
    records = []
    for record in read_range(settings, starts):
        try:
            key = (record.key() or b"").decode()
            message = codec.decode(record.topic(), key, record.value())
            records.append(Record(record.timestamp()[1], message))
        except DecodeError:
            pass  # another test's poison
    return records


def _since(settings: config.Settings, topic: str, epoch_s: int) -> dict[TopicPartition, int]:
    """The offsets of `topic`'s partitions at a point in time."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "crash-t"})
    try:
        ends = partition_ends(consumer, [topic])
        asked = [TopicPartition(tp.topic, tp.partition, epoch_s * 1000) for tp in ends]
        found = consumer.offsets_for_times(asked, timeout=10)
        return {
            TopicPartition(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else ends[tp]
            for tp in found
        }
    finally:
        consumer.close()


def _expected_minutes(records: list[Record]) -> dict[str, dict[str, Decimal]]:
    """Per-minute figures as the analytics role should have them: each order's first
    OrderPlaced / OrderConfirmed / OrderCancelled record counts, in the minute it was written
    (a copy the saga wrote again after a crash does not)."""
    first: dict[tuple[str, str], Record] = {}
    for record in records:
        first.setdefault((record.message.key, record.message.type), record)
    minutes: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in first.values():
        start = record.timestamp_ms // 60_000 * 60
        minute = datetime.fromtimestamp(start, UTC).isoformat()
        for metric, amount in analytics.contributions(record.message).items():
            minutes[minute][metric] += amount
    return minutes


def _terminals(messages: Iterable[Message], order_ids: set[str]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for m in messages:
        if m.type in TERMINAL and m.key in order_ids:
            reason = m.data.get("reason") or ""
            outcome = "COMPLETED" if m.type == "OrderCompleted" else f"CANCELLED:{reason}"
            found[m.key].add((m.envelope.event_id, outcome))
    return found


def _await_terminals(
    settings: config.Settings, starts: dict[TopicPartition, int], order_ids: set[str]
) -> list[Message]:
    """Every order's terminal event, and then quiet: effects that trail the terminal event
    (a ShipStock the inventory handles after the order completed, notifications) are in too,
    once two reads five seconds apart find the same records."""
    deadline = time.monotonic() + 300
    before: list[Message] = []
    while True:
        messages = [record.message for record in _read(settings, starts)]
        done = _terminals(messages, order_ids).keys() >= order_ids
        if (done and len(messages) == len(before)) or time.monotonic() > deadline:
            return messages
        before = messages if done else []
        time.sleep(5 if done else 3)


async def _register_all(api_url: str, run: Run, numbers: Iterable[int]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=services.bearer()) as client:
        for n in numbers:
            await _register(client, run, n)


def _retirements(
    settings: config.Settings, starts: dict[TopicPartition, int], order_ids: set[str]
) -> tuple[set[str], set[str]]:
    """The run's orders deleted from the saga's changelog, and those written again with a
    state other than ended after that (brought back to life)."""
    retired: set[str] = set()
    revived: set[str] = set()
    for record in read_range(settings, starts):
        key = record.key().decode() if record.key() else ""
        if key not in order_ids:
            continue
        if record.value() is None:
            retired.add(key)
        elif key in retired:
            state = Stored.from_table(json.loads(record.value())).state
            if not order.ended(state):
                revived.add(key)
    return retired, revived


def _wait_ok(api: httpx.Client, path: str, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.get(path).status_code == 200:
            return True
        time.sleep(0.2)
    return False


# --- the test --------------------------------------------------------------------------------
def test_invariants_hold_while_workers_are_killed(
    stack: config.Settings, api: httpx.Client, unique: str
):
    seed = int(os.environ.get("ORDERFLOW_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    tag = unique
    run = Run(
        tag,
        plenty=[f"CR-{tag}-P{i}" for i in range(PLENTY)],
        scarce=[f"CR-{tag}-S{i}" for i in range(SCARCE)],
        whale=f"whale-{tag}",
        luxury=f"CR-{tag}-L",
    )
    for sku in [*run.plenty, *run.scarce, run.luxury]:
        run.initial[sku] = SCARCE_STOCK if "-S" in sku else PLENTY_STOCK
        price = LUXURY_PRICE if sku == run.luxury else "9.99"
        assert stock(api, sku, run.initial[sku], price=price).status_code == 200
    run.plans = _plans(run, rng)
    asyncio.run(_register_all(f"http://127.0.0.1:{stack.api_port}", run, REGISTERED))
    for n in REGISTERED:  # known to the customer worker before the load
        assert _wait_ok(api, f"/customers/{run.customer(n)}"), f"customer {n} never registered"

    probe = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": "crash-probe"})
    starts = partition_ends(probe, VERIFIED_TOPICS)
    saga_starts = partition_ends(probe, [SAGA_CHANGELOG])
    probe.close()

    first_minute = int(time.time()) // 60 * 60
    stop = threading.Event()
    chaos = threading.Thread(target=_chaos, args=(run, stop, random.Random(seed + 1)))
    started = time.monotonic()
    chaos.start()
    try:
        asyncio.run(_load(f"http://127.0.0.1:{stack.api_port}", run, rng))
        loaded = time.monotonic() - started
    finally:
        stop.set()
        chaos.join()
        for victim in VICTIMS:
            services.start(victim, env=FAST)
        services.wait_ready(stack)  # even after a failure: the next test needs them back

    plans = {plan.order_id: plan for plan in run.plans}
    messages = _await_terminals(stack, starts, set(plans))
    drained = time.monotonic() - started
    # An event is its event_id: a record written again after a crash (the same event, sent
    # again from an outbox or re-created by handling its cause again) is read once, at its
    # first place, as consumers do. No effect may have two event ids (checked below).
    seen: set[str] = set()
    ours = []
    for m in messages:
        if (m.key in plans or m.key in run.initial) and m.envelope.event_id not in seen:
            seen.add(m.envelope.event_id)
            ours.append(m)
    print(
        f"\ncrash test (seed {seed}): {len(plans)} orders in {loaded:.0f}s, all settled "
        f"after {drained:.0f}s; kills {dict(run.kills)}; {len(ours)} events checked"
    )
    assert min(run.kills[v] for v in VICTIMS) >= 2, f"not every victim was killed: {run.kills}"

    # finished orders were retired from the saga's table during the run (the session's short
    # ORDERFLOW_RETIRE_AFTER_S), and none came back: no live state after its deletion
    retired, revived = _retirements(stack, saga_starts, set(plans))
    print(f"{len(retired)} orders retired from the saga's table during the run")
    assert retired, "no finished order was retired during the run"
    assert not revived, f"{len(revived)} retired orders came back, e.g. {sorted(revived)[:5]}"

    # exactly one terminal outcome per order, and one its scenario allows
    terminals = _terminals(ours, set(plans))
    missing = set(plans) - terminals.keys()
    assert not missing, (
        f"{len(missing)} orders never ended: "
        + "; ".join(
            f"{o} ({plans[o].kind}) saw {[m.type for m in ours if m.data.get('order_id') == o]}"
            for o in sorted(missing)[:5]
        )
        + f"; kills at {run.chaos[-30:]}"
    )
    several = {o: t for o, t in terminals.items() if len(t) != 1}
    assert not several, f"orders with several terminal events: {list(several.items())[:5]}"
    outcome = {order_id: next(iter(t))[1] for order_id, t in terminals.items()}
    flaky = {run.customer(n) for n in FLAKY}
    wrong = [
        (plans[o].kind, plans[o].body["customer_id"], plans[o].cancel_answer, out)
        for o, out in outcome.items()
        if not allowed(plans[o], out, flaky)
    ]
    assert not wrong, f"{len(wrong)} unexpected outcomes, e.g. {wrong[:10]}"
    print(f"outcomes: {dict(Counter(outcome.values()))}; customers: {dict(run.customer_ops)}")
    reserved_orders = {m.data["order_id"] for m in ours if m.type == "StockReserved"}
    inactive_reserved = [
        o
        for o, out in outcome.items()
        if out.endswith("CUSTOMER_INACTIVE") and o in reserved_orders
    ]
    assert not inactive_reserved, f"CUSTOMER_INACTIVE after a reservation: {inactive_reserved[:5]}"

    # every notification to the email of record, or a guest's to the order's own address
    registered = {run.customer(n) for n in REGISTERED}
    misdirected = []
    for m in ours:
        if m.type != "NotificationSent" or m.key not in plans:
            continue
        body = plans[m.key].body
        customer_id, own = body["customer_id"], body["customer_email"]
        allowed_to = set(run.emails[customer_id])
        if customer_id not in registered:
            allowed_to.add(own)  # a guest, or registered during the load
        if m.data["recipient"] not in allowed_to:
            misdirected.append((m.key, customer_id, m.data["template"], m.data["recipient"]))
    assert not misdirected, f"{len(misdirected)} notices misdirected, e.g. {misdirected[:5]}"

    # nothing happened twice
    effects: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for m in ours:
        if m.type in ("StockReserved", "StockReleased", "StockShipped"):
            effects[(m.type, m.data["order_id"], m.data["sku"])].add(m.envelope.event_id)
        elif m.type in ("PaymentAuthorized", "PaymentRefunded", "PaymentDeclined"):
            effects[(m.type, m.key, "")].add(m.envelope.event_id)
    twice = {k: v for k, v in effects.items() if len(v) > 1}
    assert not twice, f"effects applied twice: {list(twice.items())[:5]}"
    refunded = {o for (t, o, _) in effects if t == "PaymentRefunded"}
    authorized = {o for (t, o, _) in effects if t == "PaymentAuthorized"}
    assert refunded <= authorized, f"refunds without authorization: {refunded - authorized}"
    for order_id in refunded:
        assert outcome[order_id].startswith("CANCELLED"), f"{order_id} refunded but completed"

    # stock is conserved, and no level went below zero or above what is on hand
    shipped: Counter[str] = Counter()
    latest: dict[str, dict[str, Any]] = {}
    for m in ours:
        if m.type == "StockShipped":
            shipped[m.data["sku"]] += m.data["quantity"]
        elif m.type == "StockLevelChanged":
            level = m.data
            assert 0 <= level["reserved"] <= level["on_hand"], f"bad level: {level}"
            latest[level["sku"]] = level
    for sku, initial in run.initial.items():
        level = latest[sku]
        assert level["reserved"] == 0, f"{sku} still holds {level['reserved']} units"
        assert level["shipped"] == shipped[sku], (sku, level, shipped[sku])
        assert level["on_hand"] + level["shipped"] == initial + run.restocked[sku], (
            sku,
            level,
            initial,
            run.restocked[sku],
        )
        live = api.get(f"/inventory/{sku}").json()
        assert live["on_hand"] == level["on_hand"] and live["reserved"] == 0, (sku, live, level)
    completed_units: Counter[str] = Counter()
    for order_id, out in outcome.items():
        if out == "COMPLETED":
            for line in plans[order_id].body["items"]:
                completed_units[line["sku"]] += line["quantity"]
    assert +shipped == +completed_units, "units shipped differ from units of completed orders"

    # the read model agrees, each event once
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    deadline = time.monotonic() + 120
    while True:
        docs = {}
        ids = list(plans)
        for i in range(0, len(ids), 500):
            found = es.mget(index="orders", ids=ids[i : i + 500])["docs"]
            docs.update({d["_id"]: d["_source"] for d in found if d.get("found")})
        stale = [o for o in plans if docs.get(o, {}).get("status") != outcome[o].split(":")[0]]
        if not stale or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not stale, f"{len(stale)} read-model documents disagree, e.g. {stale[:5]}"
    for order_id, doc in docs.items():
        event_ids = [e["event_id"] for e in doc["timeline"]]
        assert len(event_ids) == len(set(event_ids)), f"{order_id}: a timeline entry twice"

    # the live per-minute analytics count every order event once, crashes or not
    records = _read(stack, _since(stack, topics.ORDERS_EVENTS.name, first_minute))
    expected = _expected_minutes(records)
    copies = len(records) - len({r.message.envelope.event_id for r in records})
    print(f"orders.events.v1: {len(records)} records, {copies} written twice by a restarted saga")
    deadline = time.monotonic() + 60
    while True:
        span = (int(time.time()) - first_minute) // 60 + 2  # the minute may turn meanwhile
        rows = api.get("/analytics/live", params={"minutes": span}).json()["minutes"]
        live = {
            row["minute"]: {metric: Decimal(row[metric]) for metric in analytics.METRICS}
            for row in rows
            if row["minute"] in expected
        }
        want = {
            minute: {metric: figures[metric] for metric in analytics.METRICS}
            for minute, figures in expected.items()
        }
        if live == want or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert live == want, f"live analytics {live} differ from the events {want}"
