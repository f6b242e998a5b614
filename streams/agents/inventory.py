"""Inventory: per-SKU stock, keyed by sku, and the live stock read the API serves."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from schemas.events import Message
from streams import retirement
from streams.app import Side, Worker
from streams.domain import inventory
from streams.outbox import state_of, stored_value


def install(worker: Worker) -> None:
    app = worker.app
    stock_table = worker.table(
        "stock", "Per SKU: on_hand, reserved, shipped, price; per SKU and order: its hold"
    )
    # settled holds go SETTLED_MEMORY_MS of the commands' event time after they settled
    clock = retirement.EventClock()
    memory_s = inventory.SETTLED_MEMORY_MS / 1000
    worker.retire(stock_table, inventory.hold_ended, (), window_s=memory_s, clock=clock)
    holds = Side(inventory.hold_of, inventory.Hold.from_json, inventory.Hold.to_json)

    def decide(
        item: inventory.StockItem | None, hold: inventory.Hold | None, msg: Message, now: int
    ) -> inventory.Decision:
        clock.saw(msg)
        return inventory.decide(item, hold, msg, now)

    @app.agent(worker.source(*BY_NAME["inventory"].inputs), name=f"{__name__}.inventory_agent")
    async def inventory_agent(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream,
            stock_table,
            decide,
            inventory.StockItem.from_json,
            inventory.StockItem.to_json,
            side=holds,
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
