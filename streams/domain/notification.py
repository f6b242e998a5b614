"""The notification participant: one NotificationSent per customer-visible transition of an
order, to the address the order was placed with.

Hosted by the order saga (streams/domain/order.py calls `notifications`), not by an agent of
its own: every customer-visible transition is either an event the saga emits (OrderPlaced,
OrderConfirmed, OrderCompleted, OrderCancelled) or one it accepts (FulfillmentScheduled,
OrderShipped, OrderDelivered), under the same key, and the saga's state already says which
transitions happened and to whom to write. A separate agent re-read all of those records and
kept a second table of what it had sent: six records handled and six table writes per order
for a decision that crosses no ownership boundary (docs/architecture.md, "Hops per order").

A notification is stored in the saga's outbox with the transition that caused it, so it is
sent once per transition, and re-sent byte for byte (same event id, same occurred_at) only
when the whole outbox is, which consumers recognise by its event id."""

from __future__ import annotations

from collections.abc import Iterable

from schemas import topics
from schemas.events import Message

PRODUCER = "notification-agent"
CHANNEL = "email"

SUBJECTS = {
    "OrderPlaced": "We received your order",
    "OrderConfirmed": "Your order is confirmed",
    "FulfillmentScheduled": "Your order is being prepared",
    "OrderShipped": "Your order is on its way",
    "OrderDelivered": "Your order was delivered",
    "OrderCompleted": "Thank you for your order",
    "OrderCancelled": "Your order was cancelled",
}


def notice(transition: Message, recipient: str, now: int) -> Message:
    """The NotificationSent for one customer-visible transition (an event about the order)."""
    order_id = transition.key  # every event about an order is keyed by it (schemas/topics.py)
    return transition.caused(
        "NotificationSent",
        topics.NOTIFICATIONS_EVENTS.name,
        order_id,
        {
            "order_id": order_id,
            "channel": CHANNEL,
            "recipient": recipient,
            "template": transition.type,
            "subject": SUBJECTS[transition.type],
        },
        PRODUCER,
        now,
    )


def notices(transitions: Iterable[Message], recipient: str, now: int) -> list[Message]:
    """One notice per customer-visible transition among `transitions`."""
    return [notice(t, recipient, now) for t in transitions if t.type in SUBJECTS]
