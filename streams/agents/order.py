"""The order saga: everything about an order, co-partitioned by order_id."""

from __future__ import annotations

import faust

from orderflow.roles import BY_NAME
from streams.app import shell, source, table
from streams.domain import order

orders_table = table("orders", "Saga state per order_id")


@shell.app.agent(source(*BY_NAME["order"].inputs))
async def order_saga(stream: faust.StreamT) -> None:
    await shell.run_in_batches(
        stream, orders_table, order.decide, order.OrderState.from_json, order.OrderState.to_json
    )
