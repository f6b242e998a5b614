"""Inventory per SKU: on_hand (physical units, reserved included), reserved (held for orders),
available = on_hand - reserved. A reservation never drives available below zero; reserve and
release are idempotent per (order_id, sku) because the stock item remembers its holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orderflow import topics
from schemas.events import Message

PRODUCER = "inventory-agent"
OUT_OF_STOCK = "OUT_OF_STOCK"
UNKNOWN_SKU = "UNKNOWN_SKU"


@dataclass(frozen=True)
class StockItem:
    sku: str
    on_hand: int = 0
    holds: Mapping[str, int] = field(default_factory=dict)  # order_id -> units reserved
    released: tuple[str, ...] = ()  # order ids whose hold was given back

    @property
    def reserved(self) -> int:
        return sum(self.holds.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def view(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "holds": dict(self.holds),
            "released": list(self.released),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StockItem:
        return cls(
            sku=data["sku"],
            on_hand=int(data["on_hand"]),
            holds=dict(data.get("holds", {})),
            released=tuple(data.get("released", ())),
        )


Decision = tuple[StockItem | None, list[Message]]


def _level(item: StockItem, cause: Message, now: int) -> Message:
    return cause.caused(
        "StockLevelChanged",
        topics.INVENTORY_LEVELS.name,
        item.sku,
        {**item.view(), "cause": cause.type},
        PRODUCER,
        now,
    )


def _answer(event_type: str, cause: Message, now: int, **extra: Any) -> Message:
    data = {
        "order_id": cause.data["order_id"],
        "sku": cause.data["sku"],
        "quantity": int(cause.data["quantity"]),
        **extra,
    }
    return cause.caused(
        event_type, topics.INVENTORY_EVENTS.name, data["order_id"], data, PRODUCER, now
    )


def adjust_stock(item: StockItem | None, msg: Message, now: int) -> Decision:
    current = item or StockItem(sku=msg.key)
    if msg.data.get("set_on_hand") is not None:
        on_hand = int(msg.data["set_on_hand"])
    else:
        on_hand = current.on_hand + int(msg.data.get("delta") or 0)
    if on_hand < current.reserved or on_hand < 0:
        # Refused: physical stock cannot go below what is held for orders. The API checks
        # this first; here it guards against a race with reservations.
        return item, []
    updated = replace(current, on_hand=on_hand)
    return updated, [_level(updated, msg, now)]


def reserve_stock(item: StockItem | None, msg: Message, now: int) -> Decision:
    order_id, quantity = msg.data["order_id"], int(msg.data["quantity"])
    if item is None:
        return item, [_answer("StockRejected", msg, now, reason=UNKNOWN_SKU, available=0)]
    if order_id in item.holds or order_id in item.released:
        # Already decided for this order: answer the same way again.
        if order_id in item.holds:
            return item, [_answer("StockReserved", msg, now)]
        return item, []
    if quantity > item.available:
        return item, [
            _answer("StockRejected", msg, now, reason=OUT_OF_STOCK, available=item.available)
        ]
    updated = replace(item, holds={**item.holds, order_id: quantity})
    return updated, [_answer("StockReserved", msg, now), _level(updated, msg, now)]


def release_stock(item: StockItem | None, msg: Message, now: int) -> Decision:
    order_id = msg.data["order_id"]
    if item is None or order_id not in item.holds:
        return item, []
    holds = {oid: units for oid, units in item.holds.items() if oid != order_id}
    updated = replace(item, holds=holds, released=(*item.released, order_id))
    return updated, [_answer("StockReleased", msg, now), _level(updated, msg, now)]


HANDLERS: dict[str, Callable[[StockItem | None, Message, int], Decision]] = {
    "AdjustStock": adjust_stock,
    "ReserveStock": reserve_stock,
    "ReleaseStock": release_stock,
}


def decide(item: StockItem | None, msg: Message, now: int) -> Decision:
    handler = HANDLERS.get(msg.type)
    return handler(item, msg, now) if handler else (item, [])
