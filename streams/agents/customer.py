"""Customers: the profile of record per customer_id, and the live read the API serves (with
what became of a command the API sent, so it can answer 409 for a refused one)."""

from __future__ import annotations

from functools import partial

import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from streams.app import Worker
from streams.domain import customer
from streams.outbox import state_of, stored_value


def install(worker: Worker) -> None:
    app = worker.app
    customers = worker.table("customers", "Profile per customer_id, and recent commands")
    cooldown_ms = int(worker.settings.email_cooldown_s * 1000)

    @app.agent(worker.source(*BY_NAME["customer"].inputs), name=f"{__name__}.customer_agent")
    async def customer_agent(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream,
            customers,
            partial(customer.decide, email_cooldown_ms=cooldown_ms),
            customer.CustomerState.from_json,
            customer.CustomerState.to_json,
        )

    @worker.owner_page("/customers/", customers, query_param="customer_id")
    async def customer_view(web: View, request: Request) -> Response:
        """GET /customers/{id} is served from the table, by the worker that owns the id (in
        the query: a customer_id may be '..', which a path would not carry)."""
        customer_id = request.query["customer_id"]
        stored = state_of(stored_value(customers, customer_id))
        state = None if stored is None else customer.CustomerState.from_json(stored)
        status, body = customer.page(state, customer_id, request.query.get("command"), cooldown_ms)
        return web.json(body, status=status)
