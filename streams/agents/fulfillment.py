"""Fulfillment: the warehouse per order_id, and the simulated carrier's clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import faust

from schemas.events import Message, now_millis
from streams.app import app, settings, shell, source, table
from streams.domain import fulfillment
from streams.outbox import state_of, stored_value
from streams.roles import BY_NAME

log = logging.getLogger("orderflow.streams")

shipments_table = table("shipments", "Shipment per order_id: warehouse, stage, next due time")
delays = fulfillment.CarrierDelays(
    ship_ms=int(settings.ship_delay_s * 1000), deliver_ms=int(settings.deliver_delay_s * 1000)
)


# The shipments in transit, so the clock does not read every shipment ever made each tick.
schedule = fulfillment.CarrierSchedule()


def _track(_msg: Message, _before: Any, after: fulfillment.Shipment) -> None:
    schedule.track(after)


@app.agent(source(*BY_NAME["fulfillment"].inputs))
async def fulfillment_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        shipments_table,
        lambda state, msg, now: fulfillment.decide(state, msg, now, delays),
        fulfillment.Shipment.from_json,
        fulfillment.Shipment.to_json,
        committed=_track,
    )


def _stored_shipments() -> Iterator[fulfillment.Shipment]:
    for key, stored in list(shipments_table.items()):
        try:
            yield fulfillment.Shipment.from_json(state_of(stored))
        except (KeyError, TypeError, ValueError):
            log.error("unreadable shipment state, skipped", extra={"order_id": key})


@app.timer(interval=settings.carrier_tick_s)
async def carrier_clock() -> None:
    """The carrier's clock: tick every shipment whose next step is due (on this worker's
    partitions). The tick goes through the topic so the agent decides in order."""
    if app.rebalancing:
        return
    schedule.rebuild_after_rebalance(app.consumer_generation_id, _stored_shipments)
    now = now_millis()
    ticks = []
    for order_id in schedule.due_now(now):
        stored = state_of(stored_value(shipments_table, order_id))
        if stored is None:
            schedule.due.pop(order_id, None)
            continue
        tick = schedule.tick(fulfillment.Shipment.from_json(stored), now)
        if tick is not None:
            ticks.append(tick)
    await shell.send_all(ticks)
