"""Fulfillment: the warehouse per order_id, and the simulated carrier's clock."""

from __future__ import annotations

import logging

import faust

from schemas.events import now_millis
from streams.app import app, settings, shell, source, table
from streams.domain import fulfillment
from streams.roles import BY_NAME

log = logging.getLogger("orderflow.streams")

shipments_table = table("shipments", "Shipment per order_id: warehouse, stage, next due time")
delays = fulfillment.CarrierDelays(
    ship_ms=int(settings.ship_delay_s * 1000), deliver_ms=int(settings.deliver_delay_s * 1000)
)


@app.agent(source(*BY_NAME["fulfillment"].inputs))
async def fulfillment_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        shipments_table,
        lambda state, msg, now: fulfillment.decide(state, msg, now, delays),
        fulfillment.Shipment.from_json,
        fulfillment.Shipment.to_json,
    )


@app.timer(interval=settings.carrier_tick_s)
async def carrier_clock() -> None:
    """The carrier's clock: tick every shipment whose next step is due (on this worker's
    partitions). The tick goes through the topic so the agent decides in order."""
    now = now_millis()
    ticks = []
    for key, stored in list(shipments_table.items()):
        try:
            tick = fulfillment.due_tick(fulfillment.Shipment.from_json(stored), now)
        except (KeyError, TypeError, ValueError):
            log.error("unreadable shipment state, skipped", extra={"order_id": key})
            continue
        if tick is not None:
            ticks.append(tick)
    await shell.send_all(ticks)
