"""The customers read model, as a pure fold: a customer's own events (customers.events.v1)
and what its orders came to -> its document in `customers-v1` (behind the alias `customers`).

Two inputs, each folded so that order and repetition do not matter (as for orders,
indexer/projection.py):

* the customer's events: a timeline in the order documents' entry shape (unique by event_id,
  in occurred order), read front to back for the profile. The email of record is the last
  change's new address, else the registration's; the status the last (de|re)activation's.
* its orders: a compact map `orders: {order_id: {created_at, total_cents, currency, status}}`,
  taken from the order documents the indexer has just projected (an order document knows its
  customer once OrderPlaced was seen; created_at, total and currency never change after).
  Two entries for one order merge to the one whose status is furthest (projection.RANK, with
  CANCELLED above all, as it overrides in the order document): an order only moves forward,
  so whichever of two writes lands last, the map converges to the same entries.

order_count, the lifetime value and last_order_at are computed from the whole map each time,
never counted up: counting up would count an order read twice (a replay) twice.

Money: `lifetime_value_cents` (and `lifetime_value`, the same as a decimal string) is the sum
of total_cents of the COMPLETED orders, across currencies: a customer who paid 10.00 EUR and
5.00 USD has 15.00 there, a figure that is only money when they use one currency (as all the
demo's orders do). `lifetime_value_by_currency` is the honest figure: one entry per
currency. Cancelled orders count as orders, not as value.

Size: a customer document grows by one small entry (about 100 bytes) per order, and is
rewritten whole when one of its orders moves on. Fine for people; a customer_id that places
hundreds of thousands of orders (a marketplace's house account) would want its orders kept
in an index of their own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from indexer.projection import RANK, amount, in_occurred_order, timeline_entry
from schemas.events import Message
from schemas.statuses import ACTIVE, CANCELLED, COMPLETED, INACTIVE

# A customer_id seen on orders and never registered (a guest checkout).
GUEST = "GUEST"
OrderEntry = dict[str, Any]  # {created_at, total_cents, currency, status}


@dataclass
class CustomerChange:
    """What one batch brings a customer: its own events, and entries of its orders."""

    messages: list[Message] = field(default_factory=list)
    orders: dict[str, OrderEntry] = field(default_factory=dict)


def order_entry(order_doc: Mapping[str, Any]) -> OrderEntry:
    """The customer's entry for this order document (one with OrderPlaced seen)."""
    return {
        "created_at": order_doc["created_at"],
        "total_cents": order_doc["total_cents"],
        "currency": order_doc["currency"],
        "status": order_doc["status"],
    }


def customer_changes(
    order_docs: Iterable[Mapping[str, Any]], events: Mapping[str, list[Message]]
) -> dict[str, CustomerChange]:
    """Per customer_id: the customer events of a batch and the entries of the batch's order
    documents that name a customer (those without OrderPlaced yet do not)."""
    changes: dict[str, CustomerChange] = defaultdict(CustomerChange)
    for customer_id, messages in events.items():
        changes[customer_id].messages.extend(messages)
    for doc in order_docs:
        if doc.get("customer_id"):
            changes[doc["customer_id"]].orders[doc["order_id"]] = order_entry(doc)
    return dict(changes)


def _progress(entry: OrderEntry) -> tuple[int, str, int, str]:
    """How far the order had come: its status's rank, CANCELLED last. The other fields never
    change for one order; they only make this a total order, so merging is deterministic."""
    status = entry["status"]
    rank = len(RANK) if status == CANCELLED else RANK.get(status, -1)
    return rank, entry["created_at"] or "", entry["total_cents"] or 0, entry["currency"] or ""


def merge_order_entry(known: OrderEntry | None, seen: OrderEntry) -> OrderEntry:
    """The entry furthest on (commutative, associative, idempotent: any order of writes and
    any repetition give the same entry)."""
    return seen if known is None else max(known, seen, key=_progress)


def _lifetime_values(orders: Mapping[str, OrderEntry]) -> dict[str, int]:
    """Cents of COMPLETED orders, per currency."""
    by_currency: dict[str, int] = defaultdict(int)
    for entry in orders.values():
        if entry["status"] == COMPLETED:
            by_currency[entry["currency"]] += entry["total_cents"]
    return dict(by_currency)


def _profile(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """Name, email, phone, status and registered_at from the customer's events."""
    profile: dict[str, Any] = {
        "name": None,
        "email": None,
        "phone": None,
        "status": None,
        "registered_at": None,
    }
    registered_email = changed_email = None
    active = True
    for entry in timeline:
        event_type, details = entry["event_type"], entry["details"]
        if event_type == "CustomerRegistered":
            registered_email = details["email"]
            profile.update(
                name=details["name"],
                phone=details.get("phone"),
                registered_at=entry["occurred_at"],
            )
        elif event_type == "CustomerEmailChanged":
            changed_email = details["new_email"]
        elif event_type == "CustomerDeactivated":
            active = False
        elif event_type == "CustomerReactivated":
            active = True
    if timeline:  # any event of its own: the customer is registered
        profile["email"] = changed_email or registered_email
        profile["status"] = ACTIVE if active else INACTIVE
    return profile


def project_customer(
    customer_id: str,
    current: Mapping[str, Any] | None,
    new: Iterable[Message] = (),
    orders: Mapping[str, OrderEntry] | None = None,
) -> dict[str, Any]:
    """The customer's document after adding `new` customer events and `orders` entries to
    what `current` already holds."""
    entries = {entry["event_id"]: entry for entry in (current or {}).get("timeline", [])}
    for message in new:
        entries.setdefault(message.envelope.event_id, timeline_entry(message))
    timeline = in_occurred_order(entries.values())
    known: dict[str, OrderEntry] = dict((current or {}).get("orders", {}))
    for order_id, entry in (orders or {}).items():
        known[order_id] = merge_order_entry(known.get(order_id), entry)

    profile = _profile(timeline)
    if profile["status"] is None and known:
        profile["status"] = GUEST
    values = _lifetime_values(known)
    last_order_at = max((e["created_at"] for e in known.values()), default=None)
    moments = [m for m in (timeline[-1]["occurred_at"] if timeline else None, last_order_at) if m]
    total = sum(values.values())
    return {
        "customer_id": customer_id,
        **profile,
        # its latest own event or order placed
        "updated_at": max(moments, default=None),
        "order_count": len(known),
        "lifetime_value_cents": total,
        "lifetime_value": amount(total),
        "lifetime_value_by_currency": [
            {"currency": currency, "value_cents": value, "value": amount(value)}
            for currency, value in sorted(values.items())
        ],
        "last_order_at": last_order_at,
        "orders": dict(sorted(known.items())),
        "timeline": timeline,
    }
