"""Analytics: live per-minute figures (orders, revenue, cancellations) from orders.events.v1,
each record counted exactly once (streams/domain/analytics.py says how) and each order's
OrderPlaced / OrderConfirmed / OrderCancelled once even when the saga wrote it twice (the
`counted` table). No re-partitioning: one figure set per source partition and minute, summed
when read. With several instances, each holds the partitions it owns: the instance asked
gathers every partition's sets from their owners (Faust's assignment says who) and sums them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import faust
from faust.web import Request, Response, View

from orderflow.roles import BY_NAME
from schemas.events import now_millis
from streams import changelog
from streams.app import Worker, tables_unreadable
from streams.domain import analytics
from streams.faust_patches import reading
from streams.outbox import state_of


def _key(partition: int) -> str:
    return f"partition-{partition}"


def counted_types(value: Any) -> list[str]:
    """The event types of an order already counted, from its `counted` entry: a mapping
    `{types, ended_at}` (as the sweep may have rewritten it, inside a stored value), or a
    bare list (written before entries were retired; those stay)."""
    entry = state_of(value)
    if isinstance(entry, Mapping):
        return list(entry.get("types", []))
    return list(entry or [])


class OwnersUnavailable(Exception):
    """Some partition's figures cannot be had now (no owner, or its owner does not answer)."""


def partitions_by_owner(
    distribution: Mapping[str, Mapping[str, Sequence[int]]], changelog: str, partitions: int
) -> dict[str, list[int]]:
    """Which instance (its URL) owns which partitions of the figures' changelog, from Faust's
    assignment (host -> topic -> partitions); every partition must have an owner."""
    owners = {
        url: sorted(owned)
        for url, topics in distribution.items()
        if (owned := [p for p in topics.get(changelog, ()) if p < partitions])
    }
    covered = {p for owned in owners.values() for p in owned}
    if missing := sorted(set(range(partitions)) - covered):
        raise OwnersUnavailable(f"partitions {missing} of {changelog} have no owner yet")
    return owners


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
    # an order's entry goes a window after its last count (the saga's copies come seconds
    # after the original; the figures themselves expire after 3 hours)
    worker.retire(counted, ended=lambda entry: True, creates=())

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
                if shell.passes_by(event, analytics.COUNTED):
                    continue
                message = await shell.decode(event)
                if message is None or not analytics.contributions(message):
                    continue
                shell.ensure_running()  # no await between this and the tables' reads
                with reading(event):  # the record's minute and partition (tables read both)
                    earlier = noted.get(message.key)
                    seen = earlier[0] if earlier else counted_types(counted.get(message.key))
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
                    counted[order] = {"types": types, "ended_at": now_millis()}

    @app.agent(worker.source(*BY_NAME["analytics"].inputs), name=f"{__name__}.analytics_agent")
    async def analytics_agent(stream: faust.StreamT) -> None:
        # in offset order: a figure set skips records at or below the last offset it counted
        await shell.each_batch(stream, count_batch, in_order=True)

    windows = cast(Any, per_minute.table)
    changelog_topic = windows.changelog_topic.get_topic_name()
    here = str(app.conf.canonical_url)

    def owners() -> dict[str, list[int]]:
        return partitions_by_owner(
            app.router.table_metadata(windows.name), changelog_topic, settings.partitions
        )

    def own_sets(partitions: list[int], newest: int, minutes: int) -> list[list[Any]]:
        """Per minute, newest first, the figure sets of `partitions`, read from this
        instance's table, which must own them."""
        why = tables_unreadable(app)
        if why is None and not set(partitions) <= set(owners().get(here, ())):
            why = f"partitions {partitions} are not all owned here"
        if why is not None:
            raise OwnersUnavailable(f"analytics worker {here}: {why}")
        # WindowSet.delta() needs a stream event; outside one, read the window of a timestamp
        return [
            [windows._windowed_timestamp(_key(p), newest - ago * 60 + 30) for p in partitions]
            for ago in range(minutes)
        ]

    async def sets_from(url: str, partitions: list[int], newest: int, minutes: int) -> Any:
        if url == here:
            return own_sets(partitions, newest, minutes)
        query: dict[str, str | int] = {
            "partitions": ",".join(map(str, partitions)),
            "newest": newest,
            "minutes": minutes,
        }
        try:
            async with app.http_client.get(
                f"{url}/analytics/per-minute/here/",
                params=query,
                timeout=aiohttp.ClientTimeout(total=3),
            ) as answer:
                if answer.status != 200:
                    raise OwnersUnavailable(f"analytics worker {url} answered {answer.status}")
                return (await answer.json())["sets"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OwnersUnavailable(f"analytics worker {url}: {exc!r}") from exc

    @app.page("/analytics/per-minute/here/")
    async def owned_view(web: View, request: Request) -> Response:
        """The raw figure sets of partitions this instance owns, for the instance that sums
        every partition's (`newest`: the newest minute's start, the same for every owner)."""
        partitions = [int(p) for p in request.query["partitions"].split(",")]
        newest, minutes = int(request.query["newest"]), int(request.query["minutes"])
        try:
            return web.json({"sets": own_sets(partitions, newest, minutes)})
        except OwnersUnavailable as exc:
            return web.json({"detail": str(exc)}, status=503)

    @app.page("/analytics/per-minute/")
    async def analytics_view(web: View, request: Request) -> Response:
        """Per minute, newest first, the figures summed over every partition, gathered from
        the instances that own them; 503 while some partition's cannot be had."""
        minutes = min(int(request.query.get("minutes", 10)), 180)
        newest = int(time.time()) // 60 * 60
        try:
            by_owner = owners()
            gathered = await asyncio.gather(
                *(sets_from(url, owned, newest, minutes) for url, owned in by_owner.items())
            )
        except OwnersUnavailable as exc:
            return web.json({"detail": str(exc)}, status=503)
        rows = [
            {
                "minutes_ago": ago,
                "minute": datetime.fromtimestamp(newest - ago * 60, UTC).isoformat(),
                **analytics.total(sets for owner in gathered for sets in owner[ago]),
            }
            for ago in range(minutes)
        ]
        return web.json({"window": "1m", "minutes": rows})
