"""The public topic map (DESIGN.md, Topology): names users watch, and what each is keyed by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    written_by: str

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


ORDERS_COMMANDS = TopicSpec("orders.commands.v1", "order_id", "api")
ORDERS_EVENTS = TopicSpec("orders.events.v1", "order_id", "order agent")
INVENTORY_COMMANDS = TopicSpec("inventory.commands.v1", "sku", "order agent, api")
INVENTORY_EVENTS = TopicSpec("inventory.events.v1", "order_id", "inventory agent")
INVENTORY_LEVELS = TopicSpec("inventory.levels.v1", "sku", "inventory agent")
PAYMENTS_COMMANDS = TopicSpec("payments.commands.v1", "order_id", "order agent")
PAYMENTS_EVENTS = TopicSpec("payments.events.v1", "order_id", "payment agent")
FULFILLMENT_COMMANDS = TopicSpec("fulfillment.commands.v1", "order_id", "order agent")
FULFILLMENT_EVENTS = TopicSpec("fulfillment.events.v1", "order_id", "fulfillment agent")
NOTIFICATIONS_EVENTS = TopicSpec("notifications.events.v1", "order_id", "notification agent")

ALL: tuple[TopicSpec, ...] = (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    INVENTORY_LEVELS,
    PAYMENTS_COMMANDS,
    PAYMENTS_EVENTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_EVENTS,
    NOTIFICATIONS_EVENTS,
)

BY_NAME = {spec.name: spec for spec in ALL}

# Every event about an order, from every event topic: what the indexer folds into timelines.
ORDER_EVENT_TOPICS: tuple[TopicSpec, ...] = (
    ORDERS_EVENTS,
    INVENTORY_EVENTS,
    PAYMENTS_EVENTS,
    FULFILLMENT_EVENTS,
    NOTIFICATIONS_EVENTS,
)
