"""Orders: placing one (a PlaceOrder command), reading them from the read model, cancelling
(the saga decides; the API reports its decision)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.auth import need
from api.errors import documented
from api.idempotency import IdempotencyConflict, fingerprint, order_id_for
from api.keys import ORDERS_READ, ORDERS_WRITE
from api.models import CustomerId, Instant, OrderAccepted, OrderId, PlaceOrderRequest, Sku, Status
from api.services import (
    PRODUCER,
    Services,
    ask_worker,
    order_filters,
    orders_page,
    read_order,
    services,
    until,
)
from orderflow import metrics
from schemas import statuses, topics
from schemas.events import command
from schemas.statuses import STATUSES, TERMINAL

log = logging.getLogger("orderflow.api")
router = APIRouter(tags=["orders"])
PathOrderId = Annotated[OrderId, Path(description="The order id POST /orders answered")]
KNOWN_WITHIN_S = 2.0  # how long an order id nobody knows yet may take to become known
RANK_OF = {status: rank for rank, status in enumerate(STATUSES)}  # the way an order goes


@router.post(
    "/orders",
    status_code=202,
    response_model=OrderAccepted,
    dependencies=[need(ORDERS_WRITE)],
    responses=documented(
        401, 403, 409, 413, 422, 503, _409="Idempotency-Key used before with another body"
    ),
)
async def place_order(
    body: PlaceOrderRequest,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Same key and body: the same order again, nothing new is created",
        ),
    ] = None,
) -> OrderAccepted:
    """Accept an order: 202 once Kafka has the PlaceOrder command; the saga takes it from
    there. Each SKU may appear once in `items`. The saga prices every line from the
    catalogue: a line whose `unit_price` or the order's `currency` differs ends the order
    CANCELLED with PRICE_MISMATCH; a SKU without a price, UNKNOWN_SKU."""
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
                # a key this instance does not remember (older than its window, or sent to
                # another instance): an order the read model has is answered, not placed again
                known = await read_order(svc, order_id)
                if known is not None:
                    first = min(known["timeline"], key=lambda entry: entry["occurred_at"])
                    accepted = OrderAccepted(
                        order_id=order_id, correlation_id=first["correlation_id"]
                    )
                else:
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
    log.debug("order accepted", extra={"order_id": order_id, "correlation_id": correlation_id})
    return OrderAccepted(order_id=order_id, correlation_id=correlation_id)


@router.get(
    "/orders/{order_id}",
    dependencies=[need(ORDERS_READ)],
    responses=documented(401, 403, 404, 422, 503, _404="No such order in the read model"),
)
async def get_order(
    order_id: PathOrderId,
    request: Request,
    wait_for: Annotated[
        Status | None,
        Query(description="wait until the order has reached this status, or can no longer"),
    ] = None,
    timeout: Annotated[float, Query(ge=0, le=60, description="seconds to wait at most")] = 10.0,
) -> dict[str, Any]:
    """The order as the read model shows it. With `wait_for`, answers as soon as the order is
    at that status or past it, or ended where it can no longer reach it (a COMPLETED order
    waited for CANCELLED), or after `timeout` seconds with what it shows then."""
    svc = services(request)

    def settled(doc: dict[str, Any] | None) -> bool:
        return wait_for is None or (doc is not None and _reached_or_beyond(doc["status"], wait_for))

    doc = await read_order(svc, order_id)
    if doc is None and wait_for is not None and timeout > 0:
        # right after the 202 only the saga may know it; nobody knowing it is a 404 at once
        await _known_to_saga(svc, order_id, min(timeout, KNOWN_WITHIN_S))
    if not settled(doc):
        doc = await until(lambda: read_order(svc, order_id), settled, timeout)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return doc


def _reached_or_beyond(status: str | None, wanted: str) -> bool:
    """Whether waiting longer for `wanted` is pointless: the order is there, past it on the
    way, or in a terminal status (from which nothing else is reached)."""
    if status is None:
        return False
    return status == wanted or status in TERMINAL or RANK_OF[status] >= RANK_OF[wanted]


@router.get(
    "/orders/{order_id}/timeline",
    dependencies=[need(ORDERS_READ)],
    responses=documented(401, 403, 404, 422, 503, _404="No such order in the read model"),
)
async def get_timeline(order_id: PathOrderId, request: Request) -> dict[str, Any]:
    """Every event about the order, from every topic, in the order they occurred."""
    doc = await read_order(services(request), order_id)
    if doc is None:
        raise HTTPException(404, f"order {order_id} not found")
    return {"order_id": order_id, "status": doc["status"], "timeline": doc["timeline"]}


@router.get(
    "/orders",
    dependencies=[need(ORDERS_READ)],
    responses=documented(401, 403, 422, 503),
)
async def list_orders(
    request: Request,
    customer_id: CustomerId | None = None,
    status: Status | None = None,
    sku: Annotated[Sku | None, Query(description="orders with a line of this SKU")] = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="created_at >= (RFC 3339)")
    ] = None,
    to: Annotated[Instant | None, Query(description="created_at < (RFC 3339)")] = None,
    page: Annotated[
        int,
        Query(ge=1, le=100, description="1-based page of `size` orders (10,000 at most)"),
    ] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Orders from the read model, newest first, without their timelines."""
    filters = order_filters(customer_id, status, sku, from_, to)
    return await orders_page(services(request), filters, page, size)


@router.post(
    "/orders/{order_id}/cancel",
    dependencies=[need(ORDERS_WRITE)],
    responses={
        200: {"description": "Cancelled: the order (from the read model once it shows it)"},
        202: {"description": "Asked; the saga has not decided yet (the warehouse is asked)"},
        **documented(
            401,
            403,
            404,
            409,
            422,
            503,
            _404="No such order",
            _409="Too late (the parcel has left) or already cancelled for another reason",
        ),
    },
)
async def cancel_order(order_id: PathOrderId, request: Request) -> JSONResponse:
    """Ask the saga to cancel. It decides, as it knows the order before the read model does:
    before shipment it releases the stock, refunds what was charged and ends the order
    CANCELLED (CUSTOMER_REQUEST): 200. Once fulfilment is scheduled it asks the warehouse
    first: 202 while it waits. After shipment, or once the order ended otherwise: 409.
    A second cancel of an order already cancelled: 409."""
    svc = services(request)
    try:
        known = await _known_to_saga(svc, order_id, KNOWN_WITHIN_S)
    except HTTPException as unknown:
        if unknown.status_code == 404:
            await _refuse_if_retired(svc, order_id)
        raise
    cancel = command(
        "CancelOrder",
        topics.ORDERS_COMMANDS.name,
        order_id,
        {"order_id": order_id, "note": None},
        str(known.get("correlation_id") or order_id),
        PRODUCER,
    )
    await svc.publish(cancel)
    request_id = cancel.envelope.event_id

    def decided(view: dict[str, Any] | None) -> bool:
        return view is not None and (
            request_id in view["cancel_refused"] or request_id in view["cancelled_by"]
        )

    # From here on the cancel is in Kafka: a worker or Elasticsearch away is no reason for a
    # 503 (a client would send the cancel again, and its second one is refused as "already
    # cancelled"; the crash test caught that), only for a 202 that says it was asked
    view = await until(lambda: _quietly(_saga_view(svc, order_id)), decided, 10.0) or known
    refusal = view["cancel_refused"].get(request_id)
    if refusal == statuses.TOO_LATE:
        raise HTTPException(
            409,
            f"order {order_id} is {view['status']}: too late to cancel, it has left the warehouse",
        )
    if refusal is not None:
        raise HTTPException(409, f"order {order_id} is already cancelled ({view['cancel_reason']})")
    if request_id in view["cancelled_by"]:
        doc = await until(
            lambda: _quietly(read_order(svc, order_id)),
            lambda doc: doc is not None and doc["status"] == statuses.CANCELLED,
            5.0,
        )
        shown = doc if doc is not None and doc["status"] == statuses.CANCELLED else None
        return JSONResponse(shown or _summary(view), status_code=200)
    return JSONResponse({**_summary(view), "detail": "cancel requested"}, status_code=202)


async def _quietly(look: Awaitable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """What `look` returns, or None while what it asks cannot answer."""
    try:
        return await look
    except HTTPException:
        return None


async def _saga_view(svc: Services, order_id: str) -> dict[str, Any] | None:
    """The saga's own state of the order, live from its table (via the worker that owns the
    order's partition), or None while it does not know the order."""
    return await ask_worker(svc.orders, "order worker", f"/orders/{order_id}/")


async def _known_to_saga(svc: Services, order_id: str, within_s: float) -> dict[str, Any]:
    """The saga's view of the order, waiting `within_s` for it to read the PlaceOrder (an
    accepted order is in Kafka before the 202, the saga reads it a moment later); 404 if it
    still does not know the order then."""
    view = await until(lambda: _saga_view(svc, order_id), lambda seen: seen is not None, within_s)
    if view is None:
        raise HTTPException(404, f"order {order_id} not found")
    return view


async def _refuse_if_retired(svc: Services, order_id: str) -> None:
    """An order the saga no longer holds but the read model shows ended was retired from the
    saga's table after its window (streams/retirement.py): a cancel of it is refused 409 as
    the saga refused it while it held the order. With the read model away, the saga's 404
    stands (either way nothing is cancelled)."""
    doc = await _quietly(read_order(svc, order_id))
    if doc is None:
        return
    if doc["status"] == statuses.COMPLETED:
        raise HTTPException(
            409,
            f"order {order_id} is {doc['status']}: too late to cancel, it has left the warehouse",
        )
    if doc["status"] == statuses.CANCELLED:
        raise HTTPException(
            409, f"order {order_id} is already cancelled ({doc.get('cancel_reason')})"
        )


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view.get(k) for k in ("order_id", "status", "cancel_reason")}
