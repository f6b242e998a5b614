"""The customers read model: a customer's own events (customers.events.v1) and what its
orders came to -> its document in `customers-v1` (behind the alias `customers`).

* the customer's events: a timeline in the order documents' entry shape (unique by event_id,
  in occurred order, so order and repetition do not matter, as for orders in
  indexer/projection.py), read front to back for the profile. The email of record is the
  last change's new address, else the registration's; the status the last
  (de|re)activation's.
* its figures (`Figures`): order_count (distinct orders, cancelled ones too), the lifetime
  value (total_cents of the COMPLETED orders) and last_order_at, from one aggregation over
  the orders index per write of customers (every ORDERFLOW_CUSTOMER_FIGURES_S, 2 s, live;
  every batch in a rebuild), for the customers touched since, once their order documents are
  written and searchable (`figures_query`, `figures_of`). They are
  computed from the order documents, never counted up, so an order read twice (a replay, a
  second writer) is never counted twice; and the document keeps no entry per order, so it is
  the same size after 5 orders or 5,000 (its orders are in the orders index:
  GET /customers/{id}/orders).

Money: `lifetime_value_cents` (and `lifetime_value`, the same as a decimal string) is the sum
of total_cents of the COMPLETED orders, across currencies: a customer who paid 10.00 EUR and
5.00 USD has 15.00 there, a figure that is only money when they use one currency (as all the
demo's orders do). `lifetime_value_by_currency` is the honest figure: one entry per
currency. Cancelled orders count as orders, not as value.

Size: the profile, the figures and the customer's own events (registration, email changes,
(de|re)activations): it grows with what the customer does to its profile, not with orders."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from indexer.projection import amount, in_occurred_order, timeline_entry
from schemas.events import Message
from schemas.statuses import ACTIVE, COMPLETED, INACTIVE

# A customer_id seen on orders and never registered (a guest checkout).
GUEST = "GUEST"
# Currencies one customer is expected to pay in, at most (the aggregation's bucket count).
MAX_CURRENCIES = 64


@dataclass(frozen=True)
class Figures:
    """What a customer's orders came to, as the orders index holds them."""

    order_count: int = 0
    completed_cents: Mapping[str, int] = field(default_factory=dict)  # currency -> cents
    last_order_at: str | None = None


@dataclass
class CustomerChange:
    """What one batch brings a customer: its own events, and its figures after the batch."""

    messages: list[Message] = field(default_factory=list)
    figures: Figures = field(default_factory=Figures)


def customer_changes(
    order_docs: Iterable[Mapping[str, Any]], events: Mapping[str, list[Message]]
) -> dict[str, CustomerChange]:
    """Per customer_id: the customer events of a batch, and a change (figures to ask for) for
    every customer an order document of the batch names (those without OrderPlaced yet do
    not)."""
    changes = {customer: CustomerChange(list(messages)) for customer, messages in events.items()}
    for doc in order_docs:
        if doc.get("customer_id"):
            changes.setdefault(doc["customer_id"], CustomerChange())
    return changes


def figures_query(customer_ids: Collection[str]) -> dict[str, Any]:
    """The search over the orders index whose aggregations `figures_of` reads: per customer,
    its orders, its latest order, and the cents of its completed orders per currency."""
    return {
        "size": 0,
        "query": {"terms": {"customer_id": sorted(customer_ids)}},
        "aggs": {
            "customers": {
                "terms": {
                    "field": "customer_id",
                    "size": max(1, len(customer_ids)),
                    # only the batch's customers match: no ordinals of every customer ever seen
                    "execution_hint": "map",
                },
                "aggs": {
                    "latest": {
                        "top_hits": {
                            "size": 1,
                            "sort": [{"created_at": "desc"}],
                            "_source": ["created_at"],
                        }
                    },
                    "completed": {
                        "filter": {"term": {"status": COMPLETED}},
                        "aggs": {
                            "currencies": {
                                "terms": {"field": "currency", "size": MAX_CURRENCIES},
                                "aggs": {"cents": {"sum": {"field": "total_cents"}}},
                            }
                        },
                    },
                },
            }
        },
    }


def figures_of(answer: Mapping[str, Any]) -> dict[str, Figures]:
    """Each customer's figures from the answer to `figures_query` (a customer without orders
    has no bucket: `Figures()`)."""
    figures: dict[str, Figures] = {}
    for bucket in answer["aggregations"]["customers"]["buckets"]:
        hits = bucket["latest"]["hits"]["hits"]
        figures[bucket["key"]] = Figures(
            order_count=bucket["doc_count"],
            completed_cents={
                by["key"]: round(by["cents"]["value"])
                for by in bucket["completed"]["currencies"]["buckets"]
            },
            last_order_at=hits[0]["_source"].get("created_at") if hits else None,
        )
    return figures


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
    figures: Figures | None = None,
) -> dict[str, Any]:
    """The customer's document after adding `new` customer events to what `current` already
    holds, with `figures` as its orders now come to (None: the figures `current` has)."""
    entries = {entry["event_id"]: entry for entry in (current or {}).get("timeline", [])}
    for message in new:
        entries.setdefault(message.envelope.event_id, timeline_entry(message))
    timeline = in_occurred_order(entries.values())
    if figures is None:
        figures = _figures_in(current)

    profile = _profile(timeline)
    if profile["status"] is None and figures.order_count:
        profile["status"] = GUEST
    last_order_at = figures.last_order_at
    moments = [m for m in (timeline[-1]["occurred_at"] if timeline else None, last_order_at) if m]
    total = sum(figures.completed_cents.values())
    return {
        "customer_id": customer_id,
        **profile,
        # its latest own event or order placed
        "updated_at": max(moments, default=None),
        "order_count": figures.order_count,
        "lifetime_value_cents": total,
        "lifetime_value": amount(total),
        "lifetime_value_by_currency": [
            {"currency": currency, "value_cents": value, "value": amount(value)}
            for currency, value in sorted(figures.completed_cents.items())
        ],
        "last_order_at": last_order_at,
        "timeline": timeline,
    }


def _figures_in(doc: Mapping[str, Any] | None) -> Figures:
    if not doc:
        return Figures()
    return Figures(
        order_count=doc.get("order_count", 0),
        completed_cents={
            entry["currency"]: entry["value_cents"]
            for entry in doc.get("lifetime_value_by_currency", [])
        },
        last_order_at=doc.get("last_order_at"),
    )
