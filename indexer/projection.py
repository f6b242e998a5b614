"""The read model, as a pure fold: events about an order -> its document.

Insensitive to order and repetition: timeline entries are unique by event_id and sorted by
occurred_at (causes first within a millisecond); the status is derived from the whole
lifecycle, never from whichever event came last. Replaying a topic or seeing topics
interleaved differently gives the same document."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.codec import to_json_value
from schemas.events import Message
from schemas.statuses import CANCELLED, STATUS_BY_EVENT

# the furthest step reached is the status (CANCELLED overrides all)
RANK = {status: rank for rank, status in enumerate(STATUS_BY_EVENT.values())}
_ENVELOPE_FIELDS = ("event_id", "event_type", "occurred_at", "correlation_id", "causation_id")


def iso_millis(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def timeline_entry(message: Message) -> dict[str, Any]:
    envelope = message.envelope
    return {
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "occurred_at": iso_millis(envelope.occurred_at),
        "topic": message.topic,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "producer": envelope.producer,
        "details": to_json_value(dict(message.data)),
    }


def cents(amount: str) -> int:
    """An exact decimal amount ("24.68") as integer cents (2468)."""
    return int(Decimal(amount).scaleb(2).to_integral_exact())


def amount(in_cents: int) -> str:
    """Integer cents (2468) as the exact decimal amount with two places ("24.68")."""
    return f"{Decimal(in_cents).scaleb(-2):.2f}"


def event_document(message: Message) -> dict[str, Any]:
    """The event's document in order-events-v1 (its id is the event_id): the timeline entry,
    its order_id (None for a customer's own events) and, when the event names one, its
    customer_id (customer events, OrderPlaced)."""
    doc = {**timeline_entry(message), "order_id": order_id_of(message)}
    customer_id = customer_id_of(message)
    if customer_id is not None:
        doc["customer_id"] = customer_id
    return doc


def order_id_of(message: Message) -> str | None:
    order_id = message.data.get("order_id")
    return str(order_id) if order_id else None


def customer_id_of(message: Message) -> str | None:
    customer_id = message.data.get("customer_id")
    return str(customer_id) if customer_id else None


def in_occurred_order(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline entries by occurred_at; within one millisecond an event comes after the one
    that caused it (the saga decides a transition and its notification together, with one
    clock reading), and otherwise by event_id. Depends only on the set of entries."""
    ordered = sorted(entries, key=lambda e: (e["occurred_at"], e["event_id"]))
    timeline: list[dict[str, Any]] = []
    for _, same_moment in itertools.groupby(ordered, key=lambda e: e["occurred_at"]):
        pending = list(same_moment)
        while pending:
            ids = {e["event_id"] for e in pending}
            first = next((e for e in pending if e["causation_id"] not in ids), pending[0])
            timeline.append(first)
            pending.remove(first)
    return timeline


def project(order_id: str, current: Mapping[str, Any] | None, new: Iterable[Message]) -> dict:
    """The order's document after adding `new` events to what `current` already holds."""
    entries = {entry["event_id"]: entry for entry in (current or {}).get("timeline", [])}
    for message in new:
        entries.setdefault(message.envelope.event_id, timeline_entry(message))
    timeline = in_occurred_order(entries.values())
    doc: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": None,
        "customer_email": None,
        "status": None,
        "cancel_reason": None,
        "currency": None,
        "total_amount": None,
        "total_cents": None,
        "items": [],
        "shipping_address": None,
        "created_at": None,
        "updated_at": timeline[-1]["occurred_at"] if timeline else None,
        "timeline": timeline,
    }
    furthest = -1
    for entry in timeline:
        event_type, details = entry["event_type"], entry["details"]
        if event_type == "OrderPlaced":
            doc.update(
                customer_id=details["customer_id"],
                customer_email=details["customer_email"],
                currency=details["currency"],
                total_amount=details["total_amount"],
                total_cents=cents(details["total_amount"]),
                items=details["items"],
                shipping_address=details["shipping_address"],
                created_at=entry["occurred_at"],
            )
        elif event_type == "OrderCancelled":
            doc["cancel_reason"] = details["reason"]
        status = STATUS_BY_EVENT.get(event_type)
        if status is not None:
            furthest = max(furthest, RANK[status])
    if doc["cancel_reason"] is not None:
        doc["status"] = CANCELLED
    elif furthest >= 0:
        doc["status"] = list(RANK)[furthest]
    return doc
