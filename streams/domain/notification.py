"""The notification participant: one NotificationSent per customer-visible transition of an
order, to the customer's email of record (a guest checkout: the address the order was placed
with).

Hosted by the order saga (streams/domain/order.py calls `notice`), not by an agent of
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


def notice(cause: Message, template: str, recipient: str, now: int) -> Message | None:
    """The NotificationSent for one customer-visible transition, `template` (an event type of
    SUBJECTS), caused by `cause`: a message about the order, keyed by order_id as every event
    about an order is (schemas/topics.py). None when `template` is not customer-visible. The
    cause is the transition's own event, or for OrderPlaced the answer that said who to write
    to (streams/domain/order.py)."""
    if template not in SUBJECTS:
        return None
    order_id = cause.key
    return cause.caused(
        "NotificationSent",
        topics.NOTIFICATIONS_EVENTS.name,
        order_id,
        {
            "order_id": order_id,
            "channel": CHANNEL,
            "recipient": recipient,
            "template": template,
            "subject": SUBJECTS[template],
        },
        PRODUCER,
        now,
    )
