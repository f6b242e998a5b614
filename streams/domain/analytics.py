"""What each order event adds to the live per-minute figures (orders, revenue, cancellations),
applied exactly once per record.

The analytics agent keeps one figure set per (source partition, minute): a Faust windowed
table keyed by the partition of orders.events.v1, tumbling by minute. Each figure set also
holds the offset of the last record it counted, so the record and its effect are one table
value: a record processed again after a crash (offset not above the stored one) counts for
nothing. Records of a partition reach the agent in offset order, and a repeated record falls
in the same minute as the first time (the minute comes from the record's own timestamp)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from schemas import messages
from schemas.events import Message
from streams.domain.money import money

METRICS = ("orders", "revenue", "cancellations")
# the event types that add to a figure; the agent does not decode the others
COUNTED = frozenset({"OrderPlaced", "OrderConfirmed", "OrderCancelled"})
NOTHING_YET = -1


def contributions(msg: Message) -> dict[str, Decimal]:
    if msg.type == "OrderPlaced":
        return {"orders": Decimal(1)}
    if msg.type == "OrderConfirmed":
        return {"revenue": money(messages.typed(msg, messages.OrderConfirmed).total_amount)}
    if msg.type == "OrderCancelled":
        return {"cancellations": Decimal(1)}
    return {}


def count(figures: Mapping[str, Any] | None, offset: int, msg: Message) -> dict[str, Any] | None:
    """The figure set after the record at `offset`, or None when the record changes nothing
    (it contributes nothing, or it was counted before)."""
    added = contributions(msg)
    current = dict(figures or {})
    if not added or offset <= int(current.get("offset", NOTHING_YET)):
        return None
    for metric, amount in added.items():
        current[metric] = str(Decimal(current.get(metric, "0")) + amount)
    current["offset"] = offset
    return current


def total(figure_sets: Iterable[Mapping[str, Any] | None]) -> dict[str, str]:
    """One minute's figures: the sum over the partitions' figure sets."""
    sums = dict.fromkeys(METRICS, Decimal(0))
    for figures in figure_sets:
        for metric in METRICS:
            sums[metric] += Decimal((figures or {}).get(metric, "0"))
    return {metric: str(value) for metric, value in sums.items()}
