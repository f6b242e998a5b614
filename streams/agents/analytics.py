"""Analytics: live per-minute figures (orders, revenue, cancellations) from orders.events.v1,
each record counted exactly once (streams/domain/analytics.py says how) and each order's
OrderPlaced / OrderConfirmed / OrderCancelled once even when the saga wrote it twice (the
`counted` table). No re-partitioning: one figure set per source partition and minute, summed
when read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from streams import changelog
from streams.app import Worker
from streams.domain import analytics
from streams.faust_patches import reading


def _key(partition: int) -> str:
    return f"partition-{partition}"


def install(worker: Worker) -> None:
    app, shell, settings = worker.app, worker.shell, worker.settings
    per_minute = (
        worker.table(
            "per_minute",
            "Orders, revenue and cancellations per source partition and minute",
            default=dict,  # a minute with nothing yet reads {}
            windowed=True,
        )
        .tumbling(timedelta(minutes=1), expires=timedelta(hours=3))
        .relative_to_stream()  # the minute the record was written to orders.events.v1
    )
    counted = worker.table("counted", "Event types of an order already counted, per order_id")

    async def count_batch(events: list[faust.EventT]) -> None:
        """Count a batch of records, in offset order, in two steps: first the figures (each
        set remembers the offset of the last record it counted), acknowledged by Kafka; then
        which event types of which orders were counted. A crash in the first step leaves a
        prefix of each partition's figures, and the records after it are counted again; in
        the second, the records are re-read, the offsets in the figures skip them, and the
        types are recorded then. (Written together, one table's changelog batch can reach
        Kafka before the other's earlier records: a type marked counted whose figures were
        lost. The crash test caught 14 orders missing from a minute that way.)"""
        noted: dict[Any, tuple[list[str], faust.EventT]] = {}  # order -> types, its record
        async with changelog.acknowledged():
            for event in events:
                message = await shell.decode(event)
                if message is None or not analytics.contributions(message):
                    continue
                shell.ensure_running()  # no await between this and the tables' reads
                with reading(event):  # the record's minute and partition (tables read both)
                    earlier = noted.get(message.key)
                    seen = earlier[0] if earlier else counted.get(message.key) or []
                    if message.type in seen:
                        continue  # a copy the order saga wrote again after a crash
                    key = _key(event.message.partition)
                    offset = event.message.offset
                    figures = analytics.count(per_minute[key].current(), offset, message)
                    if figures is not None:
                        per_minute[key] = figures
                noted[message.key] = ([*seen, message.type], event)
        async with changelog.acknowledged():
            for order, (types, event) in noted.items():
                with reading(event):  # the order's partition
                    counted[order] = types

    @app.agent(worker.source(*BY_NAME["analytics"].inputs), name=f"{__name__}.analytics_agent")
    async def analytics_agent(stream: faust.StreamT) -> None:
        # in offset order: a figure set skips records at or below the last offset it counted
        await shell.each_batch(stream, count_batch, in_order=True)

    @app.page("/analytics/per-minute/")
    async def analytics_view(web: View, request: Request) -> Response:
        minutes = min(int(request.query.get("minutes", 10)), 180)
        this_minute = int(time.time()) // 60 * 60
        # WindowSet.delta() needs a stream event; outside one, read the window of a timestamp.
        windows = cast(Any, per_minute.table)
        rows = []
        for ago in range(minutes):
            start = this_minute - ago * 60
            sets = [
                windows._windowed_timestamp(_key(p), start + 30) for p in range(settings.partitions)
            ]
            rows.append(
                {
                    "minutes_ago": ago,
                    "minute": datetime.fromtimestamp(start, UTC).isoformat(),
                    **analytics.total(sets),
                }
            )
        return web.json({"window": "1m", "minutes": rows})
