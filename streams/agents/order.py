"""The order saga: everything about an order, co-partitioned by order_id."""

from __future__ import annotations

import faust

from orderflow.roles import BY_NAME
from streams.app import Worker
from streams.domain import order


def install(worker: Worker) -> None:
    orders_table = worker.table("orders", "Saga state per order_id")

    @worker.app.agent(worker.source(*BY_NAME["order"].inputs), name=f"{__name__}.order_saga")
    async def order_saga(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream, orders_table, order.decide, order.OrderState.from_json, order.OrderState.to_json
        )
