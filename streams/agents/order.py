"""The order saga: everything about an order, co-partitioned by order_id, and the saga's view
of an order the API asks for (what became of a customer's cancel)."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from streams.app import Worker
from streams.domain import order
from streams.outbox import state_of, stored_value


def install(worker: Worker) -> None:
    app = worker.app
    orders_table = worker.table("orders", "Saga state per order_id")
    worker.retire(orders_table, order.ended, order.CREATES)

    @app.agent(worker.source(*BY_NAME["order"].inputs), name=f"{__name__}.order_saga")
    async def order_saga(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream,
            orders_table,
            order.decide,
            order.OrderState.from_json,
            order.OrderState.to_json,
            acts_on=frozenset(order.HANDLERS),
        )

    @worker.owner_page("/orders/{order_id}/", orders_table, match_info="order_id")
    async def order_view(web: View, request: Request, order_id: str) -> Response:
        """The saga's state of an order (status, stage, cancel refusals), served from the
        table by the worker that owns the order (order.order_page)."""
        stored = state_of(stored_value(orders_table, order_id))
        state = None if stored is None else order.OrderState.from_json(stored)
        status, body = order.order_page(state, order_id)
        return web.json(body, status=status)
