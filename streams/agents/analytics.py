"""Analytics: live per-minute figures (orders, revenue, cancellations). All order events are
re-keyed to one key so that they meet in one partition of the windowed table. This role runs
with Faust's exactly-once guarantee (streams/roles.py): a sum is not idempotent, so a record
processed again after a crash must not count twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import faust
from faust.web import Request, Response, View

from streams.app import app, internal, shell, source, table
from streams.domain import analytics
from streams.roles import BY_NAME

ANALYTICS_KEY = "all"
analytics_input = internal("analytics-by-metric")
per_minute = (
    table(
        "per_minute",
        "Orders, revenue and cancellations per minute",
        default=int,  # a minute with nothing yet reads 0
    )
    .tumbling(timedelta(minutes=1), expires=timedelta(hours=3))
    .relative_to_stream()  # the minute the order event was written (kept on forward)
)


@app.agent(source(*BY_NAME["analytics"].inputs))
async def analytics_router(stream: faust.StreamT) -> None:
    async for event in stream.events():
        message = await shell.decode(event)
        if message is not None and analytics.contributions(message):
            await shell.forward(event, analytics_input.get_topic_name(), ANALYTICS_KEY)


@app.agent(analytics_input)
async def analytics_agent(stream: faust.StreamT) -> None:
    async for event in stream.events():
        message = await shell.decode(event)
        if message is None:
            continue
        for metric, amount in analytics.contributions(message).items():
            per_minute[metric] = str(Decimal(per_minute[metric].current() or 0) + amount)


@app.page("/analytics/per-minute/")
async def analytics_view(web: View, request: Request) -> Response:
    minutes = min(int(request.query.get("minutes", 10)), 180)
    this_minute = int(time.time()) // 60 * 60
    # WindowSet.delta() needs a stream event; outside one, read the window of a timestamp.
    windows = cast(Any, per_minute.table)
    rows = []
    for ago in range(minutes):
        start = this_minute - ago * 60
        row: dict[str, Any] = {
            "minutes_ago": ago,
            "minute": datetime.fromtimestamp(start, UTC).isoformat(),
        }
        for metric in analytics.METRICS:
            row[metric] = str(Decimal(windows._windowed_timestamp(metric, start + 30) or 0))
        rows.append(row)
    return web.json({"window": "1m", "minutes": rows})
