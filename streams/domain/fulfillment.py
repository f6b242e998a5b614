"""The fulfillment participant: picks the warehouse that serves the destination country,
schedules the shipment, and plays the carrier: a due shipment moves to shipped, then to
delivered, when the carrier's clock (an AdvanceShipment tick from a Faust timer, decided in
the worker like a record, never sent to Kafka) says so.
A cancel stops a shipment that has not left yet."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from schemas import messages, topics
from schemas.events import Envelope, Message, derive_id
from streams.domain.money import money

PRODUCER = "fulfillment-agent"

WAREHOUSES: dict[str, tuple[str, ...]] = {
    "WH-EU-AMS": ("NL", "BE", "LU", "DE", "FR", "AT", "DK", "PL", "CZ", "IT", "ES", "PT", "IE"),
    "WH-UK-MAN": ("GB",),
    "WH-US-NJ": ("US", "CA", "MX"),
    "WH-APAC-SG": ("SG", "JP", "AU", "NZ", "KR", "IN"),
}
DEFAULT_WAREHOUSE = "WH-EU-AMS"
_BY_COUNTRY = {country: wh for wh, countries in WAREHOUSES.items() for country in countries}

SCHEDULED = "SCHEDULED"
SHIPPED = "SHIPPED"
DELIVERED = "DELIVERED"
CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class CarrierDelays:
    ship_ms: int
    deliver_ms: int


@dataclass(frozen=True)
class Shipment:
    order_id: str
    warehouse: str
    stage: str
    due_at: int  # epoch ms when the carrier moves it on
    correlation_id: str
    last_event_id: str  # the event that put it in its stage (cause of the next tick)
    items: tuple[Mapping[str, Any], ...] = ()
    ended_at: int | None = None  # when it was delivered or stopped (epoch ms): retired after

    @property
    def in_transit(self) -> bool:
        return self.stage in (SCHEDULED, SHIPPED)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = [{**line, "unit_price": str(line["unit_price"])} for line in self.items]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shipment:
        items = tuple(
            {**line, "unit_price": money(line["unit_price"])} for line in data.get("items", ())
        )
        return cls(**{**data, "items": items})


def ended(state: Mapping[str, Any]) -> bool:
    """Whether a stored shipment is finished: delivered or stopped (streams/retirement.py)."""
    return state.get("stage") not in (SCHEDULED, SHIPPED)


# The messages that create a shipment: refused once older than the retirement window.
CREATES = ("ScheduleFulfillment",)


def warehouse_for(country: str) -> str:
    return _BY_COUNTRY.get(country.upper(), DEFAULT_WAREHOUSE)


def tracking_id(order_id: str) -> str:
    return "TRK-" + derive_id("tracking", order_id)[:13].upper()


def _event(msg: Message, event_type: str, now: int, **data: Any) -> Message:
    return msg.caused(
        event_type, topics.FULFILLMENT_EVENTS.name, data["order_id"], data, PRODUCER, now
    )


# What the warehouse is told: by the order saga (schedule, cancel) and by the carrier's clock.
COMMANDS = (messages.ScheduleFulfillment, messages.CancelFulfillment, messages.AdvanceShipment)


def decide(
    state: Shipment | None, msg: Message, now: int, delays: CarrierDelays
) -> tuple[Shipment | None, list[Message]]:
    command = messages.payload(msg)
    if not isinstance(command, COMMANDS):
        return state, []
    order_id = command.order_id
    if isinstance(command, messages.ScheduleFulfillment):
        if state is not None:
            return state, []
        warehouse = warehouse_for(command.shipping_address.country)
        event = _event(msg, "FulfillmentScheduled", now, order_id=order_id, warehouse=warehouse)
        return Shipment(
            order_id,
            warehouse,
            SCHEDULED,
            now + delays.ship_ms,
            msg.envelope.correlation_id,
            event.envelope.event_id,
            tuple(asdict(line) for line in command.items),
        ), [event]
    if state is None:
        return state, []
    if isinstance(command, messages.CancelFulfillment):
        if state.stage != SCHEDULED:
            return state, []  # gone already (the saga sees OrderShipped) or stopped
        event = _event(
            msg, "FulfillmentCancelled", now, order_id=order_id, warehouse=state.warehouse
        )
        stopped = replace(
            state, stage=CANCELLED, last_event_id=event.envelope.event_id, ended_at=now
        )
        return stopped, [event]
    if isinstance(command, messages.AdvanceShipment) and state.in_transit and now >= state.due_at:
        if state.stage == SCHEDULED:
            event = _event(
                msg,
                "OrderShipped",
                now,
                order_id=order_id,
                warehouse=state.warehouse,
                tracking_id=tracking_id(order_id),
                items=list(state.items),
            )
            return replace(
                state,
                stage=SHIPPED,
                due_at=now + delays.deliver_ms,
                last_event_id=event.envelope.event_id,
            ), [event]
        event = _event(
            msg, "OrderDelivered", now, order_id=order_id, tracking_id=tracking_id(order_id)
        )
        delivered = replace(
            state, stage=DELIVERED, last_event_id=event.envelope.event_id, ended_at=now
        )
        return delivered, [event]
    return state, []


def due_tick(shipment: Shipment, now: int) -> Message | None:
    """The carrier's clock: a tick for a shipment whose next step is due. Ticks for the same
    step share an event id, so extra ticks are recognisable duplicates."""
    if not shipment.in_transit or now < shipment.due_at:
        return None
    return Message(
        topic=topics.FULFILLMENT_COMMANDS.name,
        key=shipment.order_id,
        envelope=Envelope(
            event_id=derive_id(shipment.last_event_id, "AdvanceShipment"),
            event_type="AdvanceShipment",
            occurred_at=now,
            correlation_id=shipment.correlation_id,
            causation_id=shipment.last_event_id,
            producer="carrier-clock",
        ),
        data={"order_id": shipment.order_id},
    )


@dataclass
class CarrierSchedule:
    """The shipments in transit (order_id -> when their next step is due), so the carrier's
    clock looks at those instead of every shipment ever made, and the step each one was last
    ticked for, so a step gets one tick however often the clock runs while it is pending. It
    lives in memory and is rebuilt from the table after each rebalance (`rebuild`); a tick
    sent twice across a restart is a recognisable duplicate."""

    due: dict[str, int] = field(default_factory=dict)
    ticked: dict[str, str] = field(default_factory=dict)
    generation: int | None = None  # the consumer generation it was last rebuilt for

    def track(self, shipment: Shipment) -> None:
        if shipment.in_transit:
            self.due[shipment.order_id] = shipment.due_at
        else:
            self.due.pop(shipment.order_id, None)
            self.ticked.pop(shipment.order_id, None)

    def rebuild(self, shipments: Iterable[Shipment]) -> None:
        self.due.clear()
        self.ticked.clear()
        for shipment in shipments:
            self.track(shipment)

    def rebuild_after_rebalance(
        self, generation: int | None, shipments: Callable[[], Iterable[Shipment]]
    ) -> bool:
        """Rebuild from the table once per consumer generation (after each rebalance the
        worker's partitions, and so its shipments, may differ). True if it rebuilt."""
        if generation == self.generation:
            return False
        self.rebuild(shipments())
        self.generation = generation
        return True

    def due_now(self, now: int) -> list[str]:
        return [order_id for order_id, due_at in self.due.items() if due_at <= now]

    def tick(self, shipment: Shipment, now: int) -> Message | None:
        """The tick to send for a due shipment, once per step."""
        if self.ticked.get(shipment.order_id) == shipment.last_event_id:
            return None
        tick = due_tick(shipment, now)
        if tick is not None:
            self.ticked[shipment.order_id] = shipment.last_event_id
        return tick
