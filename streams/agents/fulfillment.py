"""Fulfillment: the warehouse per order_id, and the simulated carrier's clock."""

from __future__ import annotations

from typing import Any

import faust

from orderflow.roles import BY_NAME
from schemas.events import Message, now_millis
from streams.app import Worker
from streams.domain import fulfillment
from streams.outbox import state_of, stored_states, stored_value


def _ended(shipment: fulfillment.Shipment) -> bool:
    return not shipment.in_transit


def install(worker: Worker) -> None:
    app, shell, settings = worker.app, worker.shell, worker.settings
    shipments_table = worker.table(
        "shipments", "Shipment per order_id: warehouse, stage, next due time"
    )
    worker.retire(shipments_table, fulfillment.ended, fulfillment.CREATES)
    delays = fulfillment.CarrierDelays(
        ship_ms=int(settings.ship_delay_s * 1000), deliver_ms=int(settings.deliver_delay_s * 1000)
    )
    # The shipments in transit, so the clock does not read every shipment ever made each tick.
    schedule = fulfillment.CarrierSchedule()

    def track(_msg: Message, _before: Any, after: fulfillment.Shipment) -> None:
        schedule.track(after)

    @app.agent(worker.source(*BY_NAME["fulfillment"].inputs), name=f"{__name__}.fulfillment_agent")
    async def fulfillment_agent(stream: faust.StreamT) -> None:
        await shell.run_in_batches(
            stream,
            shipments_table,
            lambda state, msg, now: fulfillment.decide(state, msg, now, delays),
            fulfillment.Shipment.from_json,
            fulfillment.Shipment.to_json,
            committed=track,
        )

    @app.timer(interval=settings.carrier_tick_s)
    async def carrier_clock() -> None:
        """The carrier's clock: every shipment whose next step is due (on this worker's
        partitions) moves on, all of them decided as one batch by the agent's own shell, as
        if ticks had been read from fulfillment.commands.v1: a decision about state this
        worker owns needs no trip through Kafka (docs/architecture.md, "Hops per order")."""
        if app.rebalancing:
            return
        left_over: list[str] = []
        if schedule.rebuild_after_rebalance(
            app.consumer_generation_id,
            lambda: stored_states(shipments_table, fulfillment.Shipment.from_json, left_over),
        ):
            # a step decided just before a crash: its events go out (again) now, not at the
            # shipment's next step (a delivered one has none)
            for order_id in left_over:
                await shell.resend_here(shipments_table, order_id)
        now = now_millis()
        ticks: list[Message] = []
        for order_id in schedule.due_now(now):
            stored = state_of(stored_value(shipments_table, order_id))
            if stored is None:
                schedule.due.pop(order_id, None)
                continue
            tick = schedule.tick(fulfillment.Shipment.from_json(stored), now)
            if tick is not None:
                ticks.append(tick)
        if ticks and not await shell.decide_all_here(shipments_table, ticks, _ended):
            for tick in ticks:  # the agent is not running yet: next time
                schedule.ticked.pop(tick.key, None)
