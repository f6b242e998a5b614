"""The notification participant: one NotificationSent per customer-visible transition of an
order. The state is the recipient, stored once from OrderPlaced; the other transitions store
nothing (no table write, no changelog record): a transition read again after a restart gives
the same notification, under the same event id (derived from the transition's), which
consumers drop like any event read twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "recipient": self.recipient}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notified:
        return cls(data["order_id"], data.get("recipient"))  # (older values also had "sent")


def decide(state: Notified | None, msg: Message, now: int) -> tuple[Notified | None, list[Message]]:
    """(state to store, or None to store nothing; the notification)."""
    if msg.type not in SUBJECTS:
        return None, []
    order_id = msg.data["order_id"]
    stored = None
    if msg.type == "OrderPlaced":
        state = stored = Notified(order_id, msg.data["customer_email"])
    event = msg.caused(
        "NotificationSent",
        topics.NOTIFICATIONS_EVENTS.name,
        order_id,
        {
            "order_id": order_id,
            "channel": CHANNEL,
            "recipient": (state and state.recipient) or "unknown",
            "template": msg.type,
            "subject": SUBJECTS[msg.type],
        },
        PRODUCER,
        now,
    )
    return stored, [event]
