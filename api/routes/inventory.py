"""Inventory: stock and prices read live from the inventory table (via the worker that owns the
SKU), set and adjusted with AdjustStock commands. The inventory decider alone decides whether
a change is allowed (never below what is reserved, never past its bound); the API reports
what it decided."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from api.auth import need
from api.errors import documented
from api.keys import INVENTORY_READ, INVENTORY_WRITE
from api.models import AdjustStockRequest, SetStockRequest, Sku
from api.services import PRODUCER, Services, ask_worker, services, until, worker_page
from schemas import topics
from schemas.events import command
from schemas.statuses import ADJUSTMENT_APPLIED, ADJUSTMENT_REFUSED

router = APIRouter(tags=["inventory"])
PathSku = Annotated[Sku, Path(description="Stock-keeping unit")]
CHANGED = {
    200: {"description": "Done: the SKU as the inventory table now shows it"},
    202: {"description": "Accepted; the inventory worker has not applied it yet"},
    **documented(
        401,
        403,
        409,
        413,
        422,
        503,
        _409="Refused by the inventory: on_hand would fall below what is reserved, below 0, "
        "or pass 1000000000",
    ),
}


async def _stock_view(svc: Services, sku: str) -> dict[str, Any] | None:
    """Live from the inventory table, via the worker that owns the SKU's partition."""
    return await ask_worker(svc.inventory, "inventory worker", f"/inventory/{sku}/")


async def _adjustment(
    svc: Services, sku: str, adjustment: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SKU's view (empty if never stocked) and what became of that AdjustStock (applied,
    refused, unknown); a refusal of a SKU never stocked comes with its 404."""
    found, page = await worker_page(
        svc.inventory, "inventory worker", f"/inventory/{sku}/", {"adjustment": adjustment}
    )
    outcome = page.pop("adjustment", {}) or {}
    return (page if found else {}), outcome


@router.get(
    "/inventory/{sku}",
    dependencies=[need(INVENTORY_READ)],
    responses=documented(401, 403, 404, 422, 503, _404="The SKU was never stocked"),
)
async def get_inventory(sku: PathSku, request: Request) -> dict[str, Any]:
    """`{sku, on_hand, reserved, available, unit_price, currency}`, live from the inventory
    table (unit_price and currency are null for a SKU without a price of record)."""
    view = await _stock_view(services(request), sku)
    if view is None:
        raise HTTPException(404, f"sku {sku!r} was never stocked")
    return view


async def _adjust(svc: Services, sku: str, data: dict[str, Any]) -> JSONResponse:
    message = command(
        "AdjustStock",
        topics.INVENTORY_COMMANDS.name,
        sku,
        {"sku": sku, "set_on_hand": None, "delta": None, "unit_price": None, "currency": None}
        | data
        | ({"unit_price": Decimal(data["unit_price"])} if "unit_price" in data else {}),
        str(uuid.uuid4()),
        PRODUCER,
    )
    await svc.publish(message)
    adjustment = message.envelope.event_id

    # Read-your-writes: wait briefly for the decider's answer. Accepted whatever happens now
    # (202 if the inventory worker is slow or restarting).
    async def look() -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return await _adjustment(svc, sku, adjustment)
        except HTTPException:
            return {}, {}

    view, outcome = await until(look, lambda seen: _decided(seen[1]), 5.0, every_s=0.05)
    if outcome.get("outcome") == ADJUSTMENT_REFUSED:
        raise HTTPException(409, f"sku {sku}: {outcome['reason']}")
    if outcome.get("outcome") == ADJUSTMENT_APPLIED:
        return JSONResponse(view, status_code=200)
    return JSONResponse({"sku": sku, "accepted": data}, status_code=202)


def _decided(outcome: dict[str, Any]) -> bool:
    return outcome.get("outcome") in (ADJUSTMENT_APPLIED, ADJUSTMENT_REFUSED)


@router.put("/inventory/{sku}", dependencies=[need(INVENTORY_WRITE)], responses=CHANGED)
async def set_inventory(sku: PathSku, body: SetStockRequest, request: Request) -> JSONResponse:
    """Set a SKU's physical stock, and with `unit_price` its price of record. 409 if on_hand
    is below what is reserved for orders."""
    price = (
        {"unit_price": str(body.unit_price), "currency": body.currency}
        if body.unit_price is not None
        else {}
    )
    return await _adjust(services(request), sku, {"set_on_hand": body.on_hand, **price})


@router.post(
    "/inventory/{sku}/adjustments", dependencies=[need(INVENTORY_WRITE)], responses=CHANGED
)
async def adjust_inventory(
    sku: PathSku, body: AdjustStockRequest, request: Request
) -> JSONResponse:
    """Add `delta` (negative to remove) to a SKU's physical stock. 409 if the result would
    be negative, below what is reserved, or past 1000000000."""
    return await _adjust(services(request), sku, {"delta": body.delta})
