"""The FastAPI ingress: validates, produces commands, answers reads. No business decisions:
the saga and the inventory decide; reads come from Elasticsearch (orders) and the tables
(stock, the saga's view of an order). The routes live in api/routes/ (one module per
resource); what they share in api/services.py; who may call what in api/auth.py; the one
error shape in api/errors.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, keys
from api.graphql import router as graphql_router
from api.instrument import RequestMetrics
from api.limits import BodyLimit
from api.routes import analytics, customers, inventory, operations, orders
from api.services import Services
from orderflow import config
from orderflow.logs import setup_logging

__all__ = ["Services", "app"]
log = logging.getLogger("orderflow.api")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    setup_logging()
    settings = config.load()
    app.state.api_keys = keys.configured(settings.api_keys, settings.api_keys_file)
    if not app.state.api_keys:
        log.warning(
            "no API key is configured (ORDERFLOW_API_KEYS, ORDERFLOW_API_KEYS_FILE): every "
            "request but /healthz, /readyz, /metrics and the docs is refused"
        )
    app.state.services = Services(settings)
    forgetting = asyncio.create_task(app.state.services.forget_old_keys())
    try:
        yield
    finally:
        forgetting.cancel()
        await app.state.services.close()


app = FastAPI(
    title="OrderFlow",
    description="Orders in, Avro events over Kafka, a saga of Faust agents, timelines in "
    "Elasticsearch. Every operation needs `Authorization: Bearer <key>` with the scope it "
    "names (`make run` prints a development key). Every error has one shape: "
    "`{status, title, detail, errors}`.",
    version="0.2.0",
    lifespan=lifespan,
)
errors.install(app)
app.add_middleware(BodyLimit)
app.add_middleware(RequestMetrics)
for routes in (operations, orders, analytics, inventory, customers):
    app.include_router(routes.router)
app.include_router(graphql_router)  # /graphql: its own schema, not in the OpenAPI document
