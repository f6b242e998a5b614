"""The FastAPI ingress: validates, produces commands, answers reads. No business decisions:
the saga decides; reads come from Elasticsearch (orders) and the inventory table (stock)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from api.idempotency import IdempotencyConflict, IdempotencyStore, fingerprint, order_id_for
from api.instrument import RequestMetrics
from api.models import (
    AdjustStockRequest,
    OrderAccepted,
    PlaceOrderRequest,
    SetStockRequest,
)
from api.producer import AsyncProducer, KafkaUnavailable
from orderflow import config, elastic, health, metrics
from orderflow.logs import setup_logging
from schemas import statuses, topics
from schemas.codec import Codec, headers_for
from schemas.events import Message, command
from schemas.registry import RegistryUnavailable, SchemaRegistry
from schemas.statuses import STATUSES, TERMINAL

log = logging.getLogger("orderflow.api")
PRODUCER = "api"


class Services:
    """Everything the handlers talk to, opened once per process."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.codec = Codec(SchemaRegistry(settings.registry_url, timeout_s=3.0))
        self.producer = AsyncProducer(settings.kafka_bootstrap, settings.produce_timeout_s)
        self.es = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=10)
        self.inventory = httpx.AsyncClient(base_url=settings.worker_url("inventory"), timeout=5.0)
        self.analytics = httpx.AsyncClient(base_url=settings.worker_url("analytics"), timeout=5.0)
        self.idempotency = IdempotencyStore(settings.state_dir / "api-idempotency")

    async def publish(self, message: Message) -> None:
        try:
            if self.codec.encodes_offline(message.type):
                value = self.codec.encode(message)
            else:  # the first of its type asks the registry: not on the event loop
                value = await asyncio.to_thread(self.codec.encode, message)
        except RegistryUnavailable as exc:
            raise HTTPException(503, f"schema registry unavailable: {exc}") from exc
        try:
            await self.producer.send(message.topic, message.key, value, headers_for(message))
        except KafkaUnavailable as exc:
            raise HTTPException(503, f"Kafka unavailable, nothing was accepted: {exc}") from exc

    async def close(self) -> None:
        self.producer.close()
        await self.es.close()
        await self.inventory.aclose()
        await self.analytics.aclose()
        self.idempotency.close()


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


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


LIVE_PAGE = Path(__file__).parent / "static" / "live.html"


@app.get("/live", include_in_schema=False)
async def live_page() -> FileResponse:
    """A small live page: recent orders and one order's timeline, polling the API."""
    return FileResponse(LIVE_PAGE, media_type="text/html")


@app.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is alive: answers without asking anything else."""
    return {"status": "ok"}


@app.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 only when Kafka, the schema registry and Elasticsearch answer (checked
    concurrently, a second at most); 503 otherwise. The body names each one's state."""
    settings = services(request).settings
    dependencies = await health.states(
        health.checks(settings, "kafka", "schema_registry", "elasticsearch")
    )
    ready = health.ready(dependencies)
    return JSONResponse(
        {"ready": ready, "dependencies": dependencies}, status_code=200 if ready else 503
    )


@app.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    """The API's series (orderflow/metrics.py) in the Prometheus text format."""
    return Response(metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})


# --- orders ----------------------------------------------------------------------------------
@app.post("/orders", status_code=202, response_model=OrderAccepted)
async def place_order(
    body: PlaceOrderRequest,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> OrderAccepted:
    svc = services(request)
    payload = body.model_dump(mode="json")
    if idempotency_key is None:
        accepted = await _accept(svc, payload, order_id=str(uuid.uuid4()), event_id=None)
    else:
        body_print = fingerprint(payload)
        async with svc.idempotency.lock(idempotency_key):
            try:
                earlier = svc.idempotency.recall(idempotency_key, body_print)
            except IdempotencyConflict:
                raise HTTPException(
                    409, "Idempotency-Key was already used with a different request body"
                ) from None
            if earlier is not None:
                accepted = OrderAccepted(
                    order_id=earlier["order_id"], correlation_id=earlier["correlation_id"]
                )
            else:
                order_id = order_id_for(idempotency_key)
                accepted = await _accept(svc, payload, order_id, event_id=order_id)
                svc.idempotency.remember(idempotency_key, body_print, accepted.model_dump())
    response.headers["Location"] = f"/orders/{accepted.order_id}"
    response.headers["X-Correlation-ID"] = accepted.correlation_id
    return accepted


async def _accept(
    svc: Services, payload: dict[str, Any], order_id: str, event_id: str | None
) -> OrderAccepted:
    correlation_id = str(uuid.uuid4())
    data = {
        "order_id": order_id,
        "customer_id": payload["customer_id"],
        "customer_email": payload["customer_email"],
        "currency": payload["currency"],
        "items": [
            {**item, "unit_price": Decimal(str(item["unit_price"]))} for item in payload["items"]
        ],
        "shipping_address": payload["shipping_address"],
        "payment_method": payload["payment"]["method"],
        "payment_scenario": payload["payment"]["scenario"],
    }
    message = command(
        "PlaceOrder",
        topics.ORDERS_COMMANDS.name,
        order_id,
        data,
        correlation_id,
        PRODUCER,
        event_id=event_id,
    )
    await svc.publish(message)
    metrics.ORDERS_ACCEPTED.inc()
    log.info("order accepted", extra={"order_id": order_id, "correlation_id": correlation_id})
    return OrderAccepted(order_id=order_id, correlation_id=correlation_id)


@contextmanager
def _elasticsearch() -> Iterator[None]:
    """Elasticsearch away, too slow, or answering 5xx or 429 (shards not allocated yet after
    a restart, overload): 503 with the reason. A query it refuses: 422."""
    try:
        yield
    except elastic.UNREACHABLE as exc:
        raise HTTPException(503, f"Elasticsearch unavailable: {exc}") from exc
    except ApiError as exc:
        if elastic.passing(exc.meta.status):
            raise HTTPException(503, f"Elasticsearch unavailable: {exc.message}") from exc
        raise HTTPException(422, f"Elasticsearch refused the query: {exc.message}") from exc


async def _read_order(svc: Services, order_id: str) -> dict[str, Any] | None:
    with _elasticsearch():
        try:
            found = await svc.es.get(index=svc.settings.orders_alias, id=order_id)
        except NotFoundError:
            return None
    return dict(found["_source"])


@app.get("/orders/{order_id}")
async def get_order(
    order_id: str,
    request: Request,
    wait_for: Annotated[str | None, Query(description="block until this status")] = None,
    timeout: Annotated[float, Query(ge=0, le=60)] = 10.0,
) -> dict[str, Any]:
    """The order as the read model shows it. With `wait_for`, waits (up to `timeout` seconds)
    until it shows that status, or a terminal one, for read-your-writes."""
    if wait_for is not None and wait_for not in STATUSES:
        raise HTTPException(422, f"wait_for must be one of {', '.join(STATUSES)}")
    svc = services(request)
    deadline = time.monotonic() + timeout
    while True:
        doc = await _read_order(svc, order_id)
        settled = doc is not None and (
            wait_for is None or doc["status"] == wait_for or doc["status"] in TERMINAL
        )
        if settled or wait_for is None or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return doc


@app.get("/orders/{order_id}/timeline")
async def get_timeline(order_id: str, request: Request) -> dict[str, Any]:
    doc = await _read_order(services(request), order_id)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return {"order_id": order_id, "status": doc["status"], "timeline": doc["timeline"]}


@app.get("/orders")
async def list_orders(
    request: Request,
    customer_id: str | None = None,
    status: str | None = None,
    sku: Annotated[str | None, Query(description="orders with a line of this SKU")] = None,
    from_: Annotated[
        str | None, Query(alias="from", description="created_at >= (ISO 8601)")
    ] = None,
    to: Annotated[str | None, Query(description="created_at < (ISO 8601)")] = None,
    page: Annotated[int, Query(ge=1, le=200, description="1-based page of `size` orders")] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Orders from the read model, newest first, without their timelines."""
    if status is not None and status not in STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
    filters: list[dict[str, Any]] = []
    if customer_id:
        filters.append({"term": {"customer_id": customer_id}})
    if status:
        filters.append({"term": {"status": status}})
    if sku:
        filters.append({"term": {"items.sku": sku}})
    if from_ or to:
        bounds = {k: v for k, v in (("gte", from_), ("lt", to)) if v}
        filters.append({"range": {"created_at": bounds}})
    svc = services(request)
    with _elasticsearch():
        found = await svc.es.search(
            index=svc.settings.orders_alias,
            query={"bool": {"filter": filters}},
            sort=[{"created_at": {"order": "desc", "missing": "_last"}}, {"order_id": "asc"}],
            from_=(page - 1) * size,
            size=size,
            source_excludes=["timeline"],
        )
    hits = found["hits"]
    return {
        "total": hits["total"]["value"],
        "page": page,
        "size": size,
        "orders": [hit["_source"] for hit in hits["hits"]],
    }


@app.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: str, request: Request) -> JSONResponse:
    """Ask to cancel. Before shipment the saga releases the stock, refunds what was charged and
    ends the order CANCELLED (CUSTOMER_REQUEST): 200 with the order once the read model shows
    it, 202 if it is still on its way. After shipment, or once the order ended: 409."""
    svc = services(request)
    doc = await _read_order(svc, order_id)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    _refuse_cancel(doc)
    correlation_id = doc["timeline"][0]["correlation_id"] if doc["timeline"] else order_id
    await svc.publish(
        command(
            "CancelOrder",
            topics.ORDERS_COMMANDS.name,
            order_id,
            {"order_id": order_id, "note": None},
            correlation_id,
            PRODUCER,
        )
    )
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        doc = await _read_order(svc, order_id) or doc
        if doc["status"] == statuses.CANCELLED:
            return JSONResponse(doc, status_code=200)
        _refuse_cancel(doc)  # the parcel left before the cancel reached the warehouse
    return JSONResponse(
        {"order_id": order_id, "status": doc["status"], "detail": "cancel requested"},
        status_code=202,
    )


def _refuse_cancel(doc: dict[str, Any]) -> None:
    status = doc["status"]
    if status in (statuses.SHIPPED, statuses.DELIVERED, statuses.COMPLETED):
        raise HTTPException(
            409,
            f"order {doc['order_id']} is {status}: too late to cancel, it has left the warehouse",
        )
    if status == statuses.CANCELLED:
        raise HTTPException(
            409, f"order {doc['order_id']} is already cancelled ({doc['cancel_reason']})"
        )


# --- analytics -------------------------------------------------------------------------------
@app.get("/analytics/live")
async def live_analytics(
    request: Request, minutes: Annotated[int, Query(ge=1, le=180)] = 10
) -> dict[str, Any]:
    """Orders, revenue and cancellations per minute, live from the analytics agent's windowed
    tables (newest minute first)."""
    svc = services(request)
    try:
        answer = await svc.analytics.get("/analytics/per-minute/", params={"minutes": minutes})
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"analytics worker unavailable: {exc!r}") from exc
    if answer.status_code != 200:
        raise HTTPException(503, f"analytics worker answered {answer.status_code}")
    return dict(answer.json())


@app.get("/analytics/orders")
async def order_analytics(
    request: Request,
    days: Annotated[int, Query(ge=1, le=366, description="revenue for this many days")] = 30,
) -> dict[str, Any]:
    """From the read model (Elasticsearch aggregations): orders per status, and revenue per
    day of orders confirmed and not cancelled, summed exactly in cents."""
    svc = services(request)
    with _elasticsearch():
        found = await svc.es.search(
            index=svc.settings.orders_alias,
            size=0,
            aggs={
                "by_status": {"terms": {"field": "status", "size": len(STATUSES)}},
                "revenue": {
                    "filter": {
                        "bool": {
                            "must_not": [
                                {"terms": {"status": [statuses.PENDING, statuses.CANCELLED]}}
                            ],
                            "filter": [{"range": {"created_at": {"gte": f"now-{days}d/d"}}}],
                        }
                    },
                    "aggs": {
                        "by_day": {
                            "date_histogram": {"field": "created_at", "calendar_interval": "day"},
                            "aggs": {"cents": {"sum": {"field": "total_cents"}}},
                        }
                    },
                },
            },
        )
    aggs = found["aggregations"]
    return {
        "orders": found["hits"]["total"]["value"],
        "by_status": {b["key"]: b["doc_count"] for b in aggs["by_status"]["buckets"]},
        "revenue_by_day": [
            {
                "day": b["key_as_string"][:10],
                "orders": b["doc_count"],
                # a sum of integers, exact; shown as a decimal with two places
                "revenue": str(Decimal(int(b["cents"]["value"])).scaleb(-2)),
            }
            for b in aggs["revenue"]["by_day"]["buckets"]
        ],
    }


# --- inventory -------------------------------------------------------------------------------
async def _stock_view(svc: Services, sku: str) -> dict[str, Any] | None:
    """Live from the inventory table, via the worker that owns the SKU's partition."""
    try:
        answer = await svc.inventory.get(f"/inventory/{sku}/")
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"inventory worker unavailable: {exc!r}") from exc
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise HTTPException(503, f"inventory worker answered {answer.status_code}")
    return dict(answer.json())


@app.get("/inventory/{sku}")
async def get_inventory(sku: str, request: Request) -> dict[str, Any]:
    view = await _stock_view(services(request), sku)
    if view is None:
        raise HTTPException(404, f"sku {sku!r} was never stocked")
    return view


async def _adjust(svc: Services, sku: str, data: dict[str, Any], expect: Any) -> JSONResponse:
    message = command(
        "AdjustStock",
        topics.INVENTORY_COMMANDS.name,
        sku,
        {"sku": sku, **data},
        str(uuid.uuid4()),
        PRODUCER,
    )
    await svc.publish(message)
    # Read-your-writes: wait briefly until the table shows the change. It is accepted
    # whatever happens now (202 if the inventory worker is slow or restarting).
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            view = await _stock_view(svc, sku)
        except HTTPException:
            view = None
        if view is not None and expect(view):
            return JSONResponse(view, status_code=200)
        await asyncio.sleep(0.05)
    return JSONResponse({"sku": sku, "accepted": data}, status_code=202)


@app.put("/inventory/{sku}")
async def set_inventory(sku: str, body: SetStockRequest, request: Request) -> JSONResponse:
    """Set a SKU's physical stock. 409 if that is below what is reserved for orders."""
    svc = services(request)
    view = await _stock_view(svc, sku)
    if view is not None and body.on_hand < view["reserved"]:
        raise HTTPException(
            409, f"on_hand {body.on_hand} is below the {view['reserved']} units reserved"
        )
    return await _adjust(
        svc,
        sku,
        {"set_on_hand": body.on_hand, "delta": None},
        lambda v: v["on_hand"] == body.on_hand,
    )


@app.post("/inventory/{sku}/adjustments")
async def adjust_inventory(sku: str, body: AdjustStockRequest, request: Request) -> JSONResponse:
    """Add `delta` (negative to remove) to a SKU's physical stock. 409 if the result would
    be negative or below what is reserved."""
    svc = services(request)
    view = await _stock_view(svc, sku) or {"on_hand": 0, "reserved": 0}
    target = view["on_hand"] + body.delta
    if target < max(view["reserved"], 0):
        raise HTTPException(
            409, f"on_hand would be {target}, below the {view['reserved']} units reserved"
        )
    return await _adjust(
        svc, sku, {"set_on_hand": None, "delta": body.delta}, lambda v: v["on_hand"] == target
    )
