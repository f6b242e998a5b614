"""The payload of every event and command of the contract as a typed, frozen value, so a
decider reads `reserve.sku` and mypy checks it, instead of `msg.data["sku"]`.

Written from the .avsc files under schemas/avro/ and checked against them by
tests/unit/test_messages.py (every event has its class; every field its name, type and
optionality). A schema change that adds a field adds it here too, or that test fails.

`Message.data` stays the dict the Avro codec reads and writes; `payload(msg)` or
`typed(msg, Class)` build the value from it. Fields a newer writer added and this code does
not know yet are ignored; a missing required field is a TypeError (the shell parks the
record on its dead-letter topic). About 500 lines because it holds one small class per event
of the contract (38 of them), and nothing else."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TypeVar

from schemas.events import Message

R = TypeVar("R", bound="Record")
P = TypeVar("P", bound="Payload")


class Record:
    """A record of the contract, built from the dict the Avro codec decodes."""

    @classmethod
    def from_data(cls: type[R], data: Mapping[str, Any]) -> R:
        return cls(**{name: convert(data[name]) for name, convert in _fields(cls) if name in data})


class Payload(Record):
    """The fields of one event or command (its envelope aside)."""


_FIELDS: dict[type, tuple[tuple[str, Callable[[Any], Any]], ...]] = {}


def _fields(cls: type[Record]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Each field's name and converter, worked out once per class."""
    known = _FIELDS.get(cls)
    if known is None:
        hints = typing.get_type_hints(cls)
        known = tuple((f.name, _converter(hints[f.name])) for f in fields(cls))  # type: ignore[arg-type]
        _FIELDS[cls] = known
    return known


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How a decoded value becomes the field's value: nested records are built, arrays become
    tuples, everything else is taken as it is."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):  # X | None
        inner = _converter(next(a for a in args if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if typing.get_origin(hint) is tuple:
        item = _converter(args[0])
        return lambda values: tuple(item(value) for value in values)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_data
    return lambda value: value


@dataclass(frozen=True, kw_only=True)
class Address(Record):
    """Where an order ships to."""

    country: str
    city: str | None = None
    postal_code: str | None = None
    line1: str | None = None


@dataclass(frozen=True, kw_only=True)
class OrderLine(Record):
    """One line of an order."""

    sku: str
    quantity: int
    unit_price: Decimal


# --- customers.checks.v1 ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CustomerChecked(Payload):
    """The customer of record of an order (the answer to CheckCustomer, and again after an
    email change)."""

    order_id: str
    customer_id: str
    registered: bool
    active: bool
    email: str | None = None
    email_as_of: int | None = None


# --- customers.commands.v1 ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChangeCustomerEmail(Payload):
    """Command from the API: make this the customer's email of record."""

    customer_id: str
    email: str


@dataclass(frozen=True, kw_only=True)
class CheckCustomer(Payload):
    """Command from the order saga: who is the customer of this order?"""

    customer_id: str
    order_id: str


@dataclass(frozen=True, kw_only=True)
class DeactivateCustomer(Payload):
    """Command from the API: the customer may no longer order."""

    customer_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReactivateCustomer(Payload):
    """Command from the API: a deactivated customer may order again."""

    customer_id: str


@dataclass(frozen=True, kw_only=True)
class RegisterCustomer(Payload):
    """Command from the API: register a customer under a new customer_id."""

    customer_id: str
    name: str
    email: str
    phone: str | None = None


# --- customers.events.v1 ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CustomerDeactivated(Payload):
    """The customer may no longer order."""

    customer_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerEmailChanged(Payload):
    """The customer's email of record changed."""

    customer_id: str
    old_email: str
    new_email: str


@dataclass(frozen=True, kw_only=True)
class CustomerReactivated(Payload):
    """The customer, deactivated before, may order again."""

    customer_id: str


@dataclass(frozen=True, kw_only=True)
class CustomerRegistered(Payload):
    """A customer was registered: their profile as of record."""

    customer_id: str
    name: str
    email: str
    phone: str | None = None


# --- fulfillment.commands.v1 --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AdvanceShipment(Payload):
    """The simulated carrier's clock: move a due shipment to its next step."""

    order_id: str


@dataclass(frozen=True, kw_only=True)
class CancelFulfillment(Payload):
    """Stop a scheduled shipment if it has not left yet."""

    order_id: str


@dataclass(frozen=True, kw_only=True)
class ScheduleFulfillment(Payload):
    """Ship a confirmed order."""

    order_id: str
    shipping_address: Address
    items: tuple[OrderLine, ...]


# --- fulfillment.events.v1 ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FulfillmentCancelled(Payload):
    """The shipment was stopped before it left."""

    order_id: str
    warehouse: str


@dataclass(frozen=True, kw_only=True)
class FulfillmentScheduled(Payload):
    """A warehouse will ship the order."""

    order_id: str
    warehouse: str


@dataclass(frozen=True, kw_only=True)
class OrderDelivered(Payload):
    """The carrier delivered the order."""

    order_id: str
    tracking_id: str


@dataclass(frozen=True, kw_only=True)
class OrderShipped(Payload):
    """The carrier picked the order up."""

    order_id: str
    warehouse: str
    tracking_id: str
    items: tuple[OrderLine, ...]


# --- inventory.commands.v1 ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AdjustStock(Payload):
    """Change a SKU's physical stock (set it, or add a delta) and/or its price of record."""

    sku: str
    set_on_hand: int | None = None
    delta: int | None = None
    unit_price: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseStock(Payload):
    """Give back units held for an order."""

    order_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ReserveStock(Payload):
    """Hold units of a SKU for an order, at the price the customer saw."""

    order_id: str
    sku: str
    quantity: int
    unit_price: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, kw_only=True)
class ShipStock(Payload):
    """Units held for an order left the warehouse: remove them from on_hand and reserved."""

    order_id: str
    sku: str
    quantity: int


# --- inventory.events.v1 ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StockRejected(Payload):
    """Units could not be reserved for an order."""

    order_id: str
    sku: str
    quantity: int
    reason: str
    available: int


@dataclass(frozen=True, kw_only=True)
class StockReleased(Payload):
    """Units held for an order were given back."""

    order_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class StockReserved(Payload):
    """Units were reserved for an order."""

    order_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class StockShipped(Payload):
    """Units held for an order were shipped."""

    order_id: str
    sku: str
    quantity: int


# --- inventory.levels.v1 ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StockLevelChanged(Payload):
    """A SKU's stock levels after a change."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    cause: str
    shipped: int = 0


# --- notifications.events.v1 --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NotificationSent(Payload):
    """The customer was told about a transition of their order."""

    order_id: str
    channel: str
    recipient: str
    template: str
    subject: str


# --- orders.commands.v1 -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CancelOrder(Payload):
    """Command from the API: the customer asks to cancel the order."""

    order_id: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(Payload):
    """Command from the API: place this order."""

    order_id: str
    customer_id: str
    customer_email: str
    currency: str
    items: tuple[OrderLine, ...]
    shipping_address: Address
    payment_method: str
    payment_scenario: str


# --- orders.events.v1 ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Payload):
    """The order ended cancelled."""

    order_id: str
    reason: str
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(Payload):
    """The order was delivered; its saga is over."""

    order_id: str


@dataclass(frozen=True, kw_only=True)
class OrderConfirmed(Payload):
    """Stock is reserved and payment authorized."""

    order_id: str
    total_amount: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Payload):
    """The order was accepted and its saga started."""

    order_id: str
    customer_id: str
    customer_email: str
    currency: str
    items: tuple[OrderLine, ...]
    shipping_address: Address
    payment_method: str
    payment_scenario: str
    total_amount: Decimal


# --- payments.commands.v1 -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AuthorizePayment(Payload):
    """Authorize the order's amount."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    method: str
    scenario: str


@dataclass(frozen=True, kw_only=True)
class RefundPayment(Payload):
    """Give back an authorized amount."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str


# --- payments.events.v1 -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PaymentAuthorized(Payload):
    """The gateway authorized the amount."""

    order_id: str
    amount: Decimal
    currency: str
    authorization_id: str
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class PaymentDeclined(Payload):
    """The gateway declined the payment."""

    order_id: str
    amount: Decimal
    currency: str
    reason: str
    code: str = "DECLINED"
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Payload):
    """The authorized amount was refunded."""

    order_id: str
    amount: Decimal
    currency: str
    authorization_id: str


BY_TYPE: dict[str, type[Payload]] = {cls.__name__: cls for cls in Payload.__subclasses__()}


def payload(msg: Message) -> Payload:
    """The message's payload as its typed value."""
    try:
        cls = BY_TYPE[msg.type]
    except KeyError:
        raise TypeError(f"no payload class for {msg.type!r}") from None
    return cls.from_data(msg.data)


def typed(msg: Message, cls: type[P]) -> P:
    """The message's payload as `cls`; a TypeError if the message is another type."""
    if msg.type != cls.__name__:
        raise TypeError(f"{msg.type} is not a {cls.__name__}")
    return cls.from_data(msg.data)
