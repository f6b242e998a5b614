"""Orders: placing one (a PlaceOrder command), reading them from the read model, cancelling."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from api.idempotency import IdempotencyConflict, fingerprint, order_id_for
from api.models import OrderAccepted, PlaceOrderRequest
from api.services import PRODUCER, Services, elasticsearch, read_order, services, until
from orderflow import metrics
from schemas import statuses, topics
from schemas.events import command
from schemas.statuses import STATUSES, TERMINAL

log = logging.getLogger("orderflow.api")
router = APIRouter()


@router.post("/orders", status_code=202, response_model=OrderAccepted)
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


@router.get("/orders/{order_id}")
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

    def settled(doc: dict[str, Any] | None) -> bool:
        return wait_for is None or (
            doc is not None and (doc["status"] == wait_for or doc["status"] in TERMINAL)
        )

    doc = await until(lambda: read_order(svc, order_id), settled, timeout)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return doc


@router.get("/orders/{order_id}/timeline")
async def get_timeline(order_id: str, request: Request) -> dict[str, Any]:
    doc = await read_order(services(request), order_id)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return {"order_id": order_id, "status": doc["status"], "timeline": doc["timeline"]}


@router.get("/orders")
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
    with elasticsearch():
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


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: str, request: Request) -> JSONResponse:
    """Ask to cancel. Before shipment the saga releases the stock, refunds what was charged and
    ends the order CANCELLED (CUSTOMER_REQUEST): 200 with the order once the read model shows
    it, 202 if it is still on its way. After shipment, or once the order ended: 409."""
    svc = services(request)
    doc = await read_order(svc, order_id)
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

    async def look(last: dict[str, Any] = doc) -> dict[str, Any]:
        seen = await read_order(svc, order_id) or last
        if seen["status"] != statuses.CANCELLED:
            _refuse_cancel(seen)  # the parcel left before the cancel reached the warehouse
        return seen

    doc = await until(look, lambda seen: seen["status"] == statuses.CANCELLED, 10.0)
    if doc["status"] == statuses.CANCELLED:
        return JSONResponse(doc, status_code=200)
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
