"""Analytics: live per-minute figures from the analytics worker's windowed tables; order
figures aggregated from the read model (revenue per day, today's figures, any window's); and
the newest events across every topic, from the per-event index.

Today's and a window's figures are one report: `figures_query` builds the Elasticsearch
request from a window, `order_figures` shapes its answer. Both are pure, so
tests/unit/test_api_reports.py checks them against a hand-written answer. Money is summed in
integer cents and reported per currency: orders may be in different currencies, and a sum of
euros and dollars is no figure at all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from api.auth import need
from api.errors import documented
from api.keys import ORDERS_READ
from api.models import CURRENCIES, Instant
from api.services import ask_worker, elasticsearch, order_filters, services
from schemas import statuses
from schemas.catalog import load_catalog
from schemas.statuses import CANCEL_REASONS, STATUSES

router = APIRouter(tags=["analytics"])

# Revenue is what orders the saga confirmed and that were not cancelled since are worth: the
# one rule of /analytics/orders and of the reports
NOT_REVENUE = {"terms": {"status": [statuses.PENDING, statuses.CANCELLED]}}
TOP_SKUS = 10
# Every event type the catalogue declares, commands aside: the per-event index holds events
# only, so a command's name (or a typo) is a 422, not an empty list
EVENT_TYPES = tuple(
    sorted(name for name, entry in load_catalog().items() if ".commands." not in entry.topic)
)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


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
                            "must_not": [NOT_REVENUE],
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
                "revenue": money(int(b["cents"]["value"])),
            }
            for b in aggs["revenue"]["by_day"]["buckets"]
        ],
    }


# --- today's and a window's figures --------------------------------------------------------
Money = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+\.[0-9]{2}$",
        description="A decimal string with two places",
        examples=["24.68"],
    ),
]
Tally = Annotated[int, Field(ge=0)]


class CurrencyFigures(BaseModel):
    orders: Annotated[Tally, Field(description="Orders created in the window in this currency")]
    revenue_orders: Annotated[
        Tally, Field(description="Of those, the orders confirmed and not cancelled")
    ]
    revenue: Annotated[
        Money, Field(description="What the revenue orders total, summed exactly in cents")
    ]
    revenue_cents: Annotated[Tally, Field(description="The same sum in integer cents")]
    average_order_value: Annotated[
        Money | None,
        Field(
            description="revenue / revenue_orders, rounded exactly to the cent, half to even "
            "(ROUND_HALF_EVEN); null without revenue orders"
        ),
    ]


class Cancellations(BaseModel):
    total: Annotated[Tally, Field(description="Orders created in the window and cancelled")]
    by_reason: Annotated[
        dict[str, Tally],
        Field(description=f"Cancelled orders per cancel_reason ({', '.join(CANCEL_REASONS)})"),
    ]


class SkuOrders(BaseModel):
    sku: str
    orders: Annotated[Tally, Field(description="Orders with a line of this SKU")]


class OrderFigures(BaseModel):
    """Figures of the orders created in [`from`, `to`), from the read model."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Annotated[datetime, Field(alias="from", description="created_at >= this")]
    to: Annotated[datetime, Field(description="created_at < this")]
    orders: Annotated[Tally, Field(description="Orders created in the window, any status")]
    by_status: Annotated[
        dict[str, Tally], Field(description=f"Orders per status ({', '.join(STATUSES)})")
    ]
    cancellations: Cancellations
    top_skus: Annotated[
        list[SkuOrders],
        Field(
            max_length=TOP_SKUS,
            description=f"The {TOP_SKUS} SKUs in most orders, most first (ties by SKU). An "
            "order counts once per SKU it has a line of, whatever the quantity: these are "
            "orders containing the SKU, not units sold",
        ),
    ]
    by_currency: Annotated[
        dict[str, CurrencyFigures],
        Field(
            description="Orders and revenue per ISO 4217 currency. Amounts of different "
            "currencies are never added up, so there is no grand total of revenue"
        ),
    ]


@dataclass(frozen=True)
class Window:
    """Orders created at `start` or later and before `end`."""

    start: datetime
    end: datetime


def today(now: datetime) -> Window:
    """The UTC day so far."""
    now = now.astimezone(UTC)
    return Window(now.replace(hour=0, minute=0, second=0, microsecond=0), now)


def range_window(
    from_: Annotated[
        Instant,
        Query(
            alias="from",
            description="created_at >= (RFC 3339); not after `to` (or now, when `to` is absent)",
        ),
    ],
    to: Annotated[
        Instant | None, Query(description="created_at < (RFC 3339); default: now")
    ] = None,
) -> Window:
    """The window GET /analytics/range asks about; `from` after `to` (now, when absent) is a
    422 naming both, a rule JSON Schema cannot state between two parameters. Unbounded: the
    figures cost the same for any window (no per-day buckets)."""
    end = to if to is not None else datetime.now(UTC)
    if from_ > end:
        said = "`to`" if to is not None else "`to` (now, as it is absent)"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "from"),
                    "msg": f"must not be after {said}",
                    "type": "value_error",
                },
                {"loc": ("query", "to"), "msg": "must not be before `from`", "type": "value_error"},
            ]
        )
    return Window(from_, end)


def figures_query(window: Window) -> dict[str, Any]:
    """The search (keyword arguments of `AsyncElasticsearch.search`) for the figures of the
    orders created in `window`."""
    return {
        "query": {
            "bool": {"filter": order_filters(created_from=window.start, created_before=window.end)}
        },
        "size": 0,
        "track_total_hits": True,  # the count exact past 10,000 orders
        "aggs": {
            "by_status": {"terms": {"field": "status", "size": len(STATUSES)}},
            "cancelled": {
                "filter": {"term": {"status": statuses.CANCELLED}},
                "aggs": {
                    "by_reason": {"terms": {"field": "cancel_reason", "size": len(CANCEL_REASONS)}}
                },
            },
            # `items` is an object field, not nested: a terms aggregation on items.sku counts
            # each order once per SKU it contains
            "top_skus": {
                "terms": {
                    "field": "items.sku",
                    "size": TOP_SKUS,
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            },
            "by_currency": {
                "terms": {"field": "currency", "size": len(CURRENCIES)},
                "aggs": {
                    "revenue": {
                        "filter": {"bool": {"must_not": [NOT_REVENUE]}},
                        "aggs": {"cents": {"sum": {"field": "total_cents"}}},
                    }
                },
            },
        },
    }


def order_figures(window: Window, answer: Mapping[str, Any]) -> OrderFigures:
    """Elasticsearch's answer to `figures_query(window)` as the report."""
    aggs = answer["aggregations"]
    return OrderFigures(
        from_=window.start,
        to=window.end,
        orders=answer["hits"]["total"]["value"],
        by_status=_counts(aggs["by_status"]),
        cancellations=Cancellations(
            total=aggs["cancelled"]["doc_count"],
            by_reason=_counts(aggs["cancelled"]["by_reason"]),
        ),
        top_skus=[
            SkuOrders(sku=b["key"], orders=b["doc_count"]) for b in aggs["top_skus"]["buckets"]
        ],
        by_currency={
            b["key"]: _currency_figures(b["doc_count"], b["revenue"])
            for b in aggs["by_currency"]["buckets"]
        },
    )


def _counts(terms: Mapping[str, Any]) -> dict[str, int]:
    return {b["key"]: b["doc_count"] for b in terms["buckets"]}


def _currency_figures(orders: int, revenue: Mapping[str, Any]) -> CurrencyFigures:
    # a sum of integers: Elasticsearch adds them as doubles, exact below 2**53 cents
    cents = int(revenue["cents"]["value"])
    count = revenue["doc_count"]
    return CurrencyFigures(
        orders=orders,
        revenue_orders=count,
        revenue=money(cents),
        revenue_cents=cents,
        average_order_value=money(average_cents(cents, count)) if count else None,
    )


def money(cents: int) -> str:
    """Integer cents as a decimal string with two places (2468 -> "24.68")."""
    return str(Decimal(cents).scaleb(-2))


def average_cents(total_cents: int, count: int) -> int:
    """`total_cents / count` rounded to a whole cent, half to even, with no float or decimal
    context in between (a Fraction is exact)."""
    return round(Fraction(total_cents, count))


@router.get(
    "/analytics/today",
    response_model=OrderFigures,
    dependencies=[need(ORDERS_READ)],
    responses=documented(401, 403, 422, 503),
)
async def today_figures(request: Request) -> OrderFigures:
    """Figures of the orders created today so far (the UTC day, from midnight to now), from
    the read model: orders per status, cancellations per reason, the SKUs in most orders, and
    per currency the revenue of orders confirmed and not cancelled (the rule of
    /analytics/orders), summed exactly in cents, with the average order value."""
    return await _figures(request, today(datetime.now(UTC)))


@router.get(
    "/analytics/range",
    response_model=OrderFigures,
    dependencies=[need(ORDERS_READ)],
    responses=documented(
        401, 403, 422, 503, _422="Invalid request, or `from` after `to`: `errors` names each field"
    ),
)
async def range_figures(
    request: Request, window: Annotated[Window, Depends(range_window)]
) -> OrderFigures:
    """The figures of GET /analytics/today for the orders created in [`from`, `to`). `from`
    must not be after `to` (or now, when `to` is absent): a 422 naming both otherwise."""
    return await _figures(request, window)


async def _figures(request: Request, window: Window) -> OrderFigures:
    svc = services(request)
    with elasticsearch():
        found = await svc.es.search(index=svc.settings.orders_alias, **figures_query(window))
    return order_figures(window, found.body)


# --- the newest events --------------------------------------------------------------------
class RecentEvent(BaseModel):
    event_id: str
    event_type: str
    occurred_at: Annotated[str, Field(description="When it happened (RFC 3339, UTC, milliseconds)")]
    topic: str
    correlation_id: str
    causation_id: Annotated[str | None, Field(description="The event that caused this one")]
    producer: str
    order_id: Annotated[str | None, Field(description="The order it is about, if any")] = None
    customer_id: Annotated[
        str | None, Field(description="The customer it is about, where the index records one")
    ] = None
    details: Annotated[dict[str, Any], Field(description="The event's own fields")]


class RecentEvents(BaseModel):
    type: Annotated[EventType | None, Field(description="The event type asked for, if any")]
    limit: int
    events: Annotated[list[RecentEvent], Field(description="Newest first")]


def recent_events_query(limit: int, event_type: str | None) -> dict[str, Any]:
    """The search (keyword arguments of `AsyncElasticsearch.search`) for the `limit` newest
    events, of `event_type` only if given: by occurred_at, then event_id (both descending),
    so events of the same millisecond come in the same order every time."""
    filters = [{"term": {"event_type": event_type}}] if event_type else []
    return {
        "query": {"bool": {"filter": filters}},
        "sort": [{"occurred_at": {"order": "desc"}}, {"event_id": {"order": "desc"}}],
        "size": limit,
        # before the indexer made the index there are no events yet, not an error
        "ignore_unavailable": True,
    }


def recent_events(limit: int, event_type: str | None, answer: Mapping[str, Any]) -> RecentEvents:
    """Elasticsearch's answer to `recent_events_query(limit, event_type)` as the page."""
    return RecentEvents(
        type=event_type,
        limit=limit,
        events=[RecentEvent.model_validate(hit["_source"]) for hit in answer["hits"]["hits"]],
    )


@router.get(
    "/events/recent",
    response_model=RecentEvents,
    dependencies=[need(ORDERS_READ)],
    responses=documented(401, 403, 422, 503),
)
async def newest_events(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100, description="how many events at most")] = 20,
    type: Annotated[
        EventType | None,
        Query(description="only events of this type (an event name of the catalogue)"),
    ] = None,
) -> RecentEvents:
    """The newest events across every topic, newest first (by occurred_at, then event_id),
    from the per-event index: each with its envelope, topic, order_id (customer_id where the
    index records one) and its own fields."""
    svc = services(request)
    with elasticsearch():
        found = await svc.es.search(
            index=svc.settings.events_alias, **recent_events_query(limit, type)
        )
    return recent_events(limit, type, found.body)
