"""Inventory: per-SKU stock, keyed by sku, and the live stock read the API serves."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from streams.app import Worker
from streams.domain import inventory
from streams.outbox import state_of, stored_value


def install(worker: Worker) -> None:
    app = worker.app
    stock_table = worker.table("stock", "Stock per SKU: on_hand, holds per order, shipped")

    @app.agent(worker.source(*BY_NAME["inventory"].inputs), name=f"{__name__}.inventory_agent")
    async def inventory_agent(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream,
            stock_table,
            inventory.decide,
            inventory.StockItem.from_json,
            inventory.StockItem.to_json,
        )

    @worker.owner_page("/inventory/{sku}/", stock_table, match_info="sku")
    async def inventory_view(web: View, request: Request, sku: str) -> Response:
        """GET /inventory/{sku} is served from the table, by the worker that owns the SKU;
        `?adjustment=<event_id>` adds what became of that AdjustStock
        (inventory.stock_page)."""
        stored = state_of(stored_value(stock_table, sku))
        item = None if stored is None else inventory.StockItem.from_json(stored)
        adjustment = request.query.get("adjustment") or None
        status, body = inventory.stock_page(item, sku, adjustment)
        return web.json(body, status=status)
