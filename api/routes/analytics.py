"""Analytics: live per-minute figures from the analytics worker's windowed tables, and
order figures aggregated from the read model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from api.auth import need
from api.errors import documented
from api.keys import ORDERS_READ
from api.services import ask_worker, elasticsearch, services
from schemas import statuses
from schemas.statuses import STATUSES

router = APIRouter(tags=["analytics"])


@router.get(
    "/analytics/live", dependencies=[need(ORDERS_READ)], responses=documented(401, 403, 422, 503)
)
async def live_analytics(
    request: Request, minutes: Annotated[int, Query(ge=1, le=180)] = 10
) -> dict[str, Any]:
    """Orders, revenue and cancellations per minute, live from the analytics agent's windowed
    tables (newest minute first)."""
    svc = services(request)
    figures = await ask_worker(
        svc.analytics, "analytics worker", "/analytics/per-minute/", {"minutes": minutes}
    )
    if figures is None:
        raise HTTPException(503, "analytics worker answered 404")
    return figures


@router.get(
    "/analytics/orders", dependencies=[need(ORDERS_READ)], responses=documented(401, 403, 422, 503)
)
async def order_analytics(
    request: Request,
    days: Annotated[int, Query(ge=1, le=366, description="revenue for this many days")] = 30,
) -> dict[str, Any]:
    """From the read model (Elasticsearch aggregations): orders per status, and revenue per
    day of orders confirmed and not cancelled, summed exactly in cents."""
    svc = services(request)
    with elasticsearch():
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
