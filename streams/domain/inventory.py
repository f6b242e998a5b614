"""Inventory per SKU: on_hand (physical units, reserved included), reserved (held for orders),
available = on_hand - reserved, shipped (units that left), and the price of record (unit_price
and currency, set by AdjustStock). A SKU without a price is not for sale (UNKNOWN_SKU, as one
never stocked); a line whose price or currency is not the SKU's is refused (PRICE_MISMATCH).
A reservation never drives available below zero; reserve, release and ship are idempotent
per (order_id, sku) because the stock item remembers each order's hold and what became of
it; an adjustment is applied once per event id.

This decider is the one judge of an adjustment (AdjustStock): one that would take on_hand
below zero, below what is reserved or past MAX_ON_HAND is refused, changes no stock, and the
item remembers why under the adjustment's event id, so whoever sent it can ask the worker
(GET /inventory/{sku}/?adjustment=<event_id>) instead of guessing from the figures. The API
need not check first: a check there races the reservations decided here anyway.

Each order's hold on a SKU is kept under a key of its own (`hold_key`: the SKU, then the
order id), in the SKU's own table partition, so a command reads and writes the SKU's summary
(on_hand, reserved, shipped, price, adjustments) and one hold, however many orders hold the
SKU: a flash sale's SKU costs per command what any SKU does. The shell writes the hold with
the summary, crash-safe (streams/runtime.py, side records): the decider is handed the hold
and returns it, like the state.

What became of a hold (RELEASED, SHIPPED) is remembered SETTLED_MEMORY_MS of event time
(occurred_at of the SKU's commands) after it was settled, then the worker's sweep retires it
(streams/retirement.py). A command comes again only when its own partition is read again
from the committed offset, seconds behind (event time does not move while a worker is down),
or as an outbox re-sent by a restarted saga, which precedes anything that saga sends later
for the order, its release included: far inside that memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from schemas import messages, topics
from schemas.events import Message
from schemas.statuses import (
    ADJUSTMENT_APPLIED,
    ADJUSTMENT_REFUSED,
    ADJUSTMENT_UNKNOWN,
    MAX_ON_HAND,
    OUT_OF_STOCK,
    PRICE_MISMATCH,
    UNKNOWN_SKU,
)
from streams.domain.money import money

PRODUCER = "inventory-agent"


@dataclass(frozen=True)
class StockItem:
    sku: str
    on_hand: int = 0
    reserved: int = 0  # units held for orders: the sum of the HELD holds
    shipped: int = 0
    recent_adjustments: tuple[str, ...] = ()  # event ids, to apply a redelivered one once
    # event id -> why it was refused, the last ADJUSTMENT_MEMORY of them: a redelivered one
    # stays refused, and the sender can read the reason (adjustment_outcome)
    refused_adjustments: Mapping[str, str] = field(default_factory=dict)
    # False only for an item that exists to remember adjustments refused while the SKU was
    # never stocked (on_hand 0, nothing else): it is still unknown to readers and orders
    stocked: bool = True
    # The price of record: a decimal string with two places ("19.99") and its ISO 4217 code,
    # both None until an adjustment sets them (until then the SKU is not for sale)
    unit_price: str | None = None
    currency: str | None = None
    # Holds stored inside the item before holds had keys of their own (order id -> hold): read
    # until each is settled and written under its key, settled ones until their memory ends
    legacy_holds: Mapping[str, Hold] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def view(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
            "unit_price": self.unit_price,
            "currency": self.currency,
        }

    def to_json(self) -> dict[str, Any]:
        legacy = {"legacy_holds": {o: h.to_json() for o, h in self.legacy_holds.items()}}
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            **(legacy if self.legacy_holds else {}),
            "shipped": self.shipped,
            "recent_adjustments": list(self.recent_adjustments),
            "refused_adjustments": dict(self.refused_adjustments),
            "stocked": self.stocked,
            "unit_price": self.unit_price,
            "currency": self.currency,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StockItem:
        legacy = {o: Hold.from_json(h) for o, h in data.get("legacy_holds", {}).items()}
        if "holds" in data:  # stored before holds had keys of their own
            legacy = _inside(data)
        reserved = data.get("reserved")
        return cls(
            sku=data["sku"],
            on_hand=int(data["on_hand"]),
            reserved=int(reserved) if reserved is not None else sum(data["holds"].values()),
            legacy_holds=legacy,
            shipped=int(data.get("shipped", 0)),
            recent_adjustments=tuple(data.get("recent_adjustments", ())),
            refused_adjustments=dict(data.get("refused_adjustments", {})),
            stocked=bool(data.get("stocked", True)),
            unit_price=data.get("unit_price"),
            currency=data.get("currency"),
        )


SETTLED_MEMORY_MS = 10 * 60 * 1000
HELD, RELEASED, SHIPPED = "HELD", "RELEASED", "SHIPPED"


@dataclass(frozen=True)
class Hold:
    """What one order holds of one SKU: `units` HELD, then RELEASED (given back) or SHIPPED
    (left the warehouse) at `ended_at` (occurred_at of the command, ms)."""

    units: int
    status: str = HELD
    ended_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"units": self.units, "status": self.status, "ended_at": self.ended_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hold:
        ended_at = data.get("ended_at")
        return cls(int(data["units"]), data["status"], None if ended_at is None else int(ended_at))


# (the item, the order's hold, what to send)
Decision = tuple[StockItem | None, Hold | None, list[Message]]


def hold_key(sku: str, order_id: str) -> str:
    """The key of an order's hold on a SKU, beside the SKU's own key in the stock table ('/'
    is in no SKU: api/models.py, KEY)."""
    return f"{sku}/{order_id}"


def hold_of(msg: Message) -> str | None:
    """The hold a command reads and writes: an order line's; an adjustment has none."""
    order_id = msg.data.get("order_id") if msg.type in LINE_COMMANDS else None
    return hold_key(msg.key, order_id) if order_id else None


def hold_ended(value: Mapping[str, Any]) -> bool:
    """For the sweep (streams/retirement.py): a hold settled, its `ended_at` the start of its
    memory. A SKU's own item never ends."""
    return value.get("status") in (RELEASED, SHIPPED) and "units" in value


def _inside(data: Mapping[str, Any]) -> dict[str, Hold]:
    """The holds an item stored before holds had keys of their own: open ones, and settled
    ones dated when settled (a list, the form before they were dated, dates them 0)."""
    holds = {order_id: Hold(int(units)) for order_id, units in data["holds"].items()}
    for field_name, status in (("released", RELEASED), ("shipped_orders", SHIPPED)):
        settled = data.get(field_name, {})
        dated = dict.fromkeys(settled, 0) if isinstance(settled, list) else settled
        holds.update({o: Hold(0, status, int(at)) for o, at in dated.items()})
    return holds


def _forget_legacy(item: StockItem, order_id: str, at: int) -> StockItem:
    """The item without `order_id`'s legacy hold (it is stored under its key from now on) and
    without legacy settled holds past their memory at event time `at`."""
    if not item.legacy_holds:
        return item
    horizon = at - SETTLED_MEMORY_MS
    kept = {
        o: h
        for o, h in item.legacy_holds.items()
        if o != order_id and (h.status == HELD or (h.ended_at or 0) >= horizon)
    }
    return replace(item, legacy_holds=kept)


def _level(item: StockItem, cause: Message, now: int) -> Message:
    levels = {
        "sku": item.sku,
        "on_hand": item.on_hand,
        "reserved": item.reserved,
        "available": item.available,
        "shipped": item.shipped,
        "cause": cause.type,
    }
    return cause.caused(
        "StockLevelChanged", topics.INVENTORY_LEVELS.name, item.sku, levels, PRODUCER, now
    )


# What the order saga asks of a SKU for one order line.
Line = messages.ReserveStock | messages.ReleaseStock | messages.ShipStock
LINE_COMMANDS = ("ReserveStock", "ReleaseStock", "ShipStock")


def _answer(event_type: str, cause: Message, line: Line, now: int, **extra: Any) -> Message:
    data = {"order_id": line.order_id, "sku": line.sku, "quantity": line.quantity, **extra}
    return cause.caused(
        event_type, topics.INVENTORY_EVENTS.name, line.order_id, data, PRODUCER, now
    )


# A redelivery comes within one commit interval, and the sender asks about its adjustment
# right after sending it: a short memory of ids suffices for both.
ADJUSTMENT_MEMORY = 64


def _last(decided: Mapping[str, str], n: int) -> dict[str, str]:
    """The last `n` entries, in the order they were added."""
    return dict(list(decided.items())[-n:])


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _stock_refusal(item: StockItem, on_hand: int) -> str | None:
    """Why on_hand cannot become `on_hand` (a sentence naming the figures), or None."""
    if on_hand < item.reserved and item.reserved > 0:
        return f"on_hand would be {on_hand}, below the {_units(item.reserved)} reserved"
    if on_hand < 0:
        return f"on_hand would be {on_hand}, below zero"
    if on_hand > MAX_ON_HAND:
        return f"on_hand would be {on_hand}, above the limit of {MAX_ON_HAND}"
    return None


def _price_refusal(adjust: messages.AdjustStock) -> str | None:
    """Why the adjustment's price cannot be the SKU's price of record, or None."""
    if (adjust.unit_price is None) != (adjust.currency is None):
        given, missing = (
            ("unit_price", "currency") if adjust.currency is None else ("currency", "unit_price")
        )
        return f"{given} given without {missing}: a price of record needs both"
    if adjust.unit_price is not None and adjust.unit_price < 0:
        return f"unit_price would be {money(adjust.unit_price)}, below zero"
    return None


def adjust_stock(
    item: StockItem | None, msg: Message, now: int
) -> tuple[StockItem | None, list[Message]]:
    adjust = messages.typed(msg, messages.AdjustStock)
    event_id = msg.envelope.event_id
    # A SKU never stocked gets an item even when its first adjustment is refused: the
    # refusal has to be remembered somewhere; `stocked` keeps the SKU unknown meanwhile.
    current = item or StockItem(sku=msg.key, stocked=False)
    if event_id in current.recent_adjustments or event_id in current.refused_adjustments:
        return item, []  # decided already: a redelivery
    if adjust.set_on_hand is not None:
        on_hand = adjust.set_on_hand
    else:
        on_hand = current.on_hand + (adjust.delta or 0)
    refusal = _stock_refusal(current, on_hand) or _price_refusal(adjust)
    if refusal is not None:
        refused = _last({**current.refused_adjustments, event_id: refusal}, ADJUSTMENT_MEMORY)
        return replace(current, refused_adjustments=refused), []
    remembered = (*current.recent_adjustments, event_id)[-ADJUSTMENT_MEMORY:]
    updated = replace(current, on_hand=on_hand, recent_adjustments=remembered, stocked=True)
    if adjust.unit_price is not None and adjust.currency is not None:
        updated = replace(
            updated, unit_price=str(money(adjust.unit_price)), currency=adjust.currency.upper()
        )
    return updated, [_level(updated, msg, now)]


def adjustment_outcome(item: StockItem | None, event_id: str) -> dict[str, Any]:
    """What became of the adjustment `event_id`: applied, refused (and why), or unknown (not
    decided yet, or forgotten ADJUSTMENT_MEMORY adjustments later)."""
    outcome, reason = ADJUSTMENT_UNKNOWN, None
    if item is not None and event_id in item.recent_adjustments:
        outcome = ADJUSTMENT_APPLIED
    elif item is not None and event_id in item.refused_adjustments:
        outcome, reason = ADJUSTMENT_REFUSED, item.refused_adjustments[event_id]
    return {"event_id": event_id, "outcome": outcome, "reason": reason}


def stock_page(
    item: StockItem | None, sku: str, adjustment: str | None = None
) -> tuple[int, dict[str, Any]]:
    """GET /inventory/{sku}/ on the inventory worker: the status and JSON body. 200 with the
    SKU's view; 404 for a SKU never stocked. Asked about an adjustment (its event id), either
    answer also says what became of it."""
    if item is not None and item.stocked:
        status, body = 200, item.view()
    else:
        status, body = 404, {"detail": f"unknown sku {sku!r}"}
    if adjustment is not None:
        body["adjustment"] = adjustment_outcome(item, adjustment)
    return status, body


def _price_mismatch(item: StockItem, line: messages.ReserveStock) -> bool:
    """Whether the line's price or currency differs from the SKU's price of record. A
    ReserveStock from before prices of record carries neither: nothing to compare."""
    if line.unit_price is not None and money(line.unit_price) != money(item.unit_price):
        return True
    return line.currency is not None and line.currency.upper() != item.currency


def reserve_stock(item: StockItem | None, hold: Hold | None, msg: Message, now: int) -> Decision:
    line = messages.typed(msg, messages.ReserveStock)
    if item is None or not item.stocked:
        rejected = _answer("StockRejected", msg, line, now, reason=UNKNOWN_SKU, available=0)
        return item, hold, [rejected]
    if hold is not None:
        # Already decided for this order: answer the same way again.
        if hold.status == HELD:
            return item, hold, [_answer("StockReserved", msg, line, now)]
        return item, hold, []
    refusal = None
    if item.unit_price is None:
        refusal = UNKNOWN_SKU  # stocked but never priced: not for sale
    elif _price_mismatch(item, line):
        refusal = PRICE_MISMATCH
    elif line.quantity > item.available:
        refusal = OUT_OF_STOCK
    if refusal is not None:
        rejected = _answer(
            "StockRejected", msg, line, now, reason=refusal, available=item.available
        )
        return item, None, [rejected]
    updated = replace(item, reserved=item.reserved + line.quantity)
    reserved = [_answer("StockReserved", msg, line, now), _level(updated, msg, now)]
    return updated, Hold(line.quantity), reserved


def release_stock(item: StockItem | None, hold: Hold | None, msg: Message, now: int) -> Decision:
    line = messages.typed(msg, messages.ReleaseStock)
    if item is None or hold is None or hold.status != HELD:
        return item, hold, []
    updated = replace(item, reserved=item.reserved - hold.units)
    released = Hold(hold.units, RELEASED, msg.envelope.occurred_at)
    return updated, released, [_answer("StockReleased", msg, line, now), _level(updated, msg, now)]


def ship_stock(item: StockItem | None, hold: Hold | None, msg: Message, now: int) -> Decision:
    line = messages.typed(msg, messages.ShipStock)
    if item is None or hold is None or hold.status != HELD:
        return item, hold, []  # never held, released, or shipped already
    updated = replace(
        item,
        reserved=item.reserved - hold.units,
        on_hand=item.on_hand - hold.units,
        shipped=item.shipped + hold.units,
    )
    shipped = Hold(hold.units, SHIPPED, msg.envelope.occurred_at)
    return updated, shipped, [_answer("StockShipped", msg, line, now), _level(updated, msg, now)]


LINES: dict[str, Callable[[StockItem | None, Hold | None, Message, int], Decision]] = {
    "ReserveStock": reserve_stock,
    "ReleaseStock": release_stock,
    "ShipStock": ship_stock,
}


def decide(item: StockItem | None, hold: Hold | None, msg: Message, now: int) -> Decision:
    """A command on a SKU: its item, and the hold of the order the command is about (`hold_of`;
    None for an adjustment, or an order that holds nothing yet) -> the item, that hold, and
    what to send. An item stored before holds had keys may still hold the order's hold."""
    if msg.type == "AdjustStock":
        updated, out = adjust_stock(item, msg, now)
        return updated, None, out
    handler = LINES.get(msg.type)
    if handler is None:
        return item, hold, []
    order_id = msg.data.get("order_id", "")
    if hold is None and item is not None and order_id in item.legacy_holds:
        hold = item.legacy_holds[order_id]
        item = _forget_legacy(item, order_id, msg.envelope.occurred_at)
    elif item is not None:
        item = _forget_legacy(item, "", msg.envelope.occurred_at)
    return handler(item, hold, msg, now)
