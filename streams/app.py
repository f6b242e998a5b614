"""The Faust app, read top to bottom as a map of the system: topics, tables, agents.

Each agent is the same shell (streams/runtime.py) around a pure decider (streams/domain/).
State lives in RocksDB tables (Faust's RocksDB store, rocksdict driver) backed by Kafka
changelog topics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import faust
from faust.web import Request, Response, View

from orderflow import config, topics
from orderflow.logs import setup_logging
from schemas.codec import Codec
from schemas.events import Message, now_millis
from schemas.registry import SchemaRegistry
from streams.domain import analytics, fulfillment, inventory, notification, order, payment
from streams.domain.money import money
from streams.runtime import Shell

settings = config.load()
setup_logging()
log = logging.getLogger("orderflow.streams")

app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="rocksdb://",  # Faust's RocksDB store; its driver is rocksdict (see _table)
    datadir=str(settings.state_dir / "worker"),
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    # A killed worker's partitions come back after this, not after Faust's default minute.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    web_port=settings.worker_web_port,
    web_enabled=True,
)
shell = Shell(app, Codec(SchemaRegistry(settings.registry_url)), consumer=settings.app_id)


def _source(*names: str) -> faust.TopicT:
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def _internal(name: str) -> faust.TopicT:
    """A re-partitioning topic of the app's own (and its dead letters): Faust creates them."""
    topic = app.topic(
        f"{settings.app_id}-{name}",
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
        partitions=settings.partitions,
    )
    shell.declare_dead_letters(topic)
    return topic


def _table(name: str, help_: str) -> faust.types.TableT:
    # Values are plain dicts serialised as JSON (the app default): readable with kcat.
    return app.Table(
        name,
        default=None,
        partitions=settings.partitions,
        key_type=str,
        options={"driver": "rocksdict"},
        help=help_,
    )


# --- order saga: everything about an order, co-partitioned by order_id -------------------
orders_table = _table("orders", "Saga state per order_id")


@app.agent(
    _source(
        topics.ORDERS_COMMANDS.name,
        topics.INVENTORY_EVENTS.name,
        topics.PAYMENTS_EVENTS.name,
        topics.FULFILLMENT_EVENTS.name,
    )
)
async def order_saga(stream: faust.StreamT) -> None:
    await shell.run(
        stream, orders_table, order.decide, order.OrderState.from_json, order.OrderState.to_json
    )


# --- inventory: per-SKU stock, keyed by sku --------------------------------------------------
stock_table = _table("stock", "Stock per SKU: on_hand, holds per order, shipped")


@app.agent(_source(topics.INVENTORY_COMMANDS.name))
async def inventory_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        stock_table,
        inventory.decide,
        inventory.StockItem.from_json,
        inventory.StockItem.to_json,
    )


# --- payment: commands arrive keyed by order_id and are re-keyed by customer, so that one
# customer's spend window (the fraud rule) and their orders' verdicts share a partition -------
payments_by_customer = _internal("payments-by-customer")
payments_table = _table("payments", "Payment verdict per order_id (partitioned by customer)")
spend_table = app.Table(
    "customer_spend",
    default=int,  # a window with no spend yet reads 0
    partitions=settings.partitions,
    key_type=str,
    options={"driver": "rocksdict"},
    help="Authorized spend per customer per fraud window",
).tumbling(
    timedelta(seconds=settings.fraud_window_s),
    expires=timedelta(seconds=settings.fraud_window_s * 2),
)


@app.agent(_source(topics.PAYMENTS_COMMANDS.name))
async def payment_router(stream: faust.StreamT) -> None:
    async for event in stream.events():
        message = await shell.decode(event)
        if message is not None:
            await shell.forward(
                event, payments_by_customer.get_topic_name(), str(message.data["customer_id"])
            )


async def _gateway(scenario: str) -> payment.Verdict:
    """Call the (simulated) gateway, retrying transient errors with exponential backoff."""
    answers: list[str] = []
    while True:
        answers.append(payment.gateway_call(scenario, len(answers) + 1))
        if answers[-1] != payment.TRANSIENT or len(answers) >= payment.MAX_ATTEMPTS:
            return payment.verdict_after(answers)
        await asyncio.sleep(payment.backoff_s(len(answers), settings.payment_backoff_s))


def _spent(customer_id: str) -> Decimal:
    return money(spend_table[customer_id].current() or 0)


async def decide_payment(
    state: payment.PaymentState | None, msg: Message, now: int
) -> tuple[Any, list[Message]]:
    if msg.type == "RefundPayment":
        return payment.refund(state, msg, now)
    if msg.type != "AuthorizePayment" or state is not None:
        return state, []
    amount = money(msg.data["amount"])
    if payment.fraud_suspected(
        _spent(msg.data["customer_id"]), amount, money(settings.fraud_limit)
    ):
        verdict = payment.FRAUD
    else:
        verdict = await _gateway(msg.data["scenario"])
    return payment.authorize(state, msg, now, verdict)


def count_spend(msg: Message, before: Any, after: Any) -> None:
    """Once a new authorization is stored, it counts against the customer's window."""
    if before is None and after.outcome == payment.AUTHORIZED:
        customer = after.customer_id
        spend_table[customer] = str(_spent(customer) + money(after.amount))


@app.agent(payments_by_customer)
async def payment_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        payments_table,
        decide_payment,
        payment.PaymentState.from_json,
        payment.PaymentState.to_json,
        key_of=lambda m: str(m.data["order_id"]),
        committed=count_spend,
    )


# --- fulfillment: warehouse per order_id and the simulated carrier ---------------------------
shipments_table = _table("shipments", "Shipment per order_id: warehouse, stage, next due time")
delays = fulfillment.CarrierDelays(
    ship_ms=int(settings.ship_delay_s * 1000), deliver_ms=int(settings.deliver_delay_s * 1000)
)
fulfillment_commands = _source(topics.FULFILLMENT_COMMANDS.name)


@app.agent(fulfillment_commands)
async def fulfillment_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        shipments_table,
        lambda state, msg, now: fulfillment.decide(state, msg, now, delays),
        fulfillment.Shipment.from_json,
        fulfillment.Shipment.to_json,
    )


@app.timer(interval=settings.carrier_tick_s)
async def carrier_clock() -> None:
    """The carrier's clock: tick every shipment whose next step is due (on this worker's
    partitions). The tick goes through the topic so the agent decides in order."""
    now = now_millis()
    ticks = []
    for key, stored in list(shipments_table.items()):
        try:
            tick = fulfillment.due_tick(fulfillment.Shipment.from_json(stored), now)
        except (KeyError, TypeError, ValueError):
            log.error("unreadable shipment state, skipped", extra={"order_id": key})
            continue
        if tick is not None:
            ticks.append(tick)
    await shell.send_all(ticks)


# --- notification: one message per customer-visible transition -------------------------------
notifications_table = _table("notifications", "Transitions already notified per order_id")


@app.agent(_source(topics.ORDERS_EVENTS.name, topics.FULFILLMENT_EVENTS.name))
async def notification_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        notifications_table,
        notification.decide,
        notification.Notified.from_json,
        notification.Notified.to_json,
    )


# --- analytics: live per-minute figures; all order events meet in one partition --------------
analytics_input = _internal("analytics-by-metric")
per_minute = (
    app.Table(
        "per_minute",
        default=int,  # a minute with nothing yet reads 0
        partitions=settings.partitions,
        key_type=str,
        options={"driver": "rocksdict"},
        help="Orders, revenue and cancellations per minute",
    )
    .tumbling(timedelta(minutes=1), expires=timedelta(hours=3))
    .relative_to_stream()  # the minute the order event was written (kept on forward)
)
ANALYTICS_KEY = "all"


@app.agent(_source(topics.ORDERS_EVENTS.name))
async def analytics_router(stream: faust.StreamT) -> None:
    async for event in stream.events():
        message = await shell.decode(event)
        if message is not None and analytics.contributions(message):
            await shell.forward(event, analytics_input.get_topic_name(), ANALYTICS_KEY)


@app.agent(analytics_input)
async def analytics_agent(stream: faust.StreamT) -> None:
    async for event in stream.events():
        message = await shell.decode(event)
        if message is None:
            continue
        for metric, amount in analytics.contributions(message).items():
            per_minute[metric] = str(Decimal(per_minute[metric].current() or 0) + amount)


# --- live reads for the API ------------------------------------------------------------------
@app.page("/inventory/{sku}/")
@app.table_route(table=stock_table, match_info="sku")
async def inventory_view(web: View, request: Request, sku: str) -> Response:
    """GET /inventory/{sku} is served from the table, by the worker that owns the SKU."""
    stored = stock_table.get(sku)
    if stored is None:
        return web.json({"detail": f"unknown sku {sku!r}"}, status=404)
    return web.json(inventory.StockItem.from_json(stored).view())


@app.page("/analytics/per-minute/")
async def analytics_view(web: View, request: Request) -> Response:
    minutes = min(int(request.query.get("minutes", 10)), 180)
    this_minute = int(time.time()) // 60 * 60
    # WindowSet.delta() needs a stream event; outside one, read the window of a timestamp.
    windows = cast(Any, per_minute.table)
    rows = []
    for ago in range(minutes):
        start = this_minute - ago * 60
        row: dict[str, Any] = {
            "minutes_ago": ago,
            "minute": datetime.fromtimestamp(start, UTC).isoformat(),
        }
        for metric in analytics.METRICS:
            row[metric] = str(Decimal(windows._windowed_timestamp(metric, start + 30) or 0))
        rows.append(row)
    return web.json({"window": "1m", "minutes": rows})


@app.page("/readyz/")
async def readiness(web: View, request: Request) -> Response:
    """Ready once partitions are assigned and every table is recovered from its changelog."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # on TableManager, not its ABC
    ready = recovery.completed.is_set() and not app.rebalancing
    return web.json({"ready": ready}, status=200 if ready else 503)


def main() -> None:
    app.main()
