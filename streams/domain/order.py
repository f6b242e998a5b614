"""The order saga, orchestrated: what the order agent decides for each message about an order.

PlaceOrder -> OrderPlaced + CheckCustomer (to the customer worker owning the customer_id)
CustomerChecked: registered and deactivated -> OrderCancelled(CUSTOMER_INACTIVE), nothing reserved
                 otherwise (active, or a guest checkout) -> ReserveStock per line (with the
                 line's price and the order's currency)
all lines StockReserved -> AuthorizePayment
  PaymentAuthorized -> OrderConfirmed + ScheduleFulfillment
      FulfillmentScheduled -> OrderShipped (+ ShipStock per line) -> OrderDelivered
          -> OrderCompleted
  PaymentDeclined -> ReleaseStock (reserved lines) + OrderCancelled(PAYMENT_DECLINED |
                     FRAUD_SUSPECTED)
any StockRejected -> ReleaseStock (reserved lines) + OrderCancelled(OUT_OF_STOCK | UNKNOWN_SKU |
                     PRICE_MISMATCH)
CancelOrder before shipment -> release stock, refund if charged -> OrderCancelled(CUSTOMER_REQUEST)
    (while the customer check is out it waits for the answer, which says who to notify)
    (once fulfillment is scheduled the warehouse is asked first: FulfillmentCancelled lets the
    cancel go on; OrderShipped wins the race and the order carries on to delivery)
CancelOrder after shipment (TOO_LATE) or of an order already cancelled (ALREADY_CANCELLED:
    for another reason, or by an earlier cancel) -> nothing sent; the refusal is remembered
    by the CancelOrder's event id (cancel_refused, on the order worker's page), and the
    cancels that did end the order in cancelled_by, so the API answers each one 409 or 200

Every customer-visible transition, emitted or accepted, also gets its NotificationSent here
(streams/domain/notification.py says why the saga hosts that participant), to the email of
record of a registered customer (the CustomerChecked answer, and the newer ones the customer
worker sends when the email changes), or for a guest checkout to the order's own address. The
OrderPlaced notice waits for the check (it says who to write to).

Handlers are idempotent: a message that no longer fits the order's stage (a duplicate, or
one that lost a race) changes nothing. Output event ids derive from the cause's event id, so
a re-processed message re-creates identical events, which consumers drop as duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from schemas import messages, topics
from schemas.events import Message
from schemas.statuses import (
    ALREADY_CANCELLED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    CUSTOMER_INACTIVE,
    CUSTOMER_REQUEST,
    DELIVERED,
    FRAUD_SUSPECTED,
    FULFILLMENT_SCHEDULED,
    PAYMENT_DECLINED,
    PENDING,
    PRICE_MISMATCH,
    SHIPPED,
    TOO_LATE,
    UNKNOWN_SKU,
)
from streams.domain import notification
from streams.domain.money import money, order_total

PRODUCER = "order-agent"


# Saga stages: where the orchestration is, finer than the public status.
CHECKING = "CHECKING"  # waiting for the customer worker: who is the customer, may they order
RESERVING = "RESERVING"  # waiting for every line's reservation
AUTHORIZING = "AUTHORIZING"  # waiting for the payment verdict
FULFILLING = "FULFILLING"  # paid; the warehouse has it (scheduled, shipped, delivered)
CANCELLING = "CANCELLING"  # customer cancel asked the warehouse to stop the shipment
ENDED = "ENDED"  # COMPLETED or CANCELLED

CANCEL_REASON_BY_DECLINE = {FRAUD_SUSPECTED: FRAUD_SUSPECTED}


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
    authorized_amount: str | None = None  # set once the payment is authorized
    refunded: bool = False
    # CancelOrder event ids waiting on the warehouse's answer (stage CANCELLING): if the
    # parcel leaves first they are refused TOO_LATE; or on the customer check's (CHECKING),
    # after which they end the order
    cancel_pending: tuple[str, ...] = ()
    # CancelOrder event id -> why it was not honoured (TOO_LATE, ALREADY_CANCELLED), the last
    # CANCEL_MEMORY of them
    cancel_refused: Mapping[str, str] = field(default_factory=dict)
    # the CancelOrder event ids that ended the order CANCELLED (one, or every cancel that
    # waited on the warehouse together): the API answers each of them 200
    cancelled_by: tuple[str, ...] = ()
    # the customer of record (CustomerChecked): registered or a guest, and for a registered
    # customer the email notifications go to and since when it is theirs (the newest wins)
    customer_registered: bool = False
    email_of_record: str | None = None
    email_as_of: int | None = None
    ended_at: int | None = None  # when it ended COMPLETED or CANCELLED (epoch ms): retired after

    @property
    def recipient(self) -> str:
        """Where notifications go: the email of record, or the order's own (a guest)."""
        return self.email_of_record or str(self.placed["customer_email"])

    @property
    def lines(self) -> list[Mapping[str, Any]]:
        return list(self.placed["items"])

    def quantity_of(self, sku: str) -> int:
        return next(int(line["quantity"]) for line in self.lines if line["sku"] == sku)

    def to_json(self) -> dict[str, Any]:
        # field by field: dataclasses.asdict deep-copies `placed` only to have it replaced
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["placed"] = _jsonable(self.placed)
        data["reserved"], data["released"] = list(self.reserved), list(self.released)
        data["cancel_pending"] = list(self.cancel_pending)
        data["cancel_refused"] = dict(self.cancel_refused)
        data["cancelled_by"] = list(self.cancelled_by)
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
                "cancel_pending": tuple(data.get("cancel_pending", ())),
                "cancel_refused": dict(data.get("cancel_refused", {})),
                "cancelled_by": tuple(data.get("cancelled_by", ())),
            }
        )

    def view(self) -> dict[str, Any]:
        """The order as the saga sees it (the order worker's page)."""
        return {
            "order_id": self.order_id,
            "status": self.status,
            "stage": self.stage,
            "cancel_reason": self.cancel_reason,
            "cancel_refused": dict(self.cancel_refused),
            "cancelled_by": list(self.cancelled_by),
            "correlation_id": self.correlation_id,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value


Decision = tuple[OrderState | None, list[Message]]


class _Emitter:
    """Builds the messages one input causes: same correlation, causation = the input."""

    def __init__(self, cause: Message, now: int) -> None:
        self.cause, self.now = cause, now

    def __call__(
        self, event_type: str, topic: str, key: str, discriminator: str = "", **data: Any
    ) -> Message:
        return self.cause.caused(event_type, topic, key, data, PRODUCER, self.now, discriminator)

    def order_event(self, state: OrderState, event_type: str, **data: Any) -> Message:
        return self(
            event_type, topics.ORDERS_EVENTS.name, state.order_id, order_id=state.order_id, **data
        )

    def stock(self, state: OrderState, event_type: str, sku: str, **extra: Any) -> Message:
        return self(
            event_type,
            topics.INVENTORY_COMMANDS.name,
            sku,
            sku,
            order_id=state.order_id,
            sku=sku,
            quantity=state.quantity_of(sku),
            **extra,
        )

    def reserve(self, state: OrderState, line: Mapping[str, Any]) -> Message:
        """ReserveStock for a line, with the price the customer saw: inventory refuses it
        (PRICE_MISMATCH) unless that is the SKU's price of record."""
        return self.stock(
            state,
            "ReserveStock",
            line["sku"],
            unit_price=money(line["unit_price"]),
            currency=state.placed["currency"],
        )


def place_order(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None:
        state = OrderState(
            order_id=msg.key,
            placed=dict(msg.data),
            correlation_id=msg.envelope.correlation_id,
            placed_event_id=msg.envelope.event_id,
            stage=CHECKING,
        )
    elif state.placed_event_id != msg.envelope.event_id or state.stage != CHECKING:
        return state, []  # another PlaceOrder for a known id, or one long since acted on
    emit = _Emitter(msg, now)
    customer_id = str(state.placed["customer_id"])
    return state, [
        emit.order_event(
            state,
            "OrderPlaced",
            **{k: v for k, v in state.placed.items() if k != "order_id"},
            total_amount=order_total(state.lines),
        ),
        # keyed by customer_id: the worker owning the customer answers, keyed by order_id
        emit(
            "CheckCustomer",
            topics.CUSTOMERS_COMMANDS.name,
            customer_id,
            customer_id=customer_id,
            order_id=state.order_id,
        ),
    ]


def _of_record(state: OrderState, checked: messages.CustomerChecked) -> OrderState:
    """The order with what the customer worker said about its customer."""
    if not checked.registered:
        return state
    return replace(
        state,
        customer_registered=True,
        email_of_record=checked.email,
        email_as_of=checked.email_as_of,
    )


def customer_checked(state: OrderState | None, msg: Message, now: int) -> Decision:
    """The customer worker's answer: go on to reserve stock, or end the order of a
    deactivated customer before anything is reserved. Later answers (the email changed) only
    move the address notifications go to, the newest by email_as_of."""
    if state is None:
        return state, []
    checked = messages.typed(msg, messages.CustomerChecked)
    if state.stage == CHECKING:
        state, emit = _of_record(state, checked), _Emitter(msg, now)
        if state.cancel_pending:  # the customer cancelled while the saga asked
            state = replace(state, cancelled_by=state.cancel_pending)
            return _cancel(state, CUSTOMER_REQUEST, "cancelled by the customer", emit)
        if not checked.active:
            detail = f"customer {checked.customer_id} is deactivated"
            return _cancel(state, CUSTOMER_INACTIVE, detail, emit)
        state = replace(state, stage=RESERVING)
        return state, [emit.reserve(state, line) for line in state.lines]
    newer = (
        state.stage != ENDED
        and state.customer_registered
        and checked.email_as_of is not None
        and (state.email_as_of is None or checked.email_as_of > state.email_as_of)
    )
    return (_of_record(state, checked) if newer else state), []


def _release_all(state: OrderState, emit: _Emitter) -> tuple[OrderState, list[Message]]:
    to_release = [sku for sku in state.reserved if sku not in state.released]
    state = replace(state, released=(*state.released, *to_release))
    return state, [emit.stock(state, "ReleaseStock", sku) for sku in to_release]


def _refund(state: OrderState, emit: _Emitter) -> tuple[OrderState, list[Message]]:
    if state.authorized_amount is None or state.refunded:
        return state, []
    refund = emit(
        "RefundPayment",
        topics.PAYMENTS_COMMANDS.name,
        state.order_id,
        order_id=state.order_id,
        customer_id=state.placed["customer_id"],
        amount=money(state.authorized_amount),
        currency=state.placed["currency"],
    )
    return replace(state, refunded=True), [refund]


def _cancel(state: OrderState, reason: str, detail: str, emit: _Emitter) -> Decision:
    """End the order cancelled: give back its stock, refund what was charged, announce it."""
    state = replace(
        state,
        status=CANCELLED,
        stage=ENDED,
        cancel_reason=reason,
        cancel_pending=(),
        ended_at=emit.now,
    )
    state, releases = _release_all(state, emit)
    state, refunds = _refund(state, emit)
    cancelled = emit.order_event(state, "OrderCancelled", reason=reason, detail=detail)
    return state, [*releases, *refunds, cancelled]


def _authorize(state: OrderState, emit: _Emitter) -> Message:
    placed = state.placed
    return emit(
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
    sku, emit = messages.typed(msg, messages.StockReserved).sku, _Emitter(msg, now)
    if state.stage == ENDED:
        # A reservation that lands after the order was cancelled is given straight back;
        # re-sending is safe, inventory releases once per (order_id, sku).
        if sku not in state.reserved:
            state = replace(state, reserved=(*state.reserved, sku))
        state = replace(state, released=tuple(dict.fromkeys((*state.released, sku))))
        return state, [emit.stock(state, "ReleaseStock", sku)]
    if state.stage != RESERVING or sku in state.reserved:
        return state, []
    state = replace(state, reserved=(*state.reserved, sku))
    if len(state.reserved) < len(state.lines):
        return state, []
    state = replace(state, stage=AUTHORIZING)
    return state, [_authorize(state, emit)]


def _rejection_detail(rejected: messages.StockRejected) -> str:
    if rejected.reason == UNKNOWN_SKU:
        return f"{rejected.sku}: not for sale (never stocked, or without a price)"
    if rejected.reason == PRICE_MISMATCH:
        return f"{rejected.sku}: the line's price or currency is not the price of record"
    return f"{rejected.sku}: wanted {rejected.quantity}, available {rejected.available}"


def stock_rejected(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != RESERVING:
        return state, []
    rejected = messages.typed(msg, messages.StockRejected)
    # the inventory's reason is the order's (OUT_OF_STOCK, UNKNOWN_SKU, PRICE_MISMATCH)
    return _cancel(state, rejected.reason, _rejection_detail(rejected), _Emitter(msg, now))


def payment_authorized(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None:
        return state, []
    authorized, emit = messages.typed(msg, messages.PaymentAuthorized), _Emitter(msg, now)
    if state.stage == ENDED and state.authorized_amount is None:
        # Cancelled while the gateway was deciding: the money goes straight back.
        state = replace(state, authorized_amount=str(money(authorized.amount)))
        return _refund(state, emit)
    if state.stage != AUTHORIZING:
        return state, []
    state = replace(
        state,
        status=CONFIRMED,
        stage=FULFILLING,
        authorized_amount=str(money(authorized.amount)),
    )
    return state, [
        emit.order_event(
            state,
            "OrderConfirmed",
            total_amount=money(authorized.amount),
            currency=authorized.currency,
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
    declined = messages.typed(msg, messages.PaymentDeclined)
    reason = CANCEL_REASON_BY_DECLINE.get(declined.code, PAYMENT_DECLINED)
    return _cancel(state, reason, declined.reason, _Emitter(msg, now))


def fulfillment_scheduled(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != FULFILLING or state.status != CONFIRMED:
        return state, []
    return replace(state, status=FULFILLMENT_SCHEDULED), []


def order_shipped(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage not in (FULFILLING, CANCELLING) or state.status == SHIPPED:
        return state, []
    # Shipped wins over a pending customer cancel: the goods have left, too late for it.
    state = _refuse_cancels(state, state.cancel_pending, TOO_LATE)
    state = replace(state, status=SHIPPED, stage=FULFILLING, cancel_pending=())
    emit = _Emitter(msg, now)
    return state, [emit.stock(state, "ShipStock", line["sku"]) for line in state.lines]


def order_delivered(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != FULFILLING or state.status != SHIPPED:
        return state, []
    state = replace(state, status=COMPLETED, stage=ENDED, ended_at=now)
    return state, [_Emitter(msg, now).order_event(state, "OrderCompleted")]


# A refusal is asked about right after the cancel was sent: a short memory suffices.
CANCEL_MEMORY = 16


def _refuse_cancels(state: OrderState, event_ids: Iterable[str], reason: str) -> OrderState:
    """Remember that these CancelOrders were not honoured, and why (a refusal stands)."""
    new = {event_id: reason for event_id in event_ids if event_id not in state.cancel_refused}
    if not new:
        return state
    refused = list({**state.cancel_refused, **new}.items())[-CANCEL_MEMORY:]
    return replace(state, cancel_refused=dict(refused))


def _cancel_refusal(state: OrderState, event_id: str) -> str | None:
    """Why this customer cancel cannot be honoured in this state, or None."""
    if state.status in (SHIPPED, DELIVERED, COMPLETED):
        return TOO_LATE
    if state.status == CANCELLED and event_id not in state.cancelled_by:
        return ALREADY_CANCELLED  # for another reason, or by an earlier cancel
    return None


def cancel_order(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None:
        return state, []  # an order the saga does not know: nothing to cancel
    event_id = msg.envelope.event_id
    refusal = _cancel_refusal(state, event_id)
    if refusal is not None:
        return _refuse_cancels(state, [event_id], refusal), []
    if state.stage == ENDED:
        return state, []  # this very cancel ended it (a redelivery)
    if state.stage in (CHECKING, CANCELLING):
        # Waits: while cancelling, for the warehouse's answer, which this cancel shares; while
        # checking, for the customer worker's (it says who the notices go to; then the order
        # ends CUSTOMER_REQUEST, whatever the answer).
        if event_id in state.cancel_pending:
            return state, []
        return replace(state, cancel_pending=(*state.cancel_pending, event_id)[-CANCEL_MEMORY:]), []
    emit = _Emitter(msg, now)
    if state.stage == FULFILLING:
        # The warehouse decides whether the parcel can still be stopped.
        state = replace(state, stage=CANCELLING, cancel_pending=(event_id,))
        return state, [
            emit(
                "CancelFulfillment",
                topics.FULFILLMENT_COMMANDS.name,
                state.order_id,
                order_id=state.order_id,
            )
        ]
    state = replace(state, cancelled_by=(event_id,))
    return _cancel(state, CUSTOMER_REQUEST, "cancelled by the customer", emit)


def fulfillment_cancelled(state: OrderState | None, msg: Message, now: int) -> Decision:
    if state is None or state.stage != CANCELLING:
        return state, []
    state = replace(state, cancelled_by=state.cancel_pending)
    return _cancel(state, CUSTOMER_REQUEST, "cancelled by the customer", _Emitter(msg, now))


HANDLERS: dict[str, Callable[[OrderState | None, Message, int], Decision]] = {
    "PlaceOrder": place_order,
    "CancelOrder": cancel_order,
    "CustomerChecked": customer_checked,
    "StockReserved": stock_reserved,
    "StockRejected": stock_rejected,
    "PaymentAuthorized": payment_authorized,
    "PaymentDeclined": payment_declined,
    "FulfillmentScheduled": fulfillment_scheduled,
    "FulfillmentCancelled": fulfillment_cancelled,
    "OrderShipped": order_shipped,
    "OrderDelivered": order_delivered,
}


# Customer-visible transitions that happen elsewhere (the warehouse, the carrier): the saga
# accepts them by moving the order's status.
ACCEPTED_TRANSITIONS = frozenset({"FulfillmentScheduled", "OrderShipped", "OrderDelivered"})


def decide(state: OrderState | None, msg: Message, now: int) -> Decision:
    handler = HANDLERS.get(msg.type)
    if handler is None:
        return state, []  # events the saga does not react to (e.g. StockReleased)
    new_state, outputs = handler(state, msg, now)
    if new_state is None:
        return new_state, outputs
    accepted = (
        [msg]
        if msg.type in ACCEPTED_TRANSITIONS
        and state is not None
        and new_state.status != state.status
        else []
    )
    transitions = [(m, m.type) for m in [*accepted, *outputs] if m.type != "OrderPlaced"]
    if state is not None and state.stage == CHECKING and new_state.stage != CHECKING:
        # the order leaves the check (answered, or cancelled meanwhile): now the saga knows
        # who to write to, so the OrderPlaced notice goes out, first
        transitions.insert(0, (msg, "OrderPlaced"))
    recipient = new_state.recipient
    notices = [notification.notice(m, kind, recipient, now) for m, kind in transitions]
    return new_state, [*outputs, *(n for n in notices if n is not None)]


def ended(state: Mapping[str, Any]) -> bool:
    """Whether a stored saga state is a finished order (streams/retirement.py)."""
    return state.get("stage") == ENDED


# The messages that create an order's state: refused once older than the retirement window.
CREATES = ("PlaceOrder",)


def order_page(state: OrderState | None, order_id: str) -> tuple[int, dict[str, Any]]:
    """GET /orders/{order_id}/ on the order worker: the status and JSON body. 200 with the
    order's view, 404 when the saga does not know the order."""
    if state is None:
        return 404, {"detail": f"unknown order {order_id!r}"}
    return 200, state.view()
