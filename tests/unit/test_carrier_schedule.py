"""The carrier's schedule (streams/domain/fulfillment.py): only shipments in transit are
looked at, and each step is ticked once."""

from __future__ import annotations

from dataclasses import replace

from streams.domain import fulfillment
from streams.domain.fulfillment import CarrierSchedule, Shipment


def _shipment(order_id: str, stage: str, due_at: int, last_event_id: str = "e1") -> Shipment:
    return Shipment(order_id, "WH-EU", stage, due_at, "corr", last_event_id)


def test_only_shipments_in_transit_are_scheduled():
    schedule = CarrierSchedule()
    schedule.rebuild(
        [
            _shipment("a", fulfillment.SCHEDULED, 100),
            _shipment("b", fulfillment.SHIPPED, 300),
            _shipment("c", fulfillment.DELIVERED, 50),
        ]
    )
    assert schedule.due == {"a": 100, "b": 300}
    assert schedule.due_now(200) == ["a"]
    schedule.track(_shipment("a", fulfillment.DELIVERED, 100))
    assert schedule.due_now(1000) == ["b"]


def test_a_step_is_ticked_once_however_often_the_clock_runs():
    schedule = CarrierSchedule()
    shipped = _shipment("a", fulfillment.SCHEDULED, 100, last_event_id="scheduled-1")
    schedule.track(shipped)
    first = schedule.tick(shipped, now=150)
    assert first is not None and first.type == "AdvanceShipment"
    assert schedule.tick(shipped, now=160) is None  # still pending: no second tick
    moved = replace(shipped, stage=fulfillment.SHIPPED, due_at=400, last_event_id="shipped-1")
    schedule.track(moved)
    assert schedule.tick(moved, now=300) is None  # not due yet
    assert schedule.tick(moved, now=400) is not None  # the next step gets its own tick


def test_a_rebuild_forgets_what_was_ticked():
    schedule = CarrierSchedule()
    shipment = _shipment("a", fulfillment.SCHEDULED, 100)
    schedule.track(shipment)
    assert schedule.tick(shipment, now=150) is not None
    schedule.rebuild([shipment])  # after a rebalance the tick may have been lost with a crash
    assert schedule.tick(shipment, now=150) is not None


def test_the_table_is_read_once_per_consumer_generation():
    schedule = CarrierSchedule()
    reads: list[int] = []

    def stored() -> list[Shipment]:
        reads.append(1)
        return [_shipment("a", fulfillment.SCHEDULED, 100)]

    schedule.rebuild_after_rebalance(7, stored)
    schedule.rebuild_after_rebalance(7, stored)  # every clock tick asks; one read per generation
    assert len(reads) == 1 and schedule.due == {"a": 100}
    schedule.rebuild_after_rebalance(8, stored)
    assert len(reads) == 2
