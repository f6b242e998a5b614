"""The Faust app, read top to bottom as a map of the system: topics, tables, agents.

Each agent is the same shell (streams/runtime.py) around a pure decider (streams/domain/).
State lives in RocksDB (rocksdict) tables backed by Kafka changelog topics.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from orderflow import config, topics
from orderflow.logs import setup_logging
from schemas.codec import Codec
from schemas.registry import SchemaRegistry
from streams.domain import fulfillment, inventory, order, payment
from streams.runtime import Shell

settings = config.load()
setup_logging()

app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="rocksdb://",  # Faust's RocksDB store; its driver is rocksdict (see _table)
    datadir=str(settings.state_dir / "worker"),
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    web_port=settings.worker_web_port,
    web_enabled=True,
)
shell = Shell(app, Codec(SchemaRegistry(settings.registry_url)))


def _source(*specs: topics.TopicSpec) -> faust.TopicT:
    return app.topic(*(spec.name for spec in specs), key_serializer="raw", value_serializer="raw")


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
saga_inputs = _source(
    topics.ORDERS_COMMANDS,
    topics.INVENTORY_EVENTS,
    topics.PAYMENTS_EVENTS,
    topics.FULFILLMENT_EVENTS,
)
orders_table = _table("orders", "Saga state per order_id")


@app.agent(saga_inputs)
async def order_saga(stream: faust.StreamT) -> None:
    await shell.run(
        stream, orders_table, order.decide, order.OrderState.from_json, order.OrderState.to_json
    )


# --- inventory: per-SKU stock, keyed by sku --------------------------------------------------
stock_table = _table("stock", "Stock per SKU: on_hand and holds per order")


@app.agent(_source(topics.INVENTORY_COMMANDS))
async def inventory_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        stock_table,
        inventory.decide,
        inventory.StockItem.from_json,
        inventory.StockItem.to_json,
    )


# --- payment: one gateway decision per order_id --------------------------------------------
payments_table = _table("payments", "Payment decision per order_id")


@app.agent(_source(topics.PAYMENTS_COMMANDS))
async def payment_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        payments_table,
        payment.decide,
        payment.PaymentState.from_json,
        payment.PaymentState.to_json,
    )


# --- fulfillment: warehouse per order_id -----------------------------------------------------
shipments_table = _table("shipments", "Warehouse chosen per order_id")


@app.agent(_source(topics.FULFILLMENT_COMMANDS))
async def fulfillment_agent(stream: faust.StreamT) -> None:
    await shell.run(stream, shipments_table, fulfillment.decide, _same, _same)


def _same(value: Any) -> Any:
    return value


# --- live reads for the API: GET /inventory/{sku} is served from the table's owner ----------
@app.page("/inventory/{sku}/")
@app.table_route(table=stock_table, match_info="sku")
async def inventory_view(web: View, request: Request, sku: str) -> Response:
    stored = stock_table.get(sku)
    if stored is None:
        return web.json({"detail": f"unknown sku {sku!r}"}, status=404)
    return web.json(inventory.StockItem.from_json(stored).view())


@app.page("/readyz/")
async def readiness(web: View, request: Request) -> Response:
    """Ready once partitions are assigned and every table is recovered from its changelog."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # on TableManager, not its ABC
    ready = recovery.completed.is_set() and not app.rebalancing
    return web.json({"ready": ready}, status=200 if ready else 503)


def main() -> None:
    app.main()
