"""The order saga, orchestrated: what the order agent decides for each message about an order.

PlaceOrder -> OrderPlaced + ReserveStock per line
all lines StockReserved -> AuthorizePayment
  PaymentAuthorized -> OrderConfirmed + ScheduleFulfillment
  PaymentDeclined   -> ReleaseStock (reserved lines) + OrderCancelled(PAYMENT_DECLINED)
any StockRejected   -> ReleaseStock (reserved lines) + OrderCancelled(OUT_OF_STOCK|UNKNOWN_SKU)
FulfillmentScheduled -> status FULFILLMENT_SCHEDULED

Handlers are idempotent per stage: a message that no longer fits the order's stage (a
duplicate, or one that lost a race) changes nothing. Output event ids derive from the cause's
event id, so a re-processed message re-creates identical events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orderflow import topics
from schemas.events import Message
from streams.domain.money import money, order_total

PRODUCER = "order-agent"

# Public statuses (DESIGN.md contract).
PENDING = "PENDING"
CONFIRMED = "CONFIRMED"
FULFILLMENT_SCHEDULED = "FULFILLMENT_SCHEDULED"
CANCELLED = "CANCELLED"

# Saga stages: where the orchestration is, finer than the public status.
RESERVING = "RESERVING"
AUTHORIZING = "AUTHORIZING"
FULFILLING = "FULFILLING"
ENDED = "ENDED"


@dataclass(frozen=True)
class OrderState:
    order_id: str
    placed: Mapping[str, Any]  # the PlaceOrder payload, as accepted
    correlation_id: str
    placed_event_id: str
    status: str = PENDING
    stage: str = RESERVING
    cancel_reason: str | None = None
    reserved: tuple[str, ...] = ()  # SKUs whose reservation is held
    released: tuple[str, ...] = ()  # SKUs given back after a cancel
    fulfillment_scheduled: bool = field(default=False)

    @property
    def lines(self) -> list[Mapping[str, Any]]:
        return list(self.placed["items"])

    def quantity_of(self, sku: str) -> int:
        return next(int(line["quantity"]) for line in self.lines if line["sku"] == sku)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["placed"] = _jsonable(self.placed)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderState:
        placed = dict(data["placed"])
        placed["items"] = [
            {**line, "unit_price": money(line["unit_price"])} for line in placed["items"]
        ]
        return cls(
            **{
                **data,
                "placed": placed,
                "reserved": tuple(data.get("reserved", ())),
                "released": tuple(data.get("released", ())),
            }
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value


Decision = tuple[OrderState | None, list[Message]]


def _emit(state: OrderState, cause: Message, now: int) -> Callable[..., Message]:
    def emit(
        event_type: str, topic: str, key: str, discriminator: str = "", **data: Any
    ) -> Message:
        return cause.caused(event_type, topic, key, data, PRODUCER, now, discriminator)

    return emit


def place_order(state: OrderState | None, msg: Message, now: int) -> Decision:
    placed = dict(msg.data)
    if state is None:
        state = OrderState(
            order_id=msg.key,
            placed=placed,
            correlation_id=msg.envelope.correlation_id,
            placed_event_id=msg.envelope.event_id,
        )
    elif state.placed_event_id != msg.envelope.event_id:
        return state, []  # a second PlaceOrder for a known order id: nothing new happens
    emit = _emit(state, msg, now)
    outputs = [
        emit(
            "OrderPlaced",
            topics.ORDERS_EVENTS.name,
            state.order_id,
            **placed,
            total_amount=order_total(state.lines),
        )
    ]
    outputs += [
        emit(
            "ReserveStock",
            topics.INVENTORY_COMMANDS.name,
            line["sku"],
            line["sku"],
            order_id=state.order_id,
            sku=line["sku"],
            quantity=int(line["quantity"]),
        )
        for line in state.lines
    ]
    return state, outputs


def _release(state: OrderState, skus: list[str], cause: Message, now: int) -> list[Message]:
    emit = _emit(state, cause, now)
    return [
        emit(
            "ReleaseStock",
            topics.INVENTORY_COMMANDS.name,
            sku,
            sku,
            order_id=state.order_id,
            sku=sku,
            quantity=state.quantity_of(sku),
        )
        for sku in skus
    ]


def _cancel(state: OrderState, reason: str, detail: str, cause: Message, now: int) -> Decision:
    to_release = [sku for sku in state.reserved if sku not in state.released]
    state = replace(
        state,
        status=CANCELLED,
        stage=ENDED,
        cancel_reason=reason,
        released=state.released + tuple(to_release),
    )
    outputs = _release(state, to_release, cause, now)
    outputs.append(
        _emit(state, cause, now)(
            "OrderCancelled",
            topics.ORDERS_EVENTS.name,
            state.order_id,
            order_id=state.order_id,
            reason=reason,
            detail=detail,
        )
    )
    return state, outputs


def _authorize(state: OrderState, cause: Message, now: int) -> Message:
    placed = state.placed
    return _emit(state, cause, now)(
        "AuthorizePayment",
        topics.PAYMENTS_COMMANDS.name,
        state.order_id,
        order_id=state.order_id,
        customer_id=placed["customer_id"],
        amount=order_total(state.lines),
        currency=placed["currency"],
        method=placed["payment_method"],
        scenario=placed["payment_scenario"],
    )


def stock_reserved(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None:
        return state, []
    sku = msg.data["sku"]
    if state.stage == ENDED:
        # A reservation that lands after the order was cancelled is given straight back.
        if sku in state.released:
            # Seen again: re-sending is safe, inventory releases once per (order_id, sku).
            return state, _release(state, [sku], msg, now)
        state = replace(state, reserved=(*state.reserved, sku), released=(*state.released, sku))
        return state, _release(state, [sku], msg, now)
    if sku in state.reserved:
        if state.stage == AUTHORIZING and len(state.reserved) == len(state.lines):
            # Redelivery of the last reservation: re-emit the identical AuthorizePayment.
            return state, [_authorize(state, msg, now)]
        return state, []
    state = replace(state, reserved=(*state.reserved, sku))
    if len(state.reserved) < len(state.lines):
        return state, []
    state = replace(state, stage=AUTHORIZING)
    return state, [_authorize(state, msg, now)]


def stock_rejected(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != RESERVING:
        return state, []
    reason = msg.data["reason"]
    detail = f"{msg.data['sku']}: wanted {msg.data['quantity']}, available {msg.data['available']}"
    return _cancel(state, reason, detail, msg, now)


def payment_authorized(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage not in (AUTHORIZING, FULFILLING):
        return state, []
    state = replace(state, status=CONFIRMED, stage=FULFILLING)
    emit = _emit(state, msg, now)
    return state, [
        emit(
            "OrderConfirmed",
            topics.ORDERS_EVENTS.name,
            state.order_id,
            order_id=state.order_id,
            total_amount=money(msg.data["amount"]),
            currency=msg.data["currency"],
        ),
        emit(
            "ScheduleFulfillment",
            topics.FULFILLMENT_COMMANDS.name,
            state.order_id,
            order_id=state.order_id,
            shipping_address=state.placed["shipping_address"],
            items=state.lines,
        ),
    ]


def payment_declined(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != AUTHORIZING:
        return state, []
    return _cancel(state, "PAYMENT_DECLINED", str(msg.data["reason"]), msg, now)


def fulfillment_scheduled(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != FULFILLING:
        return state, []
    return replace(state, status=FULFILLMENT_SCHEDULED, fulfillment_scheduled=True), []


HANDLERS: dict[str, Callable[[OrderState | None, Message, int], Decision]] = {
    "PlaceOrder": place_order,
    "StockReserved": stock_reserved,
    "StockRejected": stock_rejected,
    "PaymentAuthorized": payment_authorized,
    "PaymentDeclined": payment_declined,
    "FulfillmentScheduled": fulfillment_scheduled,
}


def decide(state: OrderState | None, msg: Message, now: int) -> Decision:
    handler = HANDLERS.get(msg.type)
    if handler is None:
        return state, []  # events the saga does not react to (e.g. StockReleased)
    return handler(state, msg, now)
