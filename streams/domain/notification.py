"""The notification participant: one NotificationSent per customer-visible transition of an
order, never two for the same transition (the state remembers what was sent). Re-deriving it
instead would give the same event id but a new occurred_at: two versions of one event, and a
read model that depends on which it saw (the read-model replay test caught exactly that when
the state was reduced to the recipient)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from orderflow import topics
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


@dataclass(frozen=True)
class Notified:
    order_id: str
    recipient: str | None = None
    sent: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notified:
        return cls(**{**data, "sent": tuple(data.get("sent", ()))})


def decide(state: Notified | None, msg: Message, now: int) -> tuple[Notified | None, list[Message]]:
    if msg.type not in SUBJECTS:
        return state, []
    order_id = msg.data["order_id"]
    state = state or Notified(order_id)
    if msg.type == "OrderPlaced":
        state = replace(state, recipient=msg.data["customer_email"])
    if msg.type in state.sent:
        return state, []
    state = replace(state, sent=(*state.sent, msg.type))
    event = msg.caused(
        "NotificationSent",
        topics.NOTIFICATIONS_EVENTS.name,
        order_id,
        {
            "order_id": order_id,
            "channel": CHANNEL,
            "recipient": state.recipient or "unknown",
            "template": msg.type,
            "subject": SUBJECTS[msg.type],
        },
        PRODUCER,
        now,
    )
    return state, [event]
