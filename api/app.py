"""The FastAPI ingress: validates, produces commands, answers reads. No business decisions:
the saga decides; reads come from Elasticsearch (orders) and the inventory table (stock).
The routes live in api/routes/ (one module per resource); what they share in
api/services.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.instrument import RequestMetrics
from api.routes import analytics, inventory, operations, orders
from api.services import Services
from orderflow import config
from orderflow.logs import setup_logging

__all__ = ["Services", "app"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    setup_logging()
    app.state.services = Services(config.load())
    try:
        yield
    finally:
        await app.state.services.close()


app = FastAPI(
    title="OrderFlow",
    description="Orders in, Avro events over Kafka, a saga of Faust agents, timelines in "
    "Elasticsearch.",
    version="0.1.0",
    lifespan=lifespan,
)
app.add_middleware(RequestMetrics)
for routes in (operations, orders, analytics, inventory):
    app.include_router(routes.router)
