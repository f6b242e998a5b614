"""Inventory: stock read live from the inventory table (via the worker that owns the SKU),
set and adjusted with AdjustStock commands."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from api.models import AdjustStockRequest, SetStockRequest
from api.services import PRODUCER, Services, ask_worker, services, until
from schemas import topics
from schemas.events import command

router = APIRouter()


async def _stock_view(svc: Services, sku: str) -> dict[str, Any] | None:
    """Live from the inventory table, via the worker that owns the SKU's partition."""
    return await ask_worker(svc.inventory, "inventory worker", f"/inventory/{sku}/")


@router.get("/inventory/{sku}")
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
    async def look() -> dict[str, Any] | None:
        try:
            return await _stock_view(svc, sku)
        except HTTPException:
            return None

    def shown(view: dict[str, Any] | None) -> bool:
        return view is not None and bool(expect(view))

    view = await until(look, shown, 5.0, every_s=0.05)
    if shown(view):
        return JSONResponse(view, status_code=200)
    return JSONResponse({"sku": sku, "accepted": data}, status_code=202)


@router.put("/inventory/{sku}")
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


@router.post("/inventory/{sku}/adjustments")
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
