"""What each order event adds to the live per-minute figures (orders, revenue, cancellations)."""

from __future__ import annotations

from decimal import Decimal

from schemas.events import Message
from streams.domain.money import money

METRICS = ("orders", "revenue", "cancellations")


def contributions(msg: Message) -> dict[str, Decimal]:
    if msg.type == "OrderPlaced":
        return {"orders": Decimal(1)}
    if msg.type == "OrderConfirmed":
        return {"revenue": money(msg.data["total_amount"])}
    if msg.type == "OrderCancelled":
        return {"cancellations": Decimal(1)}
    return {}
